//! The type-level check behind `read_tool_takes_write_access`: a read route hands its
//! handler a grant without a capability, never a `WriteAccess`, whatever the macro let
//! through, and a route built by hand is no different.

use secure_tool::authz::{Mode, public};
use secure_tool::capability::WriteAccess;
use secure_tool::context::Grant;
use secure_tool::route::{ArgumentsType, ErrorType, NoArguments, OutputType};
use secure_tool::route::{SecureRoute, ToolSpec, ToolTypes};
use secure_tool::ToolError;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

struct Server;

async fn write_anyway(
    _: &Server,
    _: NoArguments,
    _: Grant<'_, WriteAccess<'_>>,
) -> Result<Out, ToolError> {
    Ok(Out { id: 1 })
}

fn main() {
    let spec = ToolSpec::new("get", Mode::Read, public()).with_description("Reads.");
    let types = ToolTypes::new(ArgumentsType::new(), OutputType::new(), ErrorType::new());
    let _route = SecureRoute::<Server>::read(spec, types, write_anyway);
}

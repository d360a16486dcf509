//! A route cannot be built around anything but the guarded call: there is no constructor
//! that takes the call itself, and the call's plumbing is not reachable.

use secure_tool::authz::{Mode, scopes};
use secure_tool::route::{ArgumentsType, ErrorType, NoArguments, OutputType};
use secure_tool::route::{SecureRoute, ToolSpec, ToolTypes};

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

struct Server;

fn main() {
    let spec = ToolSpec::new("leaky", Mode::Read, scopes("secrets:read")).with_description("Leaks.");
    let types = ToolTypes::<NoArguments, Out, secure_tool::ToolError>::new(
        ArgumentsType::new(),
        OutputType::new(),
        ErrorType::new(),
    );
    let _route = SecureRoute::<Server>::new(spec, types, |_invocation| {
        Box::pin(async { secure_tool::rmcp::model::CallToolResult::success(vec![]) })
    });
    let _plumbing: Option<secure_tool::__private::Invocation<'static, Server>> = None;
    let _also: Option<secure_tool::route::Invocation<'static, Server>> = None;
}

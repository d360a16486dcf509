#![allow(dead_code)]
//! The call context comes after the arguments struct.

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Args {
    id: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// Reads a note.
    #[secure_tool(authz = public, mode = read)]
    async fn get(&self, cx: CallContext<'_>, args: Args) -> Result<Out, ToolError> {
        Ok(Out { id: args.id })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

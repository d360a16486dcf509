#![allow(dead_code)]

use secure_tool::capability::WriteAccess;
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
    /// Reads a note, but asks for the write capability.
    #[secure_tool(authz = public, mode = read)]
    async fn get(&self, args: Args, access: WriteAccess<'_>) -> Result<Out, ToolError> {
        let _ = access;
        Ok(Out { id: args.id })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

#![allow(dead_code)]
//! Only a write tool asks for confirmation.

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
    #[secure_tool(authz = public, mode = read, confirm = "Read note {id}?")]
    async fn get(&self, args: Args) -> Result<Out, ToolError> {
        Ok(Out { id: args.id })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

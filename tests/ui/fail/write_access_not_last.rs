#![allow(dead_code)]

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
    /// Saves a note.
    #[secure_tool(authz = authenticated, mode = write)]
    async fn save(&self, access: WriteAccess<'_>, args: Args) -> Result<Out, ToolError> {
        let _ = access;
        Ok(Out { id: args.id })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

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
    /// A tool.
    #[secure_tool(authz = authenticated, mode = write)]
    async fn get(&mut self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

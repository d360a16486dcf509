#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server {
    limit: secure_tool::rate::Rate,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// A tool.
    #[secure_tool(authz = public, mode = read, rate = "0/min")]
    async fn get(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

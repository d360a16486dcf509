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
    /// A blank scope.
    #[secure_tool(authz = scopes(""), mode = read)]
    async fn a(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }

    /// A blank role among others.
    #[secure_tool(authz = roles(["admin", "  "]), mode = read)]
    async fn b(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

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
    /// Frames its own result.
    #[secure_tool(authz = public, mode = read)]
    async fn a(&self) -> Result<secure_tool::rmcp::model::CallToolResult, ToolError> {
        todo!()
    }

    /// Content blocks, through the path.
    #[secure_tool(authz = public, mode = read)]
    async fn b(&self) -> Result<Vec<secure_tool::rmcp::model::ContentBlock>, ToolError> {
        todo!()
    }

    /// rmcp's structured-output wrapper.
    #[secure_tool(authz = public, mode = read)]
    async fn c(&self) -> Result<secure_tool::rmcp::Json<Out>, ToolError> {
        todo!()
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

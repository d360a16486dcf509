#![allow(dead_code)]

use secure_tool::{ToolError, secure_tool, secure_tool_router};

#[derive(Clone)]
struct Server;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

// `scopes` is neither imported nor defined here: the macro brings no name into scope.
#[secure_tool_router]
impl Server {
    /// A tool.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn get(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

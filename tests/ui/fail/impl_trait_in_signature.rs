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
    /// Arguments of no named type.
    #[secure_tool(authz = public, mode = read)]
    async fn a(&self, args: impl serde::de::DeserializeOwned) -> Result<Out, ToolError> {
        let _ = args;
        Ok(Out { id: 1 })
    }

    /// A result of no named type.
    #[secure_tool(authz = public, mode = read)]
    async fn b(&self) -> Result<impl serde::Serialize, ToolError> {
        Ok(Out { id: 1 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

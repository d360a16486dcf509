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
    /// Optional.
    #[secure_tool(authz = authenticated, mode = write)]
    async fn a(&self, args: Args, access: Option<WriteAccess<'_>>) -> Result<Out, ToolError> {
        let _ = (args, access);
        Ok(Out { id: 1 })
    }

    /// Boxed.
    #[secure_tool(authz = authenticated, mode = write)]
    async fn b(&self, access: Box<WriteAccess<'_>>) -> Result<Out, ToolError> {
        let _ = access;
        Ok(Out { id: 1 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

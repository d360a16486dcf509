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
    /// A boxed error.
    #[secure_tool(authz = public, mode = read)]
    async fn a(&self) -> Result<Out, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Out { id: 1 })
    }

    /// A boxed error, without `Send`.
    #[secure_tool(authz = public, mode = read)]
    async fn b(&self) -> Result<Out, Box<dyn std::error::Error>> {
        Ok(Out { id: 1 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

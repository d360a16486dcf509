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

use std::future::Future;
use std::pin::Pin;

#[secure_tool_router]
impl Server {
    /// Written as a future by hand, with no `#[tool]` anywhere.
    #[secure_tool(authz = public, mode = read)]
    fn get(&self) -> Pin<Box<dyn Future<Output = Result<Out, ToolError>> + Send + '_>> {
        Box::pin(async move { Ok(Out { id: 1 }) })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

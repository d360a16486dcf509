#![allow(dead_code)]

use secure_tool::prelude::*;
use secure_tool::resilience::Dependency;

#[derive(Clone)]
struct Server {
    name: String,
    store: std::sync::Arc<Dependency>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// A tool.
    #[secure_tool(authz = public, mode = read, breaker = self.name)]
    async fn get(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

#![allow(dead_code)]

use secure_tool::prelude::*;
use secure_tool::resilience::Dependency;

#[derive(Clone)]
struct Server {
    store: std::sync::Arc<Dependency>,
}

impl Server {
    fn store_dependency(&self) -> Dependency {
        Dependency::new("store")
    }
}

fn make() -> Dependency {
    Dependency::new("store")
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// A dependency made by a function, on every call.
    #[secure_tool(authz = public, mode = read, breaker = make())]
    async fn a(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }

    /// A dependency made by a method, on every call.
    #[secure_tool(authz = public, mode = read, breaker = self.store_dependency())]
    async fn b(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

#![allow(dead_code, unused_imports)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// Reads, and tries to make the write capability itself.
    #[secure_tool(authz = public, mode = read)]
    async fn get(&self) -> Result<Out, ToolError> {
        let _literal = WriteAccess { _call: std::marker::PhantomData };
        Ok(Out { id: 1 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

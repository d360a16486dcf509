#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Query {
    text: String,
}

#[secure_tool_router]
impl Server {
    /// A tool.
    #[secure_tool(authz = public, mode = read, argument_limits = 64 * 1024)]
    async fn search(&self, args: Query) -> Result<String, ToolError> {
        Ok(args.text)
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

#![allow(dead_code)]

use secure_tool::prelude::*;
use secure_tool::route::ArgumentLimits;

#[derive(Clone)]
struct Server {
    limits: ArgumentLimits,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Query {
    text: String,
}

#[secure_tool_router]
impl Server {
    /// A tool.
    #[secure_tool(authz = public, mode = read, argument_limits = self.limits)]
    async fn search(&self, args: Query) -> Result<String, ToolError> {
        Ok(args.text)
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// Both at once.
    #[secure_tool(authz = public, mode = read)]
    #[secure_resource(uri = "docs://readme", authz = public)]
    async fn readme(&self) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text("# Docs"))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

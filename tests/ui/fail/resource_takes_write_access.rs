#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[secure_tool_router]
impl Server {
    /// The readme.
    #[secure_resource(uri = "docs://readme", authz = authenticated)]
    async fn readme(&self, _access: WriteAccess<'_>) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text("# Docs"))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

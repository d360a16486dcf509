#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[secure_tool_router]
impl Server {
    /// The readme.
    #[secure_resource(uri = "docs://readme", authz = public)]
    async fn readme(&self) -> Result<ResourceBody, String> {
        Ok(ResourceBody::text("# Docs"))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

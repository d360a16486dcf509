#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

/// Neither `std::error::Error` nor `ToolError`.
#[derive(Debug)]
struct Oops;

#[secure_tool_router]
impl Server {
    /// The readme.
    #[secure_resource(uri = "docs://readme", authz = public)]
    async fn readme(&self) -> Result<ResourceBody, Oops> {
        Ok(ResourceBody::text("# Docs"))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

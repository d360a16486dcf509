#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[secure_tool_router]
impl Server {
    /// The readme, as plain text.
    #[secure_resource(uri = "docs://readme", authz = public)]
    async fn readme(&self) -> Result<String, ToolError> {
        Ok("# Docs".to_owned())
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[secure_tool_router]
impl Server {
    /// One note.
    #[secure_resource(uri = "notes://{id}", authz = public)]
    async fn note(&self) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text("# A note"))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

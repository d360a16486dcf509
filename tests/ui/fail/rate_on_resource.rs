#![allow(dead_code)]

use secure_tool::prelude::*;
use secure_tool::resource::ResourceBody;

#[derive(Clone)]
struct Server;

#[secure_tool_router]
impl Server {
    /// A note.
    #[secure_resource(uri = "notes://today", authz = public, rate = "30/min")]
    async fn today(&self) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text("today"))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

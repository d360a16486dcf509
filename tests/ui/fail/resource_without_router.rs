#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

// No `#[secure_tool_router]`: the resource would be registered nowhere.
impl Server {
    /// The readme.
    #[secure_resource(uri = "docs://readme", authz = public)]
    async fn readme(&self) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text("# Docs"))
    }
}

fn main() {}

#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[secure_tool_router]
impl Server {
    /// Not async, and would mutate.
    #[secure_resource(uri = "docs://readme", authz = public)]
    fn readme(&mut self) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text("# Docs"))
    }

    /// Generic.
    #[secure_resource(uri = "docs://{page}", authz = public)]
    async fn page<P: serde::de::DeserializeOwned>(&self, _params: P) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text("# Page"))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoteUri {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// One note, at a URI that names none.
    #[secure_resource(uri = "notes://latest", authz = public)]
    async fn note(&self, params: NoteUri) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(params.id.to_string()))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

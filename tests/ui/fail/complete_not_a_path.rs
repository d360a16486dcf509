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
    /// One note.
    #[secure_resource(uri = "notes://{id}", authz = public, complete(id = "note_ids"))]
    async fn note(&self, params: NoteUri) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(params.id.to_string()))
    }

    async fn note_ids(&self, _request: CompletionRequest) -> Result<Vec<String>, ToolError> {
        Ok(Vec::new())
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

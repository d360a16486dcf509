#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoteUri {
    id: u64,
    shelf: String,
}

struct NotAnError;

#[secure_tool_router]
impl Server {
    /// One note.
    #[secure_resource(
        uri = "notes://{shelf}/{id}",
        authz = public,
        complete(id = Self::note_ids, shelf = Self::shelves)
    )]
    async fn note(&self, params: NoteUri) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(params.id.to_string()))
    }

    /// Suggests numbers, not text, and takes the typed value itself.
    async fn note_ids(&self, _typed: String) -> Result<Vec<u64>, ToolError> {
        Ok(vec![1, 2])
    }

    /// Fails with a type that is no error.
    async fn shelves(&self, _request: CompletionRequest) -> Result<Vec<String>, NotAnError> {
        Ok(Vec::new())
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

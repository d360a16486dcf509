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
    /// One note, taken as rmcp takes a tool's arguments.
    #[secure_resource(uri = "notes://{id}", authz = public)]
    async fn note(
        &self,
        params: secure_tool::rmcp::handler::server::wrapper::Parameters<NoteUri>,
    ) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(params.0.id.to_string()))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

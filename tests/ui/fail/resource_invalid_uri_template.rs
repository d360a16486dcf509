#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoteUri {
    id: u64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Pair {
    x: String,
    y: String,
}

#[secure_tool_router]
impl Server {
    /// A brace never closed.
    #[secure_resource(uri = "notes://{id", authz = public)]
    async fn note(&self, params: NoteUri) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(params.id.to_string()))
    }

    /// Two variables that cannot be told apart.
    #[secure_resource(uri = "a://{x}{y}", authz = public)]
    async fn pair(&self, params: Pair) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(params.x + &params.y))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

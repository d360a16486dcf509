#![allow(dead_code)]
//! A resource changes nothing: it takes no `confirm`.

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Args {
    id: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// A note.
    #[secure_resource(uri = "notes://{id}", authz = public, confirm = "Read note {id}?")]
    async fn note(&self, args: Args) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(args.id.to_string()))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

#![allow(dead_code)]
//! A confirmation question is well formed: each `{` opens a named placeholder.

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
    /// Deletes a note.
    #[secure_tool(authz = scopes("notes:write"), mode = write, confirm = "Delete note {id?")]
    async fn delete(&self, args: Args, _access: WriteAccess<'_>) -> Result<Out, ToolError> {
        Ok(Out { id: args.id })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

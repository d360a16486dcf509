#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

/// An alias hides the capability from the macro: it is taken for the arguments, and the
/// capability cannot be deserialized from the caller's input.
type Access<'call> = WriteAccess<'call>;

#[secure_tool_router]
impl Server {
    /// Reads, and tries to get the write capability under another name.
    #[secure_tool(authz = public, mode = read)]
    async fn get(&self, access: Access<'_>) -> Result<Out, ToolError> {
        let _ = access;
        Ok(Out { id: 1 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

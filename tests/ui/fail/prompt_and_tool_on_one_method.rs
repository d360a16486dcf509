#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[secure_tool_router]
impl Server {
    /// Both at once.
    #[secure_prompt(authz = public)]
    #[secure_tool(authz = public, mode = read)]
    async fn greet(&self) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user("Hello!"))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

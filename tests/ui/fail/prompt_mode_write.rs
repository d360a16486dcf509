#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[secure_tool_router]
impl Server {
    /// Say hello, written as if it could change something.
    #[secure_prompt(authz = public, mode = write)]
    async fn greet(&self) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user("Hello!"))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[secure_tool_router]
impl Server {
    /// Say hello.
    #[secure_prompt(authz = public)]
    async fn greet(&self) -> Result<PromptReply, String> {
        Ok(PromptReply::new().user("Hello!"))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

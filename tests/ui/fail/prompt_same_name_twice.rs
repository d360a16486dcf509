#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[secure_tool_router]
impl Server {
    /// Say hello.
    #[secure_prompt(authz = public)]
    async fn greet(&self) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user("Hello!"))
    }

    /// Say hello again, under the same name.
    #[secure_prompt(authz = public, name = "greet")]
    async fn greet_again(&self) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user("Hello again!"))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

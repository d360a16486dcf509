#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Deserialize)]
struct Summary {
    topic: String,
}

#[secure_tool_router]
impl Server {
    /// Summarise my notes about a topic.
    #[secure_prompt(authz = public)]
    async fn summarise(&self, args: Summary) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user(args.topic))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

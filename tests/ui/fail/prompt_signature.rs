#![allow(dead_code)]

use secure_tool::prelude::*;
use secure_tool::rmcp::handler::server::wrapper::Parameters;

#[derive(Clone)]
struct Server;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Summary {
    topic: String,
}

#[secure_tool_router]
impl Server {
    /// Not async, and would mutate.
    #[secure_prompt(authz = public)]
    fn greet(&mut self) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user("Hello!"))
    }

    /// Generic.
    #[secure_prompt(authz = public)]
    async fn summarise<A: serde::de::DeserializeOwned>(&self, _args: A) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new())
    }

    /// Written for rmcp.
    #[secure_prompt(authz = public)]
    async fn rmcp_style(&self, Parameters(args): Parameters<Summary>) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user(args.topic))
    }

    /// Asks for the write capability.
    #[secure_prompt(authz = authenticated)]
    async fn writes(&self, _access: WriteAccess<'_>) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new())
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

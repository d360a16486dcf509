#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Summary {
    topic: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoteUri {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// Summarise my notes about a topic.
    #[secure_prompt(authz = public, complete(topic = Self::topics))]
    async fn summarise(&self, args: Summary) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user(args.topic))
    }

    /// One note, whose ids are completed by the same completer: its errors are said once.
    #[secure_resource(uri = "notes://{id}", authz = public, complete(id = Self::topics))]
    async fn note(&self, params: NoteUri) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(params.id.to_string()))
    }

    fn topics(&mut self, _request: CompletionRequest) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

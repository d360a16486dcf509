//! The forms of the call context and of confirmation that compile: a context alone, after
//! the arguments, before `WriteAccess`, on resources and prompts; `confirm` on a write
//! tool, with or without placeholders and with escaped braces.

use secure_tool::context::{LogLevel, Progress};
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
    /// Context alone.
    #[secure_tool(authz = public, mode = read)]
    async fn alone(&self, cx: CallContext<'_>) -> Result<Out, ToolError> {
        cx.log(LogLevel::Info, "alone").await;
        Ok(Out { id: 0 })
    }

    /// Arguments, then the context.
    #[secure_tool(authz = public, mode = read)]
    async fn after(&self, args: Args, cx: secure_tool::context::CallContext<'_>) -> Result<Out, ToolError> {
        cx.progress(Progress::new(1.0)).await;
        Ok(Out { id: args.id })
    }

    /// Arguments, context, capability; confirmed.
    #[secure_tool(authz = scopes("w"), mode = write, confirm = "Delete {id}? {{irreversible}}")]
    async fn delete(
        &self,
        args: Args,
        cx: CallContext<'_>,
        _access: WriteAccess<'_>,
    ) -> Result<Out, ToolError> {
        let _ = cx.is_cancelled();
        Ok(Out { id: args.id })
    }

    /// Confirmed, no placeholder.
    #[secure_tool(authz = scopes("w"), mode = write, confirm = "Wipe everything?")]
    async fn wipe(&self, _access: WriteAccess<'_>) -> Result<Out, ToolError> {
        Ok(Out { id: 0 })
    }

    /// A resource with a context.
    #[secure_resource(uri = "notes://{id}", authz = public)]
    async fn note(&self, args: Args, cx: CallContext<'_>) -> Result<ResourceBody, ToolError> {
        let _ = cx.can_elicit();
        Ok(ResourceBody::text(args.id.to_string()))
    }

    /// A prompt with a context.
    #[secure_prompt(authz = public)]
    async fn greet(&self, cx: CallContext<'_>) -> Result<PromptReply, ToolError> {
        let _ = cx.can_sample();
        Ok(PromptReply::new().user("hi"))
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let server = SecureServer::new(Server);
    let writer = Principal::new("ada").with_scopes(["w"]);
    let args = serde_json::json!({ "id": 3 }).as_object().cloned();
    let done = server.call("after", args.clone(), writer.clone()).await.unwrap();
    assert_eq!(done.is_error, Some(false));
    // No session to ask through: not run.
    let asked = server.call("delete", args.clone(), writer.clone()).await.unwrap();
    assert_eq!(asked.is_error, Some(true));
    let manifest = server.manifest();
    let delete = manifest.tools.iter().find(|tool| tool.name == "delete").unwrap();
    assert_eq!(delete.confirm.as_deref(), Some("Delete {id}? {{irreversible}}"));
    assert!(server.read_resource("notes://3", Principal::anonymous()).await.is_ok());
}

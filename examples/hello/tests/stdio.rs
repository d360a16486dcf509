//! The example as an MCP host runs it: the real binary over stdio, driven by rmcp's
//! client. The host lists the tools first, then calls them; whether the caller may write
//! is the server's own configuration (`HELLO_SCOPES`), since a stdio server's caller is
//! whoever started it.

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// The server started with `HELLO_SCOPES` set to `scopes` (unset: the default), and a
/// client connected to it.
async fn connect(scopes: Option<&str>) -> RunningService<RoleClient, ()> {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hello-server"));
    command.env_remove("HELLO_SCOPES");
    if let Some(scopes) = scopes {
        command.env("HELLO_SCOPES", scopes);
    }
    let child = TokioChildProcess::new(command).expect("the server starts");
    ().serve(child).await.expect("the MCP handshake")
}

async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    arguments: Value,
) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    params.arguments = arguments.as_object().cloned();
    client.call_tool(params).await.expect("a tool result")
}

/// The greeting `greet` answers.
async fn greeting(client: &RunningService<RoleClient, ()>) -> Value {
    let greeted = call(client, "greet", json!({})).await;
    assert_ne!(greeted.is_error, Some(true), "{greeted:?}");
    greeted.structured_content.expect("structured content")["text"].clone()
}

#[tokio::test]
async fn the_default_caller_reads_and_is_denied_the_write() {
    let client = connect(None).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let mut listed: Vec<(String, Option<bool>)> = tools
        .iter()
        .map(|tool| {
            let read_only = tool.annotations.as_ref().and_then(|a| a.read_only_hint);
            (tool.name.to_string(), read_only)
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("greet".to_owned(), Some(true)),
            ("set_greeting".to_owned(), Some(false)),
        ]
    );
    assert_eq!(greeting(&client).await, "Hello, world!");

    let denied = call(&client, "set_greeting", json!({"text": "Bonjour"})).await;
    let facts = secure_tool::sanitize::error_facts(&denied).expect("an error result");
    assert_eq!(facts["category"], "denied", "{denied:?}");
    assert_eq!(greeting(&client).await, "Hello, world!");
    client.cancel().await.expect("the client closes");
}

#[tokio::test]
async fn a_caller_with_the_write_scope_changes_the_greeting() {
    let client = connect(Some("hello:read,hello:write")).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert_eq!(tools.len(), 2);

    let set = call(&client, "set_greeting", json!({"text": "Bonjour"})).await;
    assert_ne!(set.is_error, Some(true), "{set:?}");
    assert_eq!(greeting(&client).await, "Bonjour");

    let invalid = call(&client, "set_greeting", json!({"words": "Bonjour"})).await;
    let facts = secure_tool::sanitize::error_facts(&invalid).expect("an error result");
    assert_eq!(facts["category"], "invalid_input", "{invalid:?}");
    client.cancel().await.expect("the client closes");
}

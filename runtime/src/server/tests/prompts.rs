//! Prompts under the guard, end to end through an rmcp client.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::GetPromptRequestParams;
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::json;

use super::StoreError;
use super::serve_built;
use crate::authz::{Principal, scopes};
use crate::prelude::*;
use crate::prompt::{PromptReply, PromptRoute, PromptSpec};
use crate::route::{ArgumentsType, ErrorType, NoArguments, SecureToolRouter};
use crate::test_log::Log;

#[derive(Clone, Default)]
struct Notes {
    gets: Arc<AtomicUsize>,
}

impl rmcp::ServerHandler for Notes {}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Summary {
    /// The topic to summarise.
    #[schemars(length(min = 1, max = 40))]
    topic: String,
    /// How many notes, at most.
    #[schemars(range(min = 1, max = 50))]
    count: Option<u32>,
}

async fn summarise(
    notes: &Notes,
    args: Summary,
    _: crate::context::Grant<'_>,
) -> Result<PromptReply, ToolError> {
    notes.gets.fetch_add(1, Ordering::SeqCst);
    let count = args.count.unwrap_or(10);
    Ok(PromptReply::new()
        .with_description("A summary")
        .user(format!(
            "Summarise my last {count} notes about {}.",
            args.topic
        )))
}

async fn broken(
    notes: &Notes,
    _: NoArguments,
    _: crate::context::Grant<'_>,
) -> Result<PromptReply, StoreError> {
    notes.gets.fetch_add(1, Ordering::SeqCst);
    Err(StoreError(std::io::Error::from(
        std::io::ErrorKind::ConnectionRefused,
    )))
}

fn router() -> SecureToolRouter<Notes> {
    SecureToolRouter::new()
        .with_prompt(PromptRoute::new(
            PromptSpec::new("summarise", scopes("notes:read")).with_description("Summarise notes."),
            ArgumentsType::<Summary>::new(),
            ErrorType::<ToolError>::new(),
            summarise,
        ))
        .with_prompt(PromptRoute::new(
            PromptSpec::new("broken", public()).with_description("Fails."),
            ArgumentsType::<NoArguments>::new(),
            ErrorType::<StoreError>::new(),
            broken,
        ))
}

async fn connect(notes: Notes, principal: Principal) -> RunningService<RoleClient, ()> {
    let server = crate::SecureServerBuilder::with_router(notes, router())
        .local_principal(principal)
        .build();
    ().serve(serve_built(server))
        .await
        .expect("client connects")
}

fn reader() -> Principal {
    Principal::new("alice").with_scopes(["notes:read"])
}

fn arguments(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    value.as_object().cloned().unwrap()
}

#[tokio::test]
async fn each_caller_is_listed_the_prompts_it_may_get_with_their_arguments() {
    let client = connect(Notes::default(), reader()).await;
    assert!(client.peer_info().unwrap().capabilities.prompts.is_some());
    let prompts = client.list_all_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["broken", "summarise"]);
    let summarise = &prompts[1];
    assert_eq!(summarise.description.as_deref(), Some("Summarise notes."));
    let listed = serde_json::to_value(summarise.arguments.as_ref().unwrap()).unwrap();
    assert_eq!(
        listed,
        json!([
            { "name": "count", "description": "How many notes, at most.", "required": false },
            { "name": "topic", "description": "The topic to summarise.", "required": true },
        ])
    );

    let anonymous = connect(Notes::default(), Principal::anonymous()).await;
    let names: Vec<String> = anonymous
        .list_all_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["broken"]);
}

#[tokio::test]
async fn a_get_types_its_text_arguments_and_renders_the_reply() {
    let client = connect(Notes::default(), reader()).await;
    let got = client
        .get_prompt(
            GetPromptRequestParams::new("summarise")
                .with_arguments(arguments(json!({ "topic": "plans", "count": "3" }))),
        )
        .await
        .unwrap();
    assert_eq!(got.description.as_deref(), Some("A summary"));
    let text = serde_json::to_string(&got.messages).unwrap();
    assert!(
        text.contains("Summarise my last 3 notes about plans."),
        "{text}"
    );
}

#[tokio::test]
async fn denied_and_missing_prompts_are_one_answer_and_bad_arguments_are_named_not_echoed() {
    async fn get(
        client: &RunningService<RoleClient, ()>,
        name: &str,
        args: serde_json::Value,
    ) -> String {
        client
            .get_prompt(GetPromptRequestParams::new(name).with_arguments(arguments(args)))
            .await
            .unwrap_err()
            .to_string()
    }
    let notes = Notes::default();
    let anonymous = connect(notes.clone(), Principal::anonymous()).await;
    let reader = connect(notes.clone(), reader()).await;
    let denied = get(&anonymous, "summarise", json!({ "topic": "plans" })).await;
    let missing = get(&reader, "nothing", json!({})).await;
    assert_eq!(denied, missing);
    assert!(denied.contains("Prompt not found"), "{denied}");

    let invalid = get(
        &reader,
        "summarise",
        // A count no incident id (32 random hex digits) is likely to hold.
        json!({ "topic": "SECRET-TOPIC-".repeat(9), "count": "98765432" }),
    )
    .await;
    assert!(invalid.contains("`topic`"), "{invalid}");
    assert!(invalid.contains("`count`"), "{invalid}");
    assert!(!invalid.contains("SECRET-TOPIC"), "{invalid}");
    assert!(!invalid.contains("98765432"), "{invalid}");
    let missing_argument = get(&reader, "summarise", json!({})).await;
    assert!(missing_argument.contains("`topic`"), "{missing_argument}");
    assert_eq!(
        notes.gets.load(Ordering::SeqCst),
        0,
        "no refused get reached the handler"
    );
}

#[tokio::test]
async fn a_failed_get_is_sanitized_and_logged_under_its_incident() {
    let log = Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    let server = crate::SecureServerBuilder::with_router(Notes::default(), router()).build();
    let failed = server
        .get_prompt("broken", None, Principal::anonymous())
        .await
        .unwrap_err();
    let data = failed.data.clone().unwrap();
    assert_eq!(data["category"], "unavailable");
    let incident = data["incident_id"].as_str().unwrap();
    let answer = serde_json::to_string(&failed).unwrap();
    assert!(!answer.contains("SELECT"), "{answer}");
    let logged = log.text();
    let line = logged.lines().find(|l| l.contains(incident)).unwrap();
    assert!(line.contains("prompt get failed"), "{line}");
    assert!(line.contains("SELECT * FROM notes"), "{line}");
}

#[tokio::test]
async fn a_refused_get_names_its_incident_as_a_refused_call_does() {
    let log = Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    let server = crate::SecureServerBuilder::with_router(Notes::default(), router()).build();
    let refused = server
        .get_prompt(
            "summarise",
            Some(arguments(json!({ "count": "999" }))),
            reader(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code.0, -32602);
    assert!(
        refused.message.starts_with("Invalid arguments: "),
        "{}",
        refused.message
    );
    let data = refused.data.clone().unwrap();
    assert_eq!(data["category"], "invalid_input");
    let incident = data["incident_id"].as_str().unwrap();
    assert!(refused.message.contains(incident), "{}", refused.message);
    // The audit event of the refusal carries the same incident.
    let logged = log.text();
    assert!(
        logged.lines().any(|line| line.contains(incident)),
        "{logged}"
    );
}

#[test]
#[should_panic(expected = "argument `tags` must be text, a number or a boolean")]
fn a_prompt_argument_text_cannot_give_is_refused() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Tagged {
        #[allow(dead_code)]
        tags: Vec<String>,
    }
    async fn tagged(
        _: &Notes,
        _: Tagged,
        _: crate::context::Grant<'_>,
    ) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new())
    }
    let _ = PromptRoute::new(
        PromptSpec::new("tagged", public()),
        ArgumentsType::new(),
        ErrorType::new(),
        tagged,
    );
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Free {
    /// Any text: the schema sets no bound.
    text: String,
    /// How many.
    count: u32,
}

async fn free(
    notes: &Notes,
    args: Free,
    _: crate::context::Grant<'_>,
) -> Result<PromptReply, ToolError> {
    notes.gets.fetch_add(1, Ordering::SeqCst);
    Ok(PromptReply::new().user(format!("{} of {} characters", args.count, args.text.len())))
}

#[tokio::test]
async fn a_get_is_held_to_the_default_size_caps_and_takes_what_a_tool_takes() {
    let notes = Notes::default();
    let router = SecureToolRouter::new().with_prompt(PromptRoute::new(
        PromptSpec::new("free", public()).with_description("Takes anything."),
        ArgumentsType::<Free>::new(),
        ErrorType::<ToolError>::new(),
        free,
    ));
    let server = crate::SecureServerBuilder::with_router(notes.clone(), router).build();
    let client = ().serve(serve_built(server)).await.unwrap();
    let get = |args: serde_json::Value| {
        client.get_prompt(GetPromptRequestParams::new("free").with_arguments(arguments(args)))
    };
    // Past the default cap of a string (32,768 characters), as a tool's argument would be.
    let long = "x".repeat(40_000);
    get(json!({ "text": long, "count": "3" }))
        .await
        .unwrap_err();
    assert_eq!(notes.gets.load(Ordering::SeqCst), 0, "the handler ran");
    // A number that JSON Schema counts an integer (`3.0`) is taken as one.
    let got = get(json!({ "text": "short", "count": 3.0 })).await.unwrap();
    let text = serde_json::to_string(&got.messages).unwrap();
    assert!(text.contains("3 of 5 characters"), "{text}");

    // The server's own caps, raised, hold for prompts as they do for tools.
    let router = SecureToolRouter::new().with_prompt(PromptRoute::new(
        PromptSpec::new("free", public()).with_description("Takes anything."),
        ArgumentsType::<Free>::new(),
        ErrorType::<ToolError>::new(),
        free,
    ));
    let raised = crate::route::ArgumentLimits::default().with_max_string_chars(100_000);
    let server = crate::SecureServerBuilder::with_router(notes.clone(), router)
        .argument_limits(raised)
        .build();
    let client = ().serve(serve_built(server)).await.unwrap();
    let got = client
        .get_prompt(
            GetPromptRequestParams::new("free").with_arguments(arguments(
                json!({ "text": "x".repeat(40_000), "count": "1" }),
            )),
        )
        .await
        .unwrap();
    let text = serde_json::to_string(&got.messages).unwrap();
    assert!(text.contains("1 of 40000 characters"), "{text}");
}

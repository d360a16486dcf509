//! Prompts written with `#[secure_prompt]`, and completions written with `complete(..)` on
//! a `#[secure_prompt]` and a `#[secure_resource]`, beside a tool of the same
//! `#[secure_tool_router]` impl block, served and used through a real rmcp client: the
//! generated routes carry the attribute's policy, description, title, deadline and
//! breaker, and the completers run under the guard of what they complete.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rmcp::RoleClient;
use rmcp::model::{
    ArgumentInfo, CompleteRequestParams, CompletionInfo, GetPromptRequestParams, Reference,
};
use rmcp::service::RunningService;
use serde_json::json;

use super::{StoreError, call, connect_with, reader};
use crate::breaker::{CircuitBreaker, State};
use crate::prelude::*;
use crate::resilience::Dependency;

/// A desk of notes whose store can be made to fail or hang.
#[derive(Clone)]
struct Desk {
    store: Arc<Dependency>,
    down: Arc<AtomicBool>,
    hang: Arc<AtomicBool>,
    gets: Arc<AtomicUsize>,
    completed: Arc<AtomicUsize>,
}

impl Desk {
    fn new() -> Self {
        let breaker = CircuitBreaker::builder("desk-db")
            .count_window(4)
            .min_calls(2)
            .failure_rate_threshold(0.5)
            .open_duration(Duration::from_secs(30))
            .jitter(0.0)
            .half_open_permits(1)
            .build();
        Self {
            store: Arc::new(Dependency::with_breaker(breaker)),
            down: Arc::default(),
            hang: Arc::default(),
            gets: Arc::default(),
            completed: Arc::default(),
        }
    }

    async fn titles(&self) -> Result<Vec<String>, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            )));
        }
        Ok(vec!["groceries".into(), "plans".into()])
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Summary {
    /// The topic to summarise.
    #[schemars(length(min = 1, max = 40))]
    topic: String,
    /// How many notes, at most.
    count: Option<u32>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoteUri {
    id: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Count {
    notes: u64,
}

#[secure_tool_router]
impl Desk {
    /// Summarise my notes about a topic.
    #[secure_prompt(
        authz = scopes("notes:read"),
        title = "Summary",
        breaker = self.store,
        timeout = "2s",
        complete(topic = Self::topics)
    )]
    async fn summarise(&self, args: Summary) -> Result<PromptReply, StoreError> {
        let titles = self.titles().await?;
        let count = args.count.unwrap_or(10);
        Ok(PromptReply::new()
            .with_description("A summary")
            .user(format!(
                "Summarise my last {count} notes about {}: {}.",
                args.topic,
                titles.join(", ")
            )))
    }

    #[secure_prompt(authz = public, name = "hello", description = "Say hello.")]
    async fn greet(&self) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user("Hello!"))
    }

    /// One note.
    #[secure_resource(
        uri = "notes://{id}",
        authz = scopes("notes:read"),
        complete(id = Self::note_ids)
    )]
    async fn note(&self, params: NoteUri) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(format!("note {}", params.id)))
    }

    /// Counts the notes.
    #[secure_tool(authz = public, mode = read)]
    async fn count(&self) -> Result<Count, ToolError> {
        Ok(Count { notes: 2 })
    }

    /// The topics that start with what is typed; fails on `fail`, leaking nothing.
    async fn topics(&self, request: CompletionRequest) -> Result<Vec<String>, StoreError> {
        self.completed.fetch_add(1, Ordering::SeqCst);
        if request.value() == "fail" {
            return Err(StoreError(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            )));
        }
        Ok(["groceries", "plans", "poems"]
            .into_iter()
            .filter(|t| t.starts_with(request.value()))
            .map(str::to_owned)
            .collect())
    }

    /// Ids 1 to 150 that start with what is typed.
    async fn note_ids(&self, request: CompletionRequest) -> Result<Vec<String>, ToolError> {
        self.completed.fetch_add(1, Ordering::SeqCst);
        Ok((1..=150u32)
            .map(|id| id.to_string())
            .filter(|id| id.starts_with(request.value()))
            .collect())
    }
}

impl rmcp::ServerHandler for Desk {}

async fn complete(
    client: &RunningService<RoleClient, ()>,
    reference: Reference,
    argument: &str,
    value: &str,
) -> Result<CompletionInfo, rmcp::ServiceError> {
    client
        .complete(CompleteRequestParams::new(
            reference,
            ArgumentInfo::new(argument, value),
        ))
        .await
        .map(|result| result.completion)
}

async fn get_error(
    client: &RunningService<RoleClient, ()>,
    name: &str,
    arguments: serde_json::Value,
) -> String {
    let arguments = arguments.as_object().cloned().unwrap();
    client
        .get_prompt(GetPromptRequestParams::new(name).with_arguments(arguments))
        .await
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn generated_prompts_are_listed_per_caller_and_got_beside_tools() {
    let desk = Desk::new();
    let client = connect_with(desk.clone(), Some(reader())).await;
    assert!(client.peer_info().unwrap().capabilities.prompts.is_some());

    let prompts = client.list_all_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["hello", "summarise"]);
    assert_eq!(prompts[0].description.as_deref(), Some("Say hello."));
    assert!(prompts[0].arguments.is_none());
    let summarise = &prompts[1];
    assert_eq!(summarise.title.as_deref(), Some("Summary"));
    assert_eq!(
        summarise.description.as_deref(),
        Some("Summarise my notes about a topic.")
    );
    let listed = serde_json::to_value(summarise.arguments.as_ref().unwrap()).unwrap();
    assert_eq!(
        listed,
        json!([
            { "name": "count", "description": "How many notes, at most.", "required": false },
            { "name": "topic", "description": "The topic to summarise.", "required": true },
        ])
    );

    let got = client
        .get_prompt(
            GetPromptRequestParams::new("summarise").with_arguments(
                json!({ "topic": "plans", "count": "3" })
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(got.description.as_deref(), Some("A summary"));
    let text = serde_json::to_string(&got.messages).unwrap();
    assert!(
        text.contains("Summarise my last 3 notes about plans: groceries, plans."),
        "{text}"
    );
    let hello = client
        .get_prompt(GetPromptRequestParams::new("hello"))
        .await
        .unwrap();
    assert!(
        serde_json::to_string(&hello.messages)
            .unwrap()
            .contains("Hello!")
    );

    // The tool of the same impl block is served too.
    let counted = call(&client, "count", json!({})).await;
    assert_eq!(counted.structured_content.unwrap()["notes"], 2);

    // Without the scope, the prompt is neither listed nor got: denied is missing.
    let gets = desk.gets.load(Ordering::SeqCst);
    let anonymous = connect_with(desk.clone(), None).await;
    let names: Vec<String> = anonymous
        .list_all_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["hello"]);
    let denied = get_error(&anonymous, "summarise", json!({ "topic": "plans" })).await;
    let missing = get_error(&client, "nothing", json!({})).await;
    assert_eq!(denied, missing);
    assert!(denied.contains("Prompt not found"), "{denied}");
    // Arguments that do not fit are named, never echoed, and reach no handler.
    let invalid = get_error(&client, "summarise", json!({ "topic": "SECRET".repeat(9) })).await;
    assert!(invalid.contains("`topic`"), "{invalid}");
    assert!(!invalid.contains("SECRET"), "{invalid}");
    assert_eq!(desk.gets.load(Ordering::SeqCst), gets, "no refused get ran");
}

#[tokio::test]
async fn generated_completions_answer_an_allowed_caller_and_hide_from_a_denied_one() {
    let desk = Desk::new();
    let client = connect_with(desk.clone(), Some(reader())).await;
    assert!(
        client
            .peer_info()
            .unwrap()
            .capabilities
            .completions
            .is_some()
    );

    let topics = complete(&client, Reference::for_prompt("summarise"), "topic", "p")
        .await
        .unwrap();
    assert_eq!(topics.values, ["plans", "poems"]);
    let ids = complete(&client, Reference::for_resource("notes://{id}"), "id", "")
        .await
        .unwrap();
    assert_eq!(ids.values.len(), 100);
    assert_eq!((ids.total, ids.has_more), (Some(150), Some(true)));
    let ids = complete(&client, Reference::for_resource("notes://{id}"), "id", "14")
        .await
        .unwrap();
    assert_eq!(
        ids.values,
        [
            "14", "140", "141", "142", "143", "144", "145", "146", "147", "148", "149"
        ]
    );
    let completed = desk.completed.load(Ordering::SeqCst);
    assert_eq!(completed, 3);

    // A failing completer answers a sanitized error.
    let failed = complete(&client, Reference::for_prompt("summarise"), "topic", "fail")
        .await
        .unwrap_err()
        .to_string();
    assert!(failed.contains("incident"), "{failed}");
    assert!(!failed.contains("SELECT"), "{failed}");

    // A caller who may not get the prompt or read the notes gets what a missing completion
    // gets, and no completer runs for it.
    let completed = desk.completed.load(Ordering::SeqCst);
    let anonymous = connect_with(desk.clone(), None).await;
    let denied = [
        complete(&anonymous, Reference::for_prompt("summarise"), "topic", "p").await,
        complete(
            &anonymous,
            Reference::for_resource("notes://{id}"),
            "id",
            "1",
        )
        .await,
    ];
    let missing = [
        complete(&client, Reference::for_prompt("hello"), "topic", "p").await,
        complete(&client, Reference::for_prompt("summarise"), "count", "1").await,
        complete(
            &client,
            Reference::for_resource("nothing://{id}"),
            "id",
            "1",
        )
        .await,
    ];
    let empty = serde_json::to_value(CompletionInfo::with_all_values(vec![]).unwrap()).unwrap();
    for answer in denied.iter().chain(&missing) {
        let answer = serde_json::to_value(answer.as_ref().unwrap()).unwrap();
        assert_eq!(answer, empty);
    }
    assert_eq!(desk.completed.load(Ordering::SeqCst), completed);
}

#[tokio::test(start_paused = true)]
async fn the_attributes_breaker_and_deadline_guard_every_get() {
    let desk = Desk::new();
    let server = SecureServer::new(desk.clone());
    let arguments = json!({ "topic": "plans" }).as_object().cloned();

    desk.hang.store(true, Ordering::SeqCst);
    let timed_out = server
        .get_prompt("summarise", arguments.clone(), reader())
        .await
        .unwrap_err();
    assert_eq!(timed_out.data.unwrap()["category"], "timeout");
    desk.hang.store(false, Ordering::SeqCst);

    desk.down.store(true, Ordering::SeqCst);
    let failed = server
        .get_prompt("summarise", arguments.clone(), reader())
        .await
        .unwrap_err();
    let answer = serde_json::to_string(&failed).unwrap();
    assert!(!answer.contains("SELECT"), "{answer}");
    assert_eq!(failed.data.unwrap()["category"], "unavailable");
    assert_eq!(desk.store.breaker().state(), State::Open);

    // Open: the handler is not run, and the caller is told when to retry.
    let gets = desk.gets.load(Ordering::SeqCst);
    let refused = server
        .get_prompt("summarise", arguments, reader())
        .await
        .unwrap_err();
    assert_eq!(desk.gets.load(Ordering::SeqCst), gets);
    let facts = refused.data.unwrap();
    assert_eq!(facts["category"], "unavailable");
    assert_eq!(facts["retry_after_secs"], 30);
}

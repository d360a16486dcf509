//! Resources written with `#[secure_resource]`, beside a tool of the same
//! `#[secure_tool_router]` impl block, served and read through a real rmcp client: the
//! generated routes carry the attribute's policy, URI, description, MIME type, deadline
//! and breaker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rmcp::model::{ReadResourceRequestParams, ResourceContents};
use serde_json::json;

use super::{call, connect_with, reader};
use crate::breaker::{CircuitBreaker, State};
use crate::prelude::*;
use crate::resilience::Dependency;

/// A shelf of notes whose store can be made to fail or hang.
#[derive(Clone)]
struct Shelf {
    store: Arc<Dependency>,
    down: Arc<AtomicBool>,
    hang: Arc<AtomicBool>,
    reads: Arc<AtomicUsize>,
}

impl Shelf {
    fn new() -> Self {
        let breaker = CircuitBreaker::builder("shelf-db")
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
            reads: Arc::default(),
        }
    }

    async fn fetch(&self, id: u64) -> Result<Option<String>, std::io::Error> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connect to 10.0.0.7:5432 refused",
            ));
        }
        Ok((id == 1).then(|| "# Groceries".to_owned()))
    }
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
impl Shelf {
    /// One note, as Markdown.
    #[secure_resource(
        uri = "notes://{id}",
        authz = scopes("notes:read"),
        mime_type = "text/markdown",
        breaker = self.store,
        timeout = "2s"
    )]
    async fn note(&self, params: NoteUri) -> Result<ResourceBody, ToolError> {
        match self.fetch(params.id).await? {
            Some(text) => Ok(ResourceBody::text(text)),
            None => Err(ToolError::not_found(format!("no note {}", params.id))),
        }
    }

    /// How the notes are named.
    #[secure_resource(uri = "docs://readme", authz = public, title = "Read me")]
    async fn readme(&self) -> Result<ResourceBody, std::io::Error> {
        Ok(ResourceBody::text("Each note is at notes://{id}."))
    }

    /// Counts the notes.
    #[secure_tool(authz = public, mode = read)]
    async fn count(&self) -> Result<Count, ToolError> {
        Ok(Count { notes: 1 })
    }
}

impl rmcp::ServerHandler for Shelf {}

fn text_of(contents: &ResourceContents) -> (&str, Option<&str>) {
    match contents {
        ResourceContents::TextResourceContents {
            text, mime_type, ..
        } => (text, mime_type.as_deref()),
        _ => panic!("not text: {contents:?}"),
    }
}

#[tokio::test]
async fn generated_resources_are_listed_per_caller_and_read_beside_tools() {
    let client = connect_with(Shelf::new(), Some(reader())).await;

    let resources = client.list_all_resources().await.unwrap();
    assert_eq!(resources.len(), 1);
    assert_eq!(resources[0].uri, "docs://readme");
    assert_eq!(resources[0].title.as_deref(), Some("Read me"));
    assert_eq!(
        resources[0].description.as_deref(),
        Some("How the notes are named.")
    );
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0].uri_template, "notes://{id}");
    assert_eq!(templates[0].mime_type.as_deref(), Some("text/markdown"));

    let read = client
        .read_resource(ReadResourceRequestParams::new("notes://1"))
        .await
        .unwrap();
    assert_eq!(
        text_of(&read.contents[0]),
        ("# Groceries", Some("text/markdown"))
    );
    // The handler's not-found and a malformed id are the one answer.
    let missing = client
        .read_resource(ReadResourceRequestParams::new("notes://2"))
        .await
        .unwrap_err()
        .to_string();
    let malformed = client
        .read_resource(ReadResourceRequestParams::new("notes://two"))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(missing, malformed);
    assert!(!missing.contains("no note"), "{missing}");

    // The tool of the same impl block is served too.
    let counted = call(&client, "count", json!({})).await;
    assert_eq!(counted.structured_content.unwrap()["notes"], 1);

    // Without the scope, the template is neither listed nor read.
    let anonymous = connect_with(Shelf::new(), None).await;
    assert!(
        anonymous
            .list_all_resource_templates()
            .await
            .unwrap()
            .is_empty()
    );
    let denied = anonymous
        .read_resource(ReadResourceRequestParams::new("notes://1"))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(denied, missing);
}

#[tokio::test(start_paused = true)]
async fn the_attributes_breaker_and_deadline_guard_every_read() {
    let shelf = Shelf::new();
    let server = SecureServer::new(shelf.clone());

    shelf.hang.store(true, Ordering::SeqCst);
    let timed_out = server
        .read_resource("notes://1", reader())
        .await
        .unwrap_err();
    assert_eq!(timed_out.data.unwrap()["category"], "timeout");
    shelf.hang.store(false, Ordering::SeqCst);

    shelf.down.store(true, Ordering::SeqCst);
    let failed = server
        .read_resource("notes://1", reader())
        .await
        .unwrap_err();
    let answer = serde_json::to_string(&failed).unwrap();
    assert!(!answer.contains("10.0.0.7"), "{answer}");
    assert_eq!(failed.data.unwrap()["category"], "unavailable");
    assert_eq!(shelf.store.breaker().state(), State::Open);

    // Open: the handler is not run, and the caller is told when to retry.
    let reads = shelf.reads.load(Ordering::SeqCst);
    let refused = server
        .read_resource("notes://1", reader())
        .await
        .unwrap_err();
    assert_eq!(shelf.reads.load(Ordering::SeqCst), reads);
    let facts = refused.data.unwrap();
    assert_eq!(facts["category"], "unavailable");
    assert_eq!(facts["retry_after_secs"], 30);
}

//! Rate limits through `#[secure_tool(rate = ...)]` and `SecureServerBuilder::rate_limit`,
//! over a real rmcp session and in process, on tokio's paused clock: a call over a limit
//! is answered at once, retryable, with the time to wait; it never runs, never reaches the
//! breaker, and a caller who may not use a tool is never told its limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rmcp::ServiceExt as _;
use rmcp::model::{CallToolResult, ReadResourceRequestParams};
use serde_json::{Value, json};

use super::{call, category, connect_with, reader};
use crate::breaker::{CircuitBreaker, State};
use crate::prelude::*;
use crate::rate::Rate;
use crate::resilience::Dependency;
use crate::resource::ResourceBody;
use crate::test_log::Log;

#[derive(Clone)]
struct Shop {
    store: Arc<Dependency>,
    runs: Arc<AtomicUsize>,
}

impl Shop {
    fn new() -> Self {
        let breaker = CircuitBreaker::builder("shop-db")
            .count_window(4)
            .min_calls(1)
            .failure_rate_threshold(0.5)
            .jitter(0.0)
            .build();
        Self {
            store: Arc::new(Dependency::with_breaker(breaker)),
            runs: Arc::default(),
        }
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Sku {
    sku: String,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Stock {
    units: u64,
}

const LIMIT: Rate = Rate::per_hour(1);

#[secure_tool_router]
impl Shop {
    /// Units in stock.
    #[secure_tool(authz = scopes("notes:read"), mode = read, breaker = self.store, rate = "2/min")]
    async fn stock(&self, args: Sku) -> Result<Stock, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Stock {
            units: args.sku.len() as u64,
        })
    }

    /// The shop's opening hours, for anyone, once an hour each.
    #[secure_tool(authz = public(), mode = read, rate = LIMIT)]
    async fn hours(&self) -> Result<Stock, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Stock { units: 9 })
    }

    /// A note of the shop.
    #[secure_resource(uri = "shop://note", authz = scopes("notes:read"))]
    async fn note(&self) -> Result<ResourceBody, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(ResourceBody::text("open"))
    }
}

impl rmcp::ServerHandler for Shop {}

fn facts(result: &CallToolResult) -> Value {
    crate::sanitize::error_facts(result)
        .expect("an error result")
        .clone()
}

#[tokio::test(start_paused = true)]
async fn a_call_over_the_tools_rate_is_answered_at_once_and_never_runs() {
    let log = Log::default();
    let _default = crate::test_log::set_default(log.subscriber());
    let shop = Shop::new();
    let client = connect_with(shop.clone(), Some(reader())).await;
    for _ in 0..2 {
        let result = call(&client, "stock", json!({"sku": "A-1"})).await;
        assert_eq!(result.structured_content, Some(json!({"units": 3})));
    }
    let started = tokio::time::Instant::now();
    for _ in 0..5 {
        let limited = call(&client, "stock", json!({"sku": "A-1"})).await;
        let facts = facts(&limited);
        assert_eq!(facts["category"], "rate_limited", "{facts}");
        assert_eq!(facts["retryable"], true);
        assert_eq!(facts["retry_after_secs"], 30, "one call back every 30 s");
    }
    assert_eq!(started.elapsed(), Duration::ZERO, "refused at once");
    assert_eq!(shop.runs.load(Ordering::SeqCst), 2, "the handler never ran");
    let snapshot = shop.store.breaker().snapshot();
    assert_eq!(snapshot.state, State::Closed);
    assert_eq!(
        (snapshot.successes, snapshot.failures, snapshot.ignored),
        (2, 0, 0),
        "the breaker never saw a limited call"
    );
    let audit = log.text();
    assert_eq!(
        audit.matches("outcome=\"rate_limited\"").count(),
        5,
        "{audit}"
    );
    assert!(audit.contains("limit=\"tool\""), "{audit}");

    // Waiting the time given is enough.
    tokio::time::advance(Duration::from_secs(30)).await;
    let again = call(&client, "stock", json!({"sku": "A-1"})).await;
    assert_eq!(again.structured_content, Some(json!({"units": 3})));
}

/// The tool's limit counts only the calls its policy allows: a caller who may not use the
/// tool is told so each time, and takes nothing from anyone's bucket.
#[tokio::test(start_paused = true)]
async fn a_denied_caller_is_never_told_the_tools_limit_nor_uses_it() {
    let shop = Shop::new();
    let anonymous = connect_with(shop.clone(), None).await;
    for _ in 0..10 {
        let denied = call(&anonymous, "stock", json!({"sku": "A-1"})).await;
        assert_eq!(category(&denied).as_deref(), Some("denied"));
    }
    let client = connect_with(shop.clone(), Some(reader())).await;
    for _ in 0..2 {
        let result = call(&client, "stock", json!({"sku": "A-1"})).await;
        assert!(result.is_error != Some(true), "{result:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn each_caller_has_its_own_bucket_and_anonymous_callers_share_one() {
    let shop = Shop::new();
    let server = SecureServer::new(shop.clone());
    let hours = |principal: Principal| {
        let server = server.clone();
        async move {
            let result = server.call("hours", None, principal).await.unwrap();
            category(&result)
        }
    };
    assert_eq!(hours(Principal::new("ada")).await, None);
    assert_eq!(
        hours(Principal::new("ada").with_scopes(["notes:read"])).await,
        Some("rate_limited".into()),
        "the same subject, whatever its scopes"
    );
    assert_eq!(hours(Principal::new("bob")).await, None);
    assert_eq!(hours(Principal::anonymous()).await, None);
    assert_eq!(
        hours(Principal::anonymous()).await,
        Some("rate_limited".into()),
        "every anonymous caller takes from one bucket"
    );
    let limited = server
        .call("hours", None, Principal::new("bob"))
        .await
        .unwrap();
    assert_eq!(facts(&limited)["retry_after_secs"], 3600);
    assert_eq!(shop.runs.load(Ordering::SeqCst), 3);
}

/// The server's limit covers every tool call, resource read and prompt get of a caller,
/// and is checked before any policy: a caller over it is not even denied.
#[tokio::test(start_paused = true)]
async fn the_servers_limit_covers_every_call_of_a_caller_before_its_policy() {
    let log = Log::default();
    let _default = crate::test_log::set_default(log.subscriber());
    let shop = Shop::new();
    let server = SecureServer::builder(shop.clone())
        .rate_limit(Rate::per_minute(3))
        .local_principal(reader())
        .build();
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = server.serve_trusted(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    let client = ().serve(client_io).await.unwrap();

    assert_eq!(
        category(&call(&client, "stock", json!({"sku": "A"})).await),
        None
    );
    assert_eq!(category(&call(&client, "hours", json!({})).await), None);
    let read = client
        .read_resource(ReadResourceRequestParams::new("shop://note"))
        .await;
    assert!(read.is_ok(), "{read:?}");
    let limited = call(&client, "stock", json!({"sku": "A"})).await;
    assert_eq!(facts(&limited)["category"], "rate_limited");
    assert_eq!(facts(&limited)["retry_after_secs"], 20);
    let refused = client
        .read_resource(ReadResourceRequestParams::new("shop://note"))
        .await
        .unwrap_err();
    let rmcp::ServiceError::McpError(error) = refused else {
        panic!("a JSON-RPC error: {refused:?}");
    };
    let data = error.data.expect("the facts of the refusal");
    assert_eq!(data["category"], "rate_limited", "{data}");
    assert_eq!(shop.runs.load(Ordering::SeqCst), 3);
    let audit = log.text();
    assert_eq!(audit.matches("limit=\"server\"").count(), 2, "{audit}");

    // Before the policy: an anonymous caller over the limit is limited, not denied.
    let anonymous = SecureServer::builder(shop.clone())
        .rate_limit(Rate::per_minute(1))
        .build();
    for expected in ["denied", "rate_limited"] {
        let answer = anonymous
            .call("stock", None, Principal::anonymous())
            .await
            .unwrap();
        assert_eq!(category(&answer).as_deref(), Some(expected));
    }
}

#[test]
fn the_manifest_shows_each_limit() {
    let manifest = SecureServer::builder(Shop::new())
        .rate_limit(Rate::per_second(10).with_burst(50))
        .build()
        .manifest();
    assert_eq!(manifest.rate_limit.as_deref(), Some("10/s burst 50"));
    let limits: Vec<_> = manifest
        .tools
        .iter()
        .map(|tool| (tool.name.as_str(), tool.rate_limit.as_deref()))
        .collect();
    assert_eq!(limits, [("hours", Some("1/h")), ("stock", Some("2/min"))]);
    let unlimited = SecureServer::new(Shop::new()).manifest();
    assert_eq!(unlimited.rate_limit, None);
}

/// Over the server's limit, a caller who may not read a resource is still told it does not
/// exist, as it is told of one that does not: the limit tells no names.
#[tokio::test(start_paused = true)]
async fn a_limited_caller_is_told_no_more_of_what_exists_than_before() {
    let shop = Shop::new();
    let server = SecureServer::builder(shop.clone())
        .rate_limit(Rate::per_hour(1))
        .local_principal(Principal::new("outsider"))
        .build();
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = server.serve_trusted(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    let client = ().serve(client_io).await.unwrap();
    // The caller's one call of the hour, on a public tool.
    assert_eq!(category(&call(&client, "hours", json!({})).await), None);
    let limited = call(&client, "hours", json!({})).await;
    assert_eq!(category(&limited).as_deref(), Some("rate_limited"));

    let mut answers = Vec::new();
    for uri in ["shop://note", "shop://nothing"] {
        let error = client
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .unwrap_err();
        let rmcp::ServiceError::McpError(error) = error else {
            panic!("a JSON-RPC error: {error:?}");
        };
        answers.push((error.code, error.message.to_string()));
    }
    assert_eq!(answers[0], answers[1], "{answers:?}");
    assert!(answers[0].1.contains("not found"), "{answers:?}");
    assert_eq!(shop.runs.load(Ordering::SeqCst), 1);
}

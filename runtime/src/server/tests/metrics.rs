//! The server's Prometheus series (feature `metrics`): every call counted under the surface
//! and name it was of, by outcome and breakdown; breakers, bulkheads and health read at the
//! scrape; nothing a caller chose in a label.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use rmcp::model::Reference;
use serde_json::json;

use crate::breaker::CircuitBreaker;
use crate::completion::CompletionRequest;
use crate::health::{HealthMonitor, ServicePath, Status};
use crate::prelude::*;
use crate::prompt::PromptReply;
use crate::rate::Rate;
use crate::resilience::Dependency;
use crate::resource::ResourceBody;

#[derive(Clone)]
struct Shop {
    store: Arc<Dependency>,
}

impl Shop {
    fn new() -> Self {
        let breaker = CircuitBreaker::builder("shop-db")
            .count_window(2)
            .min_calls(2)
            .failure_rate_threshold(0.5)
            .open_duration(Duration::from_secs(3600))
            .jitter(0.0)
            .build();
        Self {
            store: Arc::new(Dependency::with_breaker(breaker).max_concurrent(3)),
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

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Item {
    sku: String,
}

#[secure_tool_router]
impl Shop {
    /// Units in stock; `down` fails as the store would.
    #[secure_tool(authz = scopes("shop:read"), mode = read, breaker = self.store, rate = "4/h")]
    async fn stock(&self, args: Sku) -> Result<Stock, ToolError> {
        match args.sku.as_str() {
            "down" => Err(ToolError::unavailable("the store is down")),
            "boom" => panic!("the handler broke"),
            sku => Ok(Stock {
                units: sku.len() as u64,
            }),
        }
    }

    /// Restocks an item.
    #[secure_tool(authz = scopes("shop:write"), mode = write)]
    async fn restock(&self, _args: Sku, _write: WriteAccess<'_>) -> Result<Stock, ToolError> {
        Ok(Stock { units: 1 })
    }

    /// An item.
    #[secure_resource(uri = "shop://items/{sku}", authz = scopes("shop:read"), complete(sku = Self::skus))]
    async fn item(&self, params: Item) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(params.sku))
    }

    /// Describe an item.
    #[secure_prompt(authz = scopes("shop:read"))]
    async fn describe(&self, args: Sku) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user(format!("Describe {}.", args.sku)))
    }

    async fn skus(&self, request: CompletionRequest) -> Result<Vec<String>, ToolError> {
        Ok(vec![format!("{}-1", request.value())])
    }
}

/// The caller, whose subject must appear in no series.
fn clerk() -> Principal {
    Principal::new("clerk-7f3a").with_scopes(["shop:read", "shop:write"])
}

fn scrape(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).expect("the registry encodes");
    text
}

fn args(value: serde_json::Value) -> Option<serde_json::Map<String, serde_json::Value>> {
    value.as_object().cloned()
}

/// Asserts that `text` has each of `series` as a whole line.
fn assert_series(text: &str, series: &[&str]) {
    for line in series {
        assert!(
            text.lines().any(|l| l == *line),
            "no line `{line}` in\n{text}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn every_call_is_counted_by_surface_name_outcome_and_breakdown() {
    let monitor = HealthMonitor::builder().build();
    let server = SecureServer::builder(Shop::new())
        .health(monitor.clone())
        .rate_limit(Rate::per_hour(9))
        .build();
    let mut registry = Registry::default();
    server.register_metrics(&mut registry);

    let stock = |sku: &str| server.call("stock", args(json!({"sku": sku})), clerk());
    stock("secret-sku-1").await.unwrap();
    // Two failures open the breaker (window of 2, half of them failing).
    stock("down").await.unwrap();
    stock("down").await.unwrap();
    server
        .call("stock", args(json!({"sku": 7})), clerk())
        .await
        .unwrap();
    // The tool's own limit (4 an hour) is spent: the fifth is refused.
    stock("after").await.unwrap();
    server
        .call("stock", args(json!({"sku": "x"})), Principal::anonymous())
        .await
        .unwrap();
    monitor.force(ServicePath::Writes, Some(Status::Degraded));
    server
        .call("restock", args(json!({"sku": "x"})), clerk())
        .await
        .unwrap();
    server
        .read_resource("shop://items/secret-sku-2", clerk())
        .await
        .unwrap();
    let _ = server
        .read_resource("shop://items/x", Principal::anonymous())
        .await;
    server
        .get_prompt("describe", args(json!({"sku": "x"})), clerk())
        .await
        .unwrap();
    server
        .complete(
            &Reference::for_resource("shop://items/{sku}"),
            CompletionRequest::new("sku", "ab"),
            clerk(),
        )
        .await
        .unwrap();

    let text = scrape(&registry);
    assert_series(
        &text,
        &[
            r#"secure_tool_calls_total{surface="tool",name="stock",outcome="ok"} 1"#,
            r#"secure_tool_calls_total{surface="tool",name="stock",outcome="error"} 2"#,
            r#"secure_tool_calls_total{surface="tool",name="stock",outcome="rate_limited"} 1"#,
            r#"secure_tool_calls_total{surface="tool",name="stock",outcome="invalid_arguments"} 1"#,
            r#"secure_tool_calls_total{surface="tool",name="stock",outcome="denied"} 1"#,
            r#"secure_tool_calls_total{surface="tool",name="restock",outcome="degraded"} 1"#,
            r#"secure_tool_calls_total{surface="tool",name="restock",outcome="ok"} 0"#,
            r#"secure_tool_errors_total{surface="tool",name="stock",category="unavailable"} 2"#,
            r#"secure_tool_denials_total{surface="tool",name="stock",cause="anonymous"} 1"#,
            r#"secure_tool_rate_limited_total{surface="tool",name="stock",limit="tool"} 1"#,
            r#"secure_tool_calls_total{surface="resource",name="item",outcome="ok"} 1"#,
            r#"secure_tool_calls_total{surface="resource",name="item",outcome="denied"} 1"#,
            r#"secure_tool_calls_total{surface="prompt",name="describe",outcome="ok"} 1"#,
            r#"secure_tool_calls_total{surface="completion",name="item",outcome="ok"} 1"#,
            r#"secure_tool_call_duration_seconds_count{surface="tool",name="stock"} 6"#,
            r#"secure_tool_call_duration_seconds_bucket{le="0.001",surface="tool",name="stock"} 6"#,
            r#"secure_tool_breaker_state{breaker="shop-db",state="open"} 1"#,
            r#"secure_tool_breaker_state{breaker="shop-db",state="closed"} 0"#,
            r#"secure_tool_breaker_opens_total{breaker="shop-db"} 1"#,
            r#"secure_tool_breaker_transitions_total{breaker="shop-db"} 1"#,
            r#"secure_tool_bulkhead_in_use{bulkhead="shop-db"} 0"#,
            r#"secure_tool_bulkhead_capacity{bulkhead="shop-db"} 3"#,
            r#"secure_tool_concurrent_calls_limit{surface="tool",name="stock"} 64"#,
            r#"secure_tool_degraded{path="writes"} 1"#,
            r#"secure_tool_degraded{path="reads"} 0"#,
        ],
    );
    // The caller's subject, argument values and the URI read are in no series.
    for secret in ["clerk-7f3a", "secret-sku", "shop://", "ab-1"] {
        assert!(!text.contains(secret), "{secret} in\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_counts_what_it_turned_away() {
    let server = SecureServer::new(Shop::new());
    let mut registry = Registry::default();
    server.register_metrics(&mut registry);
    let stock = |sku: &str| server.call("stock", args(json!({"sku": sku})), clerk());
    stock("down").await.unwrap();
    stock("down").await.unwrap();
    stock("x").await.unwrap();
    assert_series(
        &scrape(&registry),
        &[
            r#"secure_tool_breaker_rejected_total{breaker="shop-db"} 1"#,
            r#"secure_tool_errors_total{surface="tool",name="stock",category="unavailable"} 3"#,
        ],
    );
}

#[tokio::test]
async fn a_panic_is_its_own_outcome() {
    let server = SecureServer::new(Shop::new());
    let mut registry = Registry::default();
    server.register_metrics(&mut registry);
    server
        .call("stock", args(json!({"sku": "boom"})), clerk())
        .await
        .unwrap();
    assert_series(
        &scrape(&registry),
        &[r#"secure_tool_calls_total{surface="tool",name="stock",outcome="panic"} 1"#],
    );
}

#[tokio::test]
async fn calls_are_counted_only_once_a_registry_asked_for_them() {
    let server = SecureServer::new(Shop::new());
    server
        .call("stock", args(json!({"sku": "a"})), clerk())
        .await
        .unwrap();
    let mut registry = Registry::default();
    server.register_metrics(&mut registry);
    let text = scrape(&registry);
    assert_series(
        &text,
        &[r#"secure_tool_calls_total{surface="tool",name="stock",outcome="ok"} 0"#],
    );
    // A server without a health monitor writes no degraded series.
    assert!(!text.contains("secure_tool_degraded"), "{text}");
}

#[tokio::test]
async fn a_dropped_server_writes_no_series() {
    let server = SecureServer::new(Shop::new());
    let mut registry = Registry::default();
    server.register_metrics(&mut registry);
    assert!(scrape(&registry).contains("secure_tool_calls_total"));
    drop(server);
    assert!(!scrape(&registry).contains("secure_tool"));
}

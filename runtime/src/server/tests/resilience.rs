//! Breakers, bulkheads and deadlines through `#[secure_tool(breaker = ..., timeout = ...)]`,
//! a `SecureServer` and a real rmcp client, on tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rmcp::model::{CallToolRequest, CallToolRequestParams, ClientRequest};
use rmcp::service::PeerRequestOptions;
use serde_json::json;

use super::{call, category, connect_with, reader};
use crate::breaker::{CircuitBreaker, State};
use crate::prelude::*;
use crate::resilience::Dependency;

/// A service whose one dependency can be made to fail or hang.
#[derive(Clone)]
struct Inventory {
    store: Arc<Dependency>,
    down: Arc<AtomicBool>,
    hang: Arc<AtomicBool>,
    runs: Arc<AtomicUsize>,
}

impl Inventory {
    fn new() -> Self {
        let breaker = CircuitBreaker::builder("inventory-db")
            .count_window(10)
            .min_calls(4)
            .failure_rate_threshold(0.5)
            .open_duration(Duration::from_secs(10))
            .jitter(0.0)
            .half_open_permits(1)
            .build();
        Self {
            store: Arc::new(Dependency::with_breaker(breaker).max_concurrent(1)),
            down: Arc::default(),
            hang: Arc::default(),
            runs: Arc::default(),
        }
    }

    async fn query(&self) -> Result<u64, std::io::Error> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connect to 10.0.0.7:5432 refused",
            ));
        }
        Ok(42)
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

#[secure_tool_router]
impl Inventory {
    /// Units in stock for a SKU.
    #[secure_tool(authz = scopes("notes:read"), mode = read, breaker = self.store, timeout = "3s")]
    async fn stock(&self, args: Sku) -> Result<Stock, ToolError> {
        if args.sku.is_empty() {
            return Err(ToolError::invalid_input("`sku` must not be empty"));
        }
        Ok(Stock {
            units: self.query().await?,
        })
    }

    /// Anyone may check the service is up; no dependency.
    #[secure_tool(authz = public, mode = read)]
    async fn health(&self) -> Result<Stock, ToolError> {
        Ok(Stock { units: 0 })
    }
}

impl rmcp::ServerHandler for Inventory {}

#[tokio::test(start_paused = true)]
async fn a_failing_dependency_opens_the_breaker_then_calls_fail_fast_until_it_recovers() {
    let inventory = Inventory::new();
    let client = connect_with(inventory.clone(), Some(reader())).await;
    inventory.down.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        let result = call(&client, "stock", json!({"sku": "A-1"})).await;
        assert_eq!(category(&result).as_deref(), Some("unavailable"));
    }
    assert_eq!(inventory.store.breaker().state(), State::Open);
    assert_eq!(inventory.runs.load(Ordering::SeqCst), 4);

    // Open: the dependency is not touched, the caller learns when to come back.
    let result = call(&client, "stock", json!({"sku": "A-1"})).await;
    assert_eq!(inventory.runs.load(Ordering::SeqCst), 4);
    let error = crate::sanitize::error_facts(&result).unwrap();
    assert_eq!(error["category"], "unavailable");
    assert_eq!(error["retryable"], true);
    assert_eq!(error["retry_after_secs"], 10);
    assert!(
        super::text(&result).contains("Retry after 10 s"),
        "{result:?}"
    );
    assert!(!super::text(&result).contains("inventory-db"), "{result:?}");

    // Other tools are unaffected.
    let health = call(&client, "health", json!({})).await;
    assert_ne!(health.is_error, Some(true));

    // Recovery: after the open period one trial goes through and closes the circuit.
    inventory.down.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(10)).await;
    let result = call(&client, "stock", json!({"sku": "A-1"})).await;
    assert_eq!(result.structured_content, Some(json!({"units": 42})));
    assert_eq!(inventory.store.breaker().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn denied_and_invalid_calls_never_reach_the_breaker() {
    let inventory = Inventory::new();
    inventory.down.store(true, Ordering::SeqCst);
    let anonymous = connect_with(inventory.clone(), None).await;
    let reader = connect_with(inventory.clone(), Some(reader())).await;
    for _ in 0..50 {
        let denied = call(&anonymous, "stock", json!({"sku": "A-1"})).await;
        assert_eq!(category(&denied).as_deref(), Some("denied"));
        let malformed = call(&reader, "stock", json!({"sku": 7})).await;
        assert_eq!(category(&malformed).as_deref(), Some("invalid_input"));
        let empty = call(&reader, "stock", json!({"sku": ""})).await;
        assert_eq!(category(&empty).as_deref(), Some("invalid_input"));
    }
    let snapshot = inventory.store.breaker().snapshot();
    assert_eq!(snapshot.state, State::Closed);
    assert_eq!(snapshot.failures, 0);
    // Only the 50 empty SKUs reached the handler, and they are the caller's fault.
    assert_eq!(snapshot.ignored, 50);
    assert_eq!(inventory.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_hung_dependency_times_out_and_its_bulkhead_sheds_the_excess() {
    let inventory = Inventory::new(); // one call at a time
    inventory.hang.store(true, Ordering::SeqCst);
    let client = Arc::new(connect_with(inventory.clone(), Some(reader())).await);
    let hung = tokio::spawn({
        let client = client.clone();
        async move { call(&client, "stock", json!({"sku": "A-1"})).await }
    });
    while inventory.runs.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    // The slot is taken: the next call is shed at once.
    let shed = call(&client, "stock", json!({"sku": "A-1"})).await;
    assert_eq!(category(&shed).as_deref(), Some("overloaded"));
    assert_eq!(inventory.runs.load(Ordering::SeqCst), 1);

    let started = tokio::time::Instant::now();
    let timed_out = hung.await.unwrap();
    assert_eq!(category(&timed_out).as_deref(), Some("timeout"));
    assert!(started.elapsed() <= Duration::from_secs(3));
    assert_eq!(inventory.store.bulkhead().unwrap().in_flight(), 0);
    assert_eq!(inventory.store.breaker().snapshot().failures, 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_releases_its_slot_at_once() {
    let inventory = Inventory::new();
    inventory.hang.store(true, Ordering::SeqCst);
    let client = connect_with(inventory.clone(), Some(reader())).await;
    let arguments = json!({"sku": "A-1"}).as_object().cloned().unwrap();
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(
        CallToolRequestParams::new("stock").with_arguments(arguments),
    ));
    let handle = client
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    while inventory.store.bulkhead().unwrap().in_flight() == 0 {
        tokio::task::yield_now().await;
    }
    handle.cancel(Some("user gave up".into())).await.unwrap();
    // Released by the cancellation, long before the 3 s deadline.
    let released = tokio::time::timeout(Duration::from_secs(1), async {
        while inventory.store.bulkhead().unwrap().in_flight() != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(released.is_ok(), "the cancelled call still holds its slot");
    assert_eq!(inventory.store.breaker().snapshot().abandoned, 1);
    assert_eq!(inventory.store.breaker().snapshot().failures, 0);
}

/// A remote policy that takes its time before it allows.
struct SlowPolicy;

impl crate::authz::Authorize for SlowPolicy {
    fn authorize<'a>(
        &'a self,
        _request: crate::authz::AccessRequest<'a>,
    ) -> crate::authz::PolicyFuture<'a> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok(crate::authz::Decision::Allow)
        })
    }
}

fn slow_policy() -> crate::authz::Policy {
    crate::authz::custom(SlowPolicy)
}

#[derive(Clone)]
struct Search {
    index: Arc<Dependency>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Hits {
    hits: u64,
}

#[secure_tool_router]
impl Search {
    /// Searches, behind a slow policy service.
    #[secure_tool(authz = slow_policy(), mode = read, breaker = self.index)]
    async fn search(&self) -> Result<Hits, ToolError> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(Hits { hits: 3 })
    }

    /// Searches within 2 s of being allowed, behind the same slow policy service.
    #[secure_tool(authz = slow_policy(), mode = read, timeout = "2s")]
    async fn quick_search(&self) -> Result<Hits, ToolError> {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        Ok(Hits { hits: 1 })
    }

    /// Searches within 2 s, open to anyone the server's policy lets in.
    #[secure_tool(authz = public, mode = read, timeout = "2s")]
    async fn open_search(&self) -> Result<Hits, ToolError> {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        Ok(Hits { hits: 2 })
    }
}

impl rmcp::ServerHandler for Search {}

/// The search index, for which a call of a second or more is slow.
fn slow_index() -> Arc<Dependency> {
    Arc::new(Dependency::with_breaker(
        CircuitBreaker::builder("index")
            .slow_call_threshold(Duration::from_secs(1))
            .build(),
    ))
}

#[tokio::test(start_paused = true)]
async fn a_slow_policy_is_not_counted_as_a_slow_dependency() {
    let index = slow_index();
    let client = connect_with(
        Search {
            index: index.clone(),
        },
        Some(Principal::new("ada")),
    )
    .await;
    let result = call(&client, "search", json!({})).await;
    assert_eq!(result.is_error, Some(false));
    let snapshot = index.breaker().snapshot();
    // 1.5 s in the policy, 0.5 s in the dependency: the dependency was not slow.
    assert_eq!((snapshot.successes, snapshot.slow), (1, 0));
}

/// A service whose store's client holds the thread while it works (a synchronous
/// database driver called from the handler).
#[cfg(feature = "testing")]
#[derive(Clone)]
struct SyncStore {
    index: Arc<Dependency>,
}

#[cfg(feature = "testing")]
#[secure_tool_router]
impl SyncStore {
    /// Looks up, holding the thread for 1.5 s, or for no time.
    #[secure_tool(authz = public, mode = read, breaker = self.index)]
    async fn lookup(&self, args: Hold) -> Result<Hits, ToolError> {
        crate::testing::block_thread(Duration::from_millis(args.millis));
        Ok(Hits { hits: 1 })
    }
}

#[cfg(feature = "testing")]
impl rmcp::ServerHandler for SyncStore {}

/// How long the store holds the thread.
#[cfg(feature = "testing")]
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Hold {
    millis: u64,
}

/// A handler that never waits but holds its thread past the slow-call threshold is a slow
/// call of its dependency (its result is kept): the breaker times a call done in its first
/// poll from its start to its end, as one that waited.
#[cfg(feature = "testing")]
#[tokio::test(start_paused = true)]
async fn a_handler_that_holds_its_thread_counts_as_a_slow_call() {
    let index = slow_index();
    let client = connect_with(
        SyncStore {
            index: index.clone(),
        },
        Some(Principal::new("ada")),
    )
    .await;
    let result = call(&client, "lookup", json!({ "millis": 1500 })).await;
    assert_eq!(result.is_error, Some(false), "{result:?}");
    let result = call(&client, "lookup", json!({ "millis": 0 })).await;
    assert_eq!(result.is_error, Some(false), "{result:?}");
    let snapshot = index.breaker().snapshot();
    assert_eq!((snapshot.successes, snapshot.slow), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn a_slow_policy_does_not_eat_into_the_handlers_deadline() {
    let client = connect_with(
        Search {
            index: Arc::new(Dependency::new("index")),
        },
        Some(Principal::new("ada")),
    )
    .await;
    // 1.5 s deciding, then 1 s of a 2 s deadline: the deadline starts once the call is
    // allowed.
    let result = call(&client, "quick_search", json!({})).await;
    assert_eq!(result.is_error, Some(false), "{result:?}");
}

#[tokio::test(start_paused = true)]
async fn a_slow_server_policy_does_not_eat_into_the_handlers_deadline() {
    let server = SecureServer::builder(Search {
        index: Arc::new(Dependency::new("index")),
    })
    .server_policy(slow_policy())
    .build();
    // 1.5 s in the server's policy, then 1 s of the tool's 2 s deadline.
    let result = server
        .call("open_search", None, Principal::new("ada"))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false), "{result:?}");
}

/// Through the server: the server's policy is decided before the tool's, and its denial
/// is the answer, built in (decided at once) or custom (asked), for a tool whose own
/// policy is built in and one whose policy is custom. (Every combination, the tool's
/// denials included, is held by `route::settings`' own test.)
#[tokio::test(start_paused = true)]
async fn a_call_is_allowed_only_when_the_servers_policy_and_the_tools_both_allow() {
    use crate::authz::tests::Answer;
    let never = || crate::authz::custom(Answer(Ok(crate::authz::Decision::Deny)));
    let search = || Search {
        index: Arc::new(Dependency::new("index")),
    };
    let staff = || Principal::new("ada").with_roles(["staff"]);
    let guest = || Principal::new("bob");
    // `open_search` is public (built in), `quick_search` asks a custom policy that allows.
    let built_in = SecureServer::builder(search())
        .server_policy(roles("staff"))
        .build();
    let custom = SecureServer::builder(search())
        .server_policy(any_of([roles("staff"), never()]))
        .build();
    for server in [&built_in, &custom] {
        for tool in ["open_search", "quick_search"] {
            let allowed = server.call(tool, None, staff()).await.unwrap();
            assert_eq!(allowed.is_error, Some(false), "{tool}: {allowed:?}");
            let denied = server.call(tool, None, guest()).await.unwrap();
            assert_eq!(
                category(&denied).as_deref(),
                Some("denied"),
                "{tool}: {denied:?}"
            );
        }
    }
}

/// A tool that names no dependency is bounded too: past the server's cap, a call is
/// answered `overloaded` at once and never runs; a slot frees when a call ends.
#[tokio::test(start_paused = true)]
async fn a_tool_without_a_dependency_is_bounded_by_the_servers_cap() {
    #[derive(Clone, Default)]
    struct Exports {
        started: Arc<AtomicUsize>,
        release: Arc<tokio::sync::Notify>,
    }

    #[derive(serde::Serialize, schemars::JsonSchema)]
    struct Done {
        ok: bool,
    }

    #[secure_tool_router]
    impl Exports {
        /// Exports everything, slowly.
        #[secure_tool(authz = scopes("notes:read"), mode = read)]
        async fn export(&self) -> Result<Done, ToolError> {
            self.started.fetch_add(1, Ordering::SeqCst);
            self.release.notified().await;
            Ok(Done { ok: true })
        }
    }
    impl rmcp::ServerHandler for Exports {}

    let exports = Exports::default();
    let server = SecureServer::builder(exports.clone())
        .max_concurrent_calls(2)
        .build();
    assert_eq!(server.manifest().tools[0].max_concurrent_calls, 2);
    let mut in_flight = Vec::new();
    for _ in 0..2 {
        let server = server.clone();
        in_flight.push(tokio::spawn(async move {
            server.call("export", None, reader()).await.unwrap()
        }));
    }
    for _ in 0..100 {
        if exports.started.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(exports.started.load(Ordering::SeqCst), 2);

    let refused = server.call("export", None, reader()).await.unwrap();
    assert_eq!(category(&refused).as_deref(), Some("overloaded"));
    assert_eq!(
        exports.started.load(Ordering::SeqCst),
        2,
        "the third call ran"
    );

    exports.release.notify_waiters();
    for call in in_flight {
        assert_eq!(call.await.unwrap().is_error, Some(false));
    }
    let next = tokio::spawn({
        let server = server.clone();
        async move { server.call("export", None, reader()).await.unwrap() }
    });
    for _ in 0..100 {
        if exports.started.load(Ordering::SeqCst) == 3 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        exports.started.load(Ordering::SeqCst),
        3,
        "a freed slot is used again"
    );
    exports.release.notify_waiters();
    assert_eq!(next.await.unwrap().is_error, Some(false));
}

/// A pooled connection, held by a handler: when it is dropped, it records how many calls
/// its dependency's bulkhead still counted.
struct Connection {
    store: Arc<Dependency>,
    counted_at_drop: Arc<std::sync::Mutex<Option<usize>>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        let in_flight = self.store.bulkhead().map(|bulkhead| bulkhead.in_flight());
        *self.counted_at_drop.lock().unwrap() = in_flight;
    }
}

#[derive(Clone)]
struct Pool {
    store: Arc<Dependency>,
    counted_at_drop: Arc<std::sync::Mutex<Option<usize>>>,
}

#[secure_tool_router]
impl Pool {
    /// Takes a connection and never answers.
    #[secure_tool(authz = scopes("notes:read"), mode = read, breaker = self.store, timeout = "1s")]
    async fn hold(&self) -> Result<Stock, ToolError> {
        let _connection = Connection {
            store: self.store.clone(),
            counted_at_drop: self.counted_at_drop.clone(),
        };
        std::future::pending::<()>().await;
        Ok(Stock { units: 0 })
    }
}

impl rmcp::ServerHandler for Pool {}

/// What a handler holds (a pooled connection) is released before its slot of the
/// dependency's bulkhead: the bulkhead bounds what handlers hold, not only how many run.
#[tokio::test(start_paused = true)]
async fn a_handler_past_its_deadline_is_dropped_before_its_slot_is_given_back() {
    let pool = Pool {
        store: Arc::new(
            Dependency::with_breaker(CircuitBreaker::builder("pool").build()).max_concurrent(1),
        ),
        counted_at_drop: Arc::default(),
    };
    let server = SecureServer::new(pool.clone());
    let timed_out = server.call("hold", None, reader()).await.unwrap();
    assert_eq!(category(&timed_out).as_deref(), Some("timeout"));
    assert_eq!(
        *pool.counted_at_drop.lock().unwrap(),
        Some(1),
        "the handler was dropped after its slot was given back"
    );
    assert_eq!(pool.store.bulkhead().unwrap().in_flight(), 0);
}

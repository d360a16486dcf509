//! Per-call overhead of the guard `#[secure_tool]` generates, on the success path (the scope
//! policy allows, the breaker is closed, the deadline is far), at two levels:
//!
//! - **guard**: `policy.evaluate(..)` + `Limits::run(handler)` (deadline, bulkhead, breaker,
//!   panic catching, outcome recorded) against `handler.await`, for a handler that is
//!   ready at once and for one that is pending once (it awaits one wake-up, like a
//!   oneshot); and tower-resilience's circuit breaker layer around the same handler.
//!   Targets: ≤ 50 ns added when ready, ≤ 150 ns when pending, no allocation added.
//! - **tools/call**: a `#[secure_tool]` tool served by `SecureServer` against the same tool
//!   written with rmcp's own `#[tool_router]`/`#[tool_handler]`, both called by rmcp's
//!   client over an in-memory duplex pipe. Target: ≤ 5 % slower. Plus `SecureServer::call`
//!   (the guarded path without a transport) against the same work done by hand.
//! - **Cedar**: a tool decided by a Cedar policy set (`authz = cedar()`, and with the
//!   resource read from the arguments) against the same tool with a scope policy, through
//!   `SecureServer::call`.
//! - **confirmation and per-caller lists**: a write tool with `confirm = ...` whose host
//!   says yes (the elicitation's round trip included) against the same tool without, over
//!   rmcp's duplex; `tools/list` and `SecureServer::call` of a server with
//!   `ToolLists::PerCaller` against the same server listing every tool.
//! - **argument check**: what checking the arguments against the tool's size limits and
//!   published input schema (`SecureRoute::check_arguments`, the check the guarded call
//!   makes before parsing) adds to the call by hand, for a one-field object and a ~6 KiB
//!   one with nested items and every kind of constraint.
//!
//! `cargo bench -p secure-tool-benches --bench overhead` runs divan's benchmarks, then the
//! interleaved comparisons that print each figure against its baseline with the verdict.

#[path = "support/mod.rs"]
mod support;

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::time::Duration;

use divan::Bencher;
use rmcp::handler::server::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ElicitRequestParams,
    ElicitResult, ElicitationAction, Implementation, JsonObject,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::{ClientHandler, ErrorData, RoleClient, ServerHandler, tool, tool_handler, tool_router};
use secure_tool::authz::{AccessRequest, Mode, Policy, Principal, scopes};
use secure_tool::breaker::Outcome;
use secure_tool::cedar::cedar;
use secure_tool::prelude::*;
use secure_tool::resilience::{Dependency, Limits};
use secure_tool::server::ToolLists;
use tokio::runtime::Runtime;
use tower::{Layer as _, Service, ServiceExt as _};
use tower_resilience_circuitbreaker::{CircuitBreaker, CircuitBreakerLayer, DefaultClassifier};

use support::{Comparison, Target, YieldOnce, block_on, compare};

const TIMEOUT: Duration = Duration::from_secs(5);
const AUTHZ_TIMEOUT: Duration = Duration::from_secs(2);
const SCOPE: &str = "records:read";
const WRITE_SCOPE: &str = "records:write";
/// Sessions that set a log level, besides the one measured (the row's label says 256).
const LEVELLED_SESSIONS: usize = 256;

fn main() {
    divan::main();
    if support::bench_mode() {
        comparisons();
    }
}

// ---------------------------------------------------------------------------------------
// The handlers and the guard, as the generated wrapper runs them.

async fn ready(x: u64) -> Result<u64, ToolError> {
    Ok(black_box(x).wrapping_add(1))
}

async fn pending(x: u64) -> Result<u64, ToolError> {
    YieldOnce::default().await;
    Ok(black_box(x).wrapping_add(1))
}

/// What the code `#[secure_tool(authz = scopes(..), breaker = self.store)]` generates runs
/// around the handler: the policy, then the limits of the tool's dependency.
struct Guard {
    policy: Policy,
    principal: Principal,
    store: Dependency,
}

impl Guard {
    fn new() -> Self {
        Self {
            policy: scopes(SCOPE),
            principal: Principal::new("ada").with_scopes([SCOPE]),
            store: Dependency::new("store"),
        }
    }

    async fn call<T>(
        &self,
        handler: impl Future<Output = Result<T, ToolError>>,
    ) -> Result<T, ToolError> {
        let request = AccessRequest::new("lookup", Mode::Read, &self.principal);
        if self.policy.evaluate(request, AUTHZ_TIMEOUT).await.is_err() {
            return Err(ToolError::public(ErrorCategory::Denied, "denied"));
        }
        Limits::new(TIMEOUT)
            .with_dependency(&self.store)
            .run(handler)
            .await
    }

    /// What the guarantees cannot do without, by hand and nothing else, around a handler
    /// ready at once: the clock read at the call's start (its deadline, the breaker's
    /// window) and at its end (a handler that held its thread is timed), the bulkhead's
    /// slot, the breaker's admission and record, the scope check. The guard's budget is
    /// measured against this floor; what is above it is the guard's own plumbing.
    fn floor<T>(
        &self,
        handler: impl Future<Output = Result<T, ToolError>>,
    ) -> Result<T, ToolError> {
        let start = tokio::time::Instant::now();
        let bulkhead = self.store.bulkhead().expect("a bulkhead");
        let slot = bulkhead.try_acquire().expect("a free slot");
        let permit = self.store.breaker().try_acquire_at(start).expect("closed");
        assert!(black_box(&self.policy).allows_locally(black_box(&self.principal)));
        let result = block_on(handler);
        permit.record_at(Outcome::Success, tokio::time::Instant::now());
        drop(slot);
        result
    }

    async fn authorize_only<T>(
        &self,
        handler: impl Future<Output = Result<T, ToolError>>,
    ) -> Result<T, ToolError> {
        let request = AccessRequest::new("lookup", Mode::Read, &self.principal);
        if self.policy.evaluate(request, AUTHZ_TIMEOUT).await.is_err() {
            return Err(ToolError::public(ErrorCategory::Denied, "denied"));
        }
        handler.await
    }
}

/// A runtime whose timer driver has parked once while a timer due before any deadline of
/// the benchmarks was registered (the timer is returned, to be kept): a deadline set then
/// goes into the timer wheel without waking the driver, as in a serving runtime with other
/// calls in flight. (The driver of [`runtime`] never parks: every deadline set is the
/// earliest it knows of, and wakes it through its I/O driver, a system call.)
fn runtime_with_an_earlier_timer() -> (Runtime, Pin<Box<tokio::time::Sleep>>) {
    let rt = runtime();
    let mut earlier = {
        let _entered = rt.enter();
        Box::pin(tokio::time::sleep(TIMEOUT / 2))
    };
    rt.block_on(async {
        // Its first poll puts it in the timer wheel.
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(earlier.as_mut().poll(cx)));
        assert!(first.await.is_pending());
        // A task that yields makes the scheduler park the driver without blocking; parking
        // notes the earliest timer as the driver's next wake-up.
        tokio::task::yield_now().await;
    });
    (rt, earlier)
}

/// A current-thread runtime: its timer driver serves the deadlines; the futures themselves
/// are polled by [`block_on`] inside `Runtime::enter`.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// tower-resilience's circuit breaker (default configuration) around `service`.
fn tower_breaker<S>(service: S) -> CircuitBreaker<S, DefaultClassifier> {
    CircuitBreakerLayer::builder()
        .build()
        .expect("a valid configuration")
        .layer(service)
}

/// One call through a tower service, as a tower stack makes it: wait until ready, then call.
async fn tower_call<S: Service<u64>>(service: &mut S, x: u64) -> Result<S::Response, S::Error> {
    service.ready().await?.call(x).await
}

// ---------------------------------------------------------------------------------------
// divan: the guard.

#[divan::bench_group(name = "guard: ready handler")]
mod guard_ready {
    use super::*;

    #[divan::bench]
    fn bare(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        bencher.bench_local(|| block_on(ready(1)));
    }

    #[divan::bench]
    fn secure_tool(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        let guard = Guard::new();
        bencher.bench_local(|| block_on(guard.call(ready(1))));
    }

    #[divan::bench]
    fn tower_resilience(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        let mut service = tower_breaker(tower::service_fn(ready));
        bencher.bench_local(|| block_on(tower_call(&mut service, 1)));
    }

    #[divan::bench]
    fn policy_only(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        let guard = Guard::new();
        bencher.bench_local(|| block_on(guard.authorize_only(ready(1))));
    }

    #[divan::bench]
    fn floor(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        let guard = Guard::new();
        bencher.bench_local(|| guard.floor(ready(1)));
    }

    #[divan::bench]
    fn limits_without_dependency(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        bencher.bench_local(|| block_on(Limits::new(TIMEOUT).run(ready(1))));
    }
}

/// Where the guard's nanoseconds go: each part alone, ready path.
#[divan::bench_group(name = "guard: parts")]
mod guard_parts {
    use super::*;
    use futures::FutureExt as _;

    #[divan::bench]
    fn tokio_instant_now(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        bencher.bench_local(tokio::time::Instant::now);
    }

    #[divan::bench]
    fn tokio_timeout_at_ready(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        bencher.bench_local(|| block_on(tokio::time::timeout_at(deadline, ready(1))));
    }

    #[divan::bench]
    fn catch_unwind_ready(bencher: Bencher) {
        bencher.bench_local(|| block_on(std::panic::AssertUnwindSafe(ready(1)).catch_unwind()));
    }

    #[divan::bench]
    fn breaker_acquire_record(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        let store = Dependency::new("store");
        let now = tokio::time::Instant::now();
        bencher.bench_local(|| {
            let permit = store.breaker().try_acquire_at(now).expect("closed");
            permit.record_at(Outcome::Success, now);
        });
    }

    #[divan::bench]
    fn scope_check(bencher: Bencher) {
        let guard = Guard::new();
        bencher
            .bench_local(|| black_box(&guard.policy).allows_locally(black_box(&guard.principal)));
    }

    #[divan::bench]
    fn policy_evaluate(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        let guard = Guard::new();
        bencher.bench_local(|| {
            let request = AccessRequest::new("lookup", Mode::Read, &guard.principal);
            block_on(black_box(&guard.policy).evaluate(request, AUTHZ_TIMEOUT)).is_ok()
        });
    }

    #[divan::bench]
    fn bulkhead_acquire_release(bencher: Bencher) {
        let store = Dependency::new("store");
        let bulkhead = store.bulkhead().expect("a bulkhead");
        bencher.bench_local(|| drop(black_box(bulkhead.try_acquire())));
    }
}

#[divan::bench_group(name = "guard: handler pending once")]
mod guard_pending {
    use super::*;

    #[divan::bench]
    fn bare(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        bencher.bench_local(|| block_on(pending(1)));
    }

    #[divan::bench]
    fn secure_tool(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        let guard = Guard::new();
        bencher.bench_local(|| block_on(guard.call(pending(1))));
    }

    #[divan::bench]
    fn tower_resilience(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        let mut service = tower_breaker(tower::service_fn(pending));
        bencher.bench_local(|| block_on(tower_call(&mut service, 1)));
    }
}

// ---------------------------------------------------------------------------------------
// The same tool twice: secure-tool's and plain rmcp's.

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Lookup {
    /// The record's id.
    id: u64,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Record {
    id: u64,
    active: bool,
}

fn record(id: u64) -> Record {
    Record {
        id,
        active: id.is_multiple_of(2),
    }
}

/// A large argument object: every kind of constraint schemars emits, 50 nested items.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Batch {
    #[schemars(length(min = 1, max = 200))]
    title: String,
    #[schemars(length(max = 4096))]
    body: String,
    #[schemars(range(min = 1, max = 1000))]
    limit: u32,
    kind: Kind,
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,64}$"))]
    slug: String,
    #[schemars(length(max = 100))]
    items: Vec<Item>,
    labels: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Full,
    Delta,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Item {
    id: u64,
    #[schemars(length(max = 64))]
    name: String,
    #[schemars(length(max = 8))]
    tags: Vec<String>,
    weight: f64,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Imported {
    items: usize,
    delta: bool,
}

fn imported(batch: &Batch) -> Imported {
    Imported {
        items: batch
            .items
            .iter()
            .filter(|item| item.id > 0 && !item.name.is_empty() && item.weight >= 0.0)
            .map(|item| item.tags.len())
            .sum::<usize>()
            + batch.labels.len()
            + batch.title.len()
            + batch.slug.len(),
        delta: matches!(batch.kind, Kind::Delta) && batch.limit > 0 && !batch.body.is_empty(),
    }
}

/// About 6 KiB of JSON: 50 items of 3 tags, a 2 KiB body, 10 labels.
fn large_arguments() -> JsonObject {
    let items: Vec<serde_json::Value> = (0..50)
        .map(|id| {
            serde_json::json!({
                "id": id,
                "name": format!("item number {id}"),
                "tags": ["red", "green", "blue"],
                "weight": f64::from(id) * 0.5,
            })
        })
        .collect();
    let labels: serde_json::Map<String, serde_json::Value> = (0..10)
        .map(|n| (format!("label-{n}"), format!("value {n}").into()))
        .collect();
    let serde_json::Value::Object(object) = serde_json::json!({
        "title": "the weekly import",
        "body": "lorem ipsum dolor sit amet ".repeat(76),
        "limit": 500,
        "kind": "delta",
        "slug": "weekly-import-42",
        "items": items,
        "labels": labels,
    }) else {
        unreachable!()
    };
    object
}

/// [`by_hand`] for the large tool: parse, handler, render, without any guard.
async fn by_hand_large(arguments: Option<JsonObject>) -> Result<CallToolResult, ErrorData> {
    let value = serde_json::Value::Object(arguments.unwrap_or_default());
    let args: Batch = serde_json::from_value(value)
        .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
    let out = async { Ok::<_, ToolError>(imported(&args)) }
        .await
        .map_err(|_| ErrorData::internal_error("failed", None))?;
    let value =
        serde_json::to_value(out).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    Ok(CallToolResult::structured(value))
}

#[derive(Clone)]
struct Secured {
    store: Dependency,
}

#[secure_tool_router]
impl Secured {
    /// Looks a record up.
    #[secure_tool(authz = scopes("records:read"), mode = read, breaker = self.store, timeout = "5s")]
    async fn lookup(&self, args: Lookup) -> Result<Record, ToolError> {
        Ok(record(args.id))
    }

    /// Looks a record up, each caller at most a million times a second: `lookup` with a
    /// rate limit of its own that the bench never reaches.
    #[secure_tool(
        authz = scopes("records:read"),
        mode = read,
        breaker = self.store,
        timeout = "5s",
        rate = "1000000/s"
    )]
    async fn lookup_limited(&self, args: Lookup) -> Result<Record, ToolError> {
        Ok(record(args.id))
    }

    /// Looks a record up, decided by Cedar (`lookup` with a Cedar policy in place of the
    /// scope policy: the action and the tool, no entity to load).
    #[secure_tool(authz = cedar(), mode = read, breaker = self.store, timeout = "5s")]
    async fn lookup_cedar(&self, args: Lookup) -> Result<Record, ToolError> {
        Ok(record(args.id))
    }

    /// Looks a record up, decided by Cedar on the record the call names (`Record::"<id>"`,
    /// read from the arguments; no entity loader).
    #[secure_tool(
        authz = cedar().resource("Record", "id"),
        mode = read,
        breaker = self.store,
        timeout = "5s"
    )]
    async fn lookup_record(&self, args: Lookup) -> Result<Record, ToolError> {
        Ok(record(args.id))
    }

    /// Imports a batch.
    #[secure_tool(authz = scopes("records:read"), mode = read, timeout = "5s")]
    async fn import(&self, args: Batch) -> Result<Imported, ToolError> {
        Ok(imported(&args))
    }

    /// Archives a record: a write tool.
    #[secure_tool(authz = scopes("records:write"), mode = write, timeout = "5s")]
    async fn archive(&self, args: Lookup, _access: WriteAccess<'_>) -> Result<Record, ToolError> {
        Ok(record(args.id))
    }

    /// Archives a record once the user says yes: `archive` with a confirmation.
    #[secure_tool(
        authz = scopes("records:write"),
        mode = write,
        timeout = "5s",
        confirm = "Archive record {id}?"
    )]
    async fn archive_confirmed(
        &self,
        args: Lookup,
        _access: WriteAccess<'_>,
    ) -> Result<Record, ToolError> {
        Ok(record(args.id))
    }
}

impl ServerHandler for Secured {}

fn secured() -> SecureServer<Secured> {
    secured_listing(ToolLists::All)
}

fn secured_listing(lists: ToolLists) -> SecureServer<Secured> {
    SecureServer::builder(Secured {
        store: Dependency::new("store"),
    })
    .local_principal(Principal::new("ada").with_scopes([SCOPE, WRITE_SCOPE]))
    .tool_lists(lists)
    .build()
}

/// A host whose user says yes to every confirmation.
#[derive(Clone)]
struct Agreeing;

impl ClientHandler for Agreeing {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("overhead-bench", "1"),
        )
    }

    async fn create_elicitation(
        &self,
        _: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let mut yes = ElicitResult::new(ElicitationAction::Accept);
        yes.content = Some(serde_json::json!({ "confirm": true }));
        Ok(yes)
    }
}

/// The bare rmcp baseline. The router is kept in a field, as rmcp's docs recommend for
/// servers that are called often (`#[tool_handler]`'s default rebuilds it on every call).
#[derive(Clone)]
struct Bare {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Bare {
    /// Looks a record up.
    #[tool(description = "Looks a record up.")]
    async fn lookup(
        &self,
        Parameters(args): Parameters<Lookup>,
    ) -> Result<Json<Record>, ErrorData> {
        Ok(Json(record(args.id)))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Bare {}

fn bare() -> Bare {
    Bare {
        tool_router: Bare::tool_router(),
    }
}

fn arguments() -> JsonObject {
    let mut arguments = JsonObject::new();
    arguments.insert("id".into(), 42.into());
    arguments
}

/// A tools/call of `lookup` with [`arguments`] through `client`, which must succeed.
fn call_over<C: ClientHandler>(
    rt: &Runtime,
    client: &RunningService<RoleClient, C>,
) -> CallToolResult {
    call_tool_over(rt, client, "lookup")
}

/// A tools/call of `tool` with [`arguments`] through `client`, which must succeed.
fn call_tool_over<C: ClientHandler>(
    rt: &Runtime,
    client: &RunningService<RoleClient, C>,
    tool: &'static str,
) -> CallToolResult {
    let request = CallToolRequestParams::new(tool).with_arguments(arguments());
    let result = rt
        .block_on(client.call_tool(request))
        .expect("a tool result");
    debug_assert_eq!(result.is_error, Some(false), "{tool}: {result:?}");
    result
}

/// [`LEVELLED_SESSIONS`] sessions of `server`, each of which has set its log level.
// `logging/setLevel` is deprecated in the 2026-07-28 revision; 2025-11-25 clients send it.
#[allow(deprecated)]
fn sessions_with_a_log_level(
    rt: &Runtime,
    server: &SecureServer<Secured>,
) -> Vec<RunningService<RoleClient, ()>> {
    use rmcp::model::{LoggingLevel, SetLevelRequestParams};
    (0..LEVELLED_SESSIONS)
        .map(|_| {
            let session = rt.block_on(support::connect_secure(server.clone()));
            rt.block_on(session.set_level(SetLevelRequestParams::new(LoggingLevel::Debug)))
                .expect("logging/setLevel is answered");
            session
        })
        .collect()
}

/// What `SecureServer::call` does for this tool, by hand and without any guard: parse the
/// arguments, run the handler, render the structured result.
async fn by_hand(arguments: Option<JsonObject>) -> Result<CallToolResult, ErrorData> {
    let value = serde_json::Value::Object(arguments.unwrap_or_default());
    let args: Lookup = serde_json::from_value(value)
        .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
    let out = async { Ok::<_, ToolError>(record(args.id)) }
        .await
        .map_err(|_| ErrorData::internal_error("failed", None))?;
    let value =
        serde_json::to_value(out).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    Ok(CallToolResult::structured(value))
}

#[divan::bench_group(name = "tools/call over rmcp duplex", sample_count = 200)]
mod tools_call {
    use super::*;

    #[divan::bench]
    fn bare_rmcp(bencher: Bencher) {
        let rt = runtime();
        let client = rt.block_on(support::connect(bare()));
        bencher.bench_local(|| call_over(&rt, &client));
    }

    #[divan::bench]
    fn secure_tool(bencher: Bencher) {
        let rt = runtime();
        let client = rt.block_on(support::connect_secure(secured()));
        bencher.bench_local(|| call_over(&rt, &client));
    }
}

#[divan::bench_group(name = "in-process call, no transport")]
mod in_process {
    use super::*;

    #[divan::bench]
    fn by_hand_unguarded(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        let args = arguments();
        bencher.bench_local(|| block_on(by_hand(Some(args.clone()))));
    }

    #[divan::bench]
    fn secure_server_call(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        let server = secured();
        let principal = Principal::new("ada").with_scopes([SCOPE]);
        let args = arguments();
        bencher
            .bench_local(|| block_on(server.call("lookup", Some(args.clone()), principal.clone())));
    }
}

// ---------------------------------------------------------------------------------------
// The interleaved comparisons, with verdicts.

fn comparisons() {
    let mut rows: Vec<Comparison> = Vec::new();
    {
        let rt = runtime();
        let _entered = rt.enter();
        let guard = Guard::new();
        let mut tower_ready = tower_breaker(tower::service_fn(ready));
        let mut tower_pending = tower_breaker(tower::service_fn(pending));
        println!();
        println!(
            "future sizes: handler {} B, Limits::run(handler) {} B, policy.evaluate {} B, guard (both) {} B",
            std::mem::size_of_val(&ready(1)),
            std::mem::size_of_val(
                &Limits::new(TIMEOUT)
                    .with_dependency(&guard.store)
                    .run(ready(1))
            ),
            std::mem::size_of_val(&guard.policy.evaluate(
                AccessRequest::new("lookup", Mode::Read, &guard.principal),
                AUTHZ_TIMEOUT
            )),
            std::mem::size_of_val(&guard.call(ready(1))),
        );

        rows.push(compare(
            "guard (authz + limits), ready handler",
            "bare handler",
            Target::AddedNanos(50.0),
            || drop(black_box(block_on(ready(1)))),
            || drop(black_box(block_on(guard.call(ready(1))))),
        ));
        rows.push(compare(
            "guard (authz + limits), handler pending once",
            "bare handler",
            Target::AddedNanos(150.0),
            || drop(black_box(block_on(pending(1)))),
            || drop(black_box(block_on(guard.call(pending(1))))),
        ));
        rows.push(compare(
            "  floor: clock at start and end, bulkhead, breaker, scope check, by hand",
            "bare handler",
            Target::AddedNanos(50.0),
            || drop(black_box(block_on(ready(1)))),
            || drop(black_box(guard.floor(ready(1)))),
        ));
        rows.push(compare(
            "  of which: scope policy only, ready",
            "bare handler",
            Target::None,
            || drop(black_box(block_on(ready(1)))),
            || drop(black_box(block_on(guard.authorize_only(ready(1))))),
        ));
        rows.push(compare(
            "  of which: deadline only (no breaker), ready",
            "bare handler",
            Target::None,
            || drop(black_box(block_on(ready(1)))),
            || drop(black_box(block_on(Limits::new(TIMEOUT).run(ready(1))))),
        ));
        rows.push(compare(
            "tower-resilience breaker, ready handler",
            "bare handler",
            Target::None,
            || drop(black_box(block_on(ready(1)))),
            || drop(black_box(block_on(tower_call(&mut tower_ready, 1)))),
        ));
        rows.push(compare(
            "tower-resilience breaker, pending once",
            "bare handler",
            Target::None,
            || drop(black_box(block_on(pending(1)))),
            || drop(black_box(block_on(tower_call(&mut tower_pending, 1)))),
        ));
        // tokio's own deadline around the same handler, on the runtime entered.
        let deadline_alone = |label| {
            compare(
                label,
                "bare handler",
                Target::None,
                || drop(black_box(block_on(pending(1)))),
                || {
                    drop(black_box(block_on(tokio::time::timeout(
                        TIMEOUT,
                        pending(1),
                    ))))
                },
            )
        };
        rows.push(deadline_alone(
            "  of which: a tokio deadline alone (timeout), pending once",
        ));
        let mut tower_ready = tower_breaker(tower::service_fn(ready));
        rows.push(compare(
            "secure-tool guard, ready handler",
            "tower-resilience",
            Target::None,
            || drop(black_box(block_on(tower_call(&mut tower_ready, 1)))),
            || drop(black_box(block_on(guard.call(ready(1))))),
        ));
        let mut tower_pending = tower_breaker(tower::service_fn(pending));
        rows.push(compare(
            "secure-tool guard, pending once",
            "tower-resilience",
            Target::None,
            || drop(black_box(block_on(tower_call(&mut tower_pending, 1)))),
            || drop(black_box(block_on(guard.call(pending(1))))),
        ));
        // The same pending calls on a runtime whose timer driver already waits for an
        // earlier timer, as a serving runtime's does while other calls are in flight.
        drop(_entered);
        let (busy, _earlier) = runtime_with_an_earlier_timer();
        let entered = busy.enter();
        rows.push(compare(
            "guard, pending once, driver already awake for an earlier timer",
            "bare handler",
            Target::None,
            || drop(black_box(block_on(pending(1)))),
            || drop(black_box(block_on(guard.call(pending(1))))),
        ));
        rows.push(deadline_alone(
            "  of which: a tokio deadline alone, same driver",
        ));
        drop(entered);
        let _entered = rt.enter();
        let server = secured();
        let principal = Principal::new("ada").with_scopes([SCOPE]);
        let args = arguments();
        // Rate limits: 64 callers in turn (each caller's bucket is a table entry), far
        // below their limits, so that every call is let through and runs.
        let callers: Vec<Principal> = (0..64)
            .map(|n| Principal::new(format!("caller-{n}")).with_scopes([SCOPE]))
            .collect();
        let turn = std::cell::Cell::new(0usize);
        // One call of `tool` on `server` by the next caller, which must run.
        let call = |server: &SecureServer<Secured>, tool: &str| {
            let n = turn.get();
            turn.set((n + 1) % callers.len());
            let answer = block_on(server.call(tool, Some(args.clone()), callers[n].clone()));
            debug_assert_eq!(answer.as_ref().map(|r| r.is_error), Ok(Some(false)));
            drop(black_box(answer));
        };
        rows.push(compare(
            "tool with its own rate limit (SecureServer::call)",
            "the same tool without",
            Target::None,
            || call(&server, "lookup"),
            || call(&server, "lookup_limited"),
        ));
        let limited = SecureServer::builder(Secured {
            store: Dependency::new("store"),
        })
        .rate_limit(secure_tool::rate::Rate::per_second(1_000_000))
        .build();
        rows.push(compare(
            "server rate limit (SecureServer::call)",
            "the same server without",
            Target::None,
            || call(&server, "lookup"),
            || call(&limited, "lookup"),
        ));
        // Per-caller lists: a hidden tool is answered as a missing one, so each call asks
        // the tool's policy whether the caller could pass it.
        let per_caller = secured_listing(ToolLists::PerCaller);
        rows.push(compare(
            "SecureServer::call, per-caller lists",
            "every tool listed",
            Target::None,
            || call(&server, "lookup"),
            || call(&per_caller, "lookup"),
        ));
        // Metrics: the same server, counting every call (the clock read for the latency
        // histogram and a few relaxed increments) once a registry asked for its series.
        let counted = SecureServer::builder(Secured {
            store: Dependency::new("store"),
        })
        .build();
        let mut registry = secure_tool::metrics::prometheus_client::registry::Registry::default();
        counted.register_metrics(&mut registry);
        rows.push(compare(
            "metrics on (SecureServer::call)",
            "the same server without",
            Target::None,
            || call(&server, "lookup"),
            || call(&counted, "lookup"),
        ));
        // Cedar: the same tool decided by a Cedar policy set (the scope test written in
        // Cedar), against the built-in scope policy.
        let policies = secure_tool::cedar::CedarPolicies::from_text(
            "bench.cedar",
            r#"permit(principal, action in [Action::"lookup_cedar", Action::"lookup_record"], resource)
               when { principal.scopes.contains("records:read") };"#,
        )
        .and_then(|set| set.with_schema("bench.cedarschema", "entity Record;"))
        .expect("the bench's policies parse");
        let cedar = SecureServer::builder(Secured {
            store: Dependency::new("store"),
        })
        .cedar(policies)
        .expect("the bench's policies validate")
        .build();
        rows.push(compare(
            "Cedar policy (SecureServer::call)",
            "scope policy",
            Target::None,
            || call(&cedar, "lookup"),
            || call(&cedar, "lookup_cedar"),
        ));
        rows.push(compare(
            "Cedar policy, resource from the arguments",
            "scope policy",
            Target::None,
            || call(&cedar, "lookup"),
            || call(&cedar, "lookup_record"),
        ));
        rows.push(compare(
            "SecureServer::call, in process",
            "same work by hand",
            Target::None,
            || drop(black_box(block_on(by_hand(Some(args.clone()))))),
            || {
                drop(black_box(block_on(server.call(
                    "lookup",
                    Some(args.clone()),
                    principal.clone(),
                ))))
            },
        ));
        // What checking the arguments (size limits, then the published input schema)
        // adds to a call: the unguarded call by hand, against the same with the check that
        // `SecureServer::call` makes first.
        let lookup = server.tools().route("lookup").expect("the lookup tool");
        let small = serde_json::Value::Object(args.clone());
        assert_eq!(lookup.check_arguments(&small), Ok(()));
        rows.push(compare(
            "argument check, small object (1 field)",
            "the call by hand",
            Target::None,
            || drop(black_box(block_on(by_hand(Some(args.clone()))))),
            || {
                drop(black_box(lookup.check_arguments(black_box(&small))));
                drop(black_box(block_on(by_hand(Some(args.clone())))));
            },
        ));
        let import = server.tools().route("import").expect("the import tool");
        let large_args = large_arguments();
        let large = serde_json::Value::Object(large_args.clone());
        assert_eq!(import.check_arguments(&large), Ok(()));
        println!(
            "large argument object: {} bytes of JSON",
            serde_json::to_vec(&large).map_or(0, |json| json.len())
        );
        rows.push(compare(
            "argument check, large object (~6 KiB)",
            "the call by hand",
            Target::None,
            || drop(black_box(block_on(by_hand_large(Some(large_args.clone()))))),
            || {
                drop(black_box(import.check_arguments(black_box(&large))));
                drop(black_box(block_on(by_hand_large(Some(large_args.clone())))));
            },
        ));
        rows.push(compare(
            "SecureServer::call, large object",
            "the call by hand",
            Target::None,
            || drop(black_box(block_on(by_hand_large(Some(large_args.clone()))))),
            || {
                drop(black_box(block_on(server.call(
                    "import",
                    Some(large_args.clone()),
                    principal.clone(),
                ))))
            },
        ));
    }
    {
        let rt = runtime();
        let plain = rt.block_on(support::connect(bare()));
        let secure = rt.block_on(support::connect_secure(secured()));
        let size = |r: &CallToolResult| serde_json::to_string(r).map_or(0, |json| json.len());
        println!(
            "tools/call results: rmcp {} B of JSON, secure-tool {} B (the same content and structured content)",
            size(&call_over(&rt, &plain)),
            size(&call_over(&rt, &secure)),
        );
        rows.push(compare(
            "tools/call over rmcp duplex: #[secure_tool]",
            "rmcp #[tool]",
            Target::Ratio(1.05),
            || drop(black_box(call_over(&rt, &plain))),
            || drop(black_box(call_over(&rt, &secure))),
        ));
        // Confirmation: the server asks the host (elicitation/create, a second round trip
        // on the same pipe) and runs the tool once it says yes.
        let agreeing = rt.block_on(support::connect_secure_as(secured(), Agreeing));
        for tool in ["archive", "archive_confirmed"] {
            let result = call_tool_over(&rt, &agreeing, tool);
            assert_eq!(result.is_error, Some(false), "{tool}: {result:?}");
        }
        rows.push(compare(
            "write tool with confirm, host says yes (duplex)",
            "the same tool without",
            Target::None,
            || drop(black_box(call_tool_over(&rt, &agreeing, "archive"))),
            || {
                drop(black_box(call_tool_over(
                    &rt,
                    &agreeing,
                    "archive_confirmed",
                )))
            },
        ));
        // Per-caller lists: each tool's policy asked whether the caller could pass it,
        // when listing and (a hidden tool is a missing one) on each call.
        let per_caller = rt.block_on(support::connect_secure(secured_listing(
            ToolLists::PerCaller,
        )));
        let list = |client: &RunningService<RoleClient, ()>| {
            rt.block_on(client.list_tools(None))
                .expect("a tools/list result")
        };
        // The local caller holds every scope: both servers list all seven tools.
        assert_eq!(list(&secure).tools.len(), 7);
        assert_eq!(list(&per_caller).tools.len(), 7);
        let list = |client| drop(black_box(list(client)));
        rows.push(compare(
            "tools/list, per-caller lists (duplex, 7 tools)",
            "every tool listed",
            Target::None,
            || list(&secure),
            || list(&per_caller),
        ));
        // Log levels: each call looks up the level its session set with
        // `logging/setLevel`; here 256 other sessions of the server have set one.
        let levelled = secured();
        let crowd = sessions_with_a_log_level(&rt, &levelled);
        let levelled = rt.block_on(support::connect_secure(levelled));
        rows.push(compare(
            "tools/call (duplex), 256 other sessions set a log level",
            "no session set one",
            Target::None,
            || drop(black_box(call_over(&rt, &secure))),
            || drop(black_box(call_over(&rt, &levelled))),
        ));
        drop(crowd);
    }
    support::print_comparisons("overhead on the success path", &rows);
}

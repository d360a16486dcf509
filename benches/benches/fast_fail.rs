//! Fast-fail latency with the dependency's breaker open, against the call's deadline: a
//! handler that would hang until its 1 s deadline is never started, and the caller gets
//! "unavailable" (with a retry-after hint) at once.
//!
//! - the guard alone (`Limits::run`), breaker isolated by an operator and breaker opened by
//!   consecutive failures. Target: ≤ 1 µs;
//! - tower-resilience's breaker forced open, for reference;
//! - `SecureServer::call` and a whole tools/call over rmcp's duplex transport, where the
//!   rejection is also rendered as a sanitized MCP error result (incident id, JSON).
//!
//! The baseline, the deadline path, is measured in real time in the same run: two calls of
//! the same hanging handler with the breaker closed.
//!
//! `cargo bench -p secure-tool-benches --bench fast_fail`

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use divan::Bencher;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServerHandler};
use secure_tool::breaker::{CircuitBreaker, State};
use secure_tool::prelude::*;
use secure_tool::resilience::{Dependency, Limits};
use tokio::runtime::Runtime;
use tower::{Layer as _, Service, ServiceExt as _};
use tower_resilience_circuitbreaker::{CircuitBreakerLayer, DefaultClassifier};

use support::{Comparison, Target, block_on};

/// The deadline of the hanging dependency.
const DEADLINE: Duration = Duration::from_secs(1);
const SCOPE: &str = "search";

fn main() {
    divan::main();
    if support::bench_mode() {
        comparisons();
    }
}

/// A dependency call that never answers: only the deadline ends it.
async fn hangs() -> Result<u64, ToolError> {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(0)
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A dependency whose breaker an operator isolated (forced open).
fn isolated() -> Dependency {
    let dependency = Dependency::new("search");
    dependency.breaker().isolate();
    dependency
}

/// A dependency whose breaker opened after five failures in a row, for an hour.
fn opened_by_failures(rt: &Runtime) -> Dependency {
    let _entered = rt.enter();
    let dependency = Dependency::with_breaker(
        CircuitBreaker::builder("search")
            .consecutive_failures(5)
            .open_duration(Duration::from_secs(3600))
            .max_open_duration(Duration::from_secs(3600))
            .jitter(0.0)
            .build(),
    );
    for _ in 0..5 {
        let failing = async { Err::<u64, _>(ToolError::unavailable("connection refused")) };
        let _ = block_on(
            Limits::new(DEADLINE)
                .with_dependency(&dependency)
                .run(failing),
        );
    }
    assert_eq!(dependency.breaker().state(), State::Open);
    dependency
}

fn guarded(dependency: &Dependency) -> Result<u64, ToolError> {
    let result = block_on(
        Limits::new(DEADLINE)
            .with_dependency(dependency)
            .run(hangs()),
    );
    debug_assert_eq!(
        result.as_ref().map_err(ToolError::category).unwrap_err(),
        ErrorCategory::Unavailable
    );
    result
}

/// tower-resilience's breaker around the hanging service, forced open.
fn tower_open(rt: &Runtime) -> impl Service<u64, Response = u64, Error = impl Sized> {
    let service = CircuitBreakerLayer::<DefaultClassifier>::builder()
        .build()
        .expect("a valid configuration")
        .layer(tower::service_fn(|_: u64| hangs()));
    rt.block_on(service.force_open());
    service
}

async fn tower_call<S: Service<u64>>(service: &mut S) -> Result<S::Response, S::Error> {
    service.ready().await?.call(1).await
}

#[derive(Clone)]
struct Search {
    backend: Dependency,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Hits {
    count: u64,
}

#[secure_tool_router]
impl Search {
    /// Searches the backend, which hangs.
    #[secure_tool(authz = scopes("search"), mode = read, breaker = self.backend, timeout = "1s")]
    async fn search(&self) -> Result<Hits, ToolError> {
        Ok(Hits {
            count: hangs().await?,
        })
    }

    /// Answers at once, without the backend.
    #[secure_tool(authz = scopes("search"), mode = read)]
    async fn ping(&self) -> Result<Hits, ToolError> {
        Ok(Hits { count: 0 })
    }
}

impl ServerHandler for Search {}

fn server(backend: Dependency) -> SecureServer<Search> {
    SecureServer::builder(Search { backend })
        .local_principal(principal())
        .build()
}

fn principal() -> Principal {
    Principal::new("ada").with_scopes([SCOPE])
}

fn call_over(
    rt: &Runtime,
    client: &RunningService<RoleClient, ()>,
    tool: &'static str,
) -> CallToolResult {
    rt.block_on(client.call_tool(CallToolRequestParams::new(tool)))
        .expect("a tool result")
}

#[divan::bench_group(name = "breaker open: guard")]
mod guard {
    use super::*;

    #[divan::bench]
    fn isolated(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        let dependency = super::isolated();
        bencher.bench_local(|| guarded(&dependency));
    }

    #[divan::bench]
    fn opened_by_failures(bencher: Bencher) {
        let rt = runtime();
        let dependency = super::opened_by_failures(&rt);
        let _entered = rt.enter();
        bencher.bench_local(|| guarded(&dependency));
    }

    #[divan::bench]
    fn tower_resilience_forced_open(bencher: Bencher) {
        let rt = runtime();
        let mut service = tower_open(&rt);
        let _entered = rt.enter();
        bencher.bench_local(|| block_on(tower_call(&mut service)).is_err());
    }
}

#[divan::bench_group(name = "breaker open: whole call")]
mod whole_call {
    use super::*;

    #[divan::bench]
    fn secure_server_call(bencher: Bencher) {
        let rt = runtime();
        let _entered = rt.enter();
        let server = server(super::isolated());
        bencher.bench_local(|| block_on(server.call("search", None, principal())));
    }

    #[divan::bench(sample_count = 200)]
    fn tools_call_over_rmcp_duplex(bencher: Bencher) {
        let rt = runtime();
        let client = rt.block_on(support::connect_secure(server(super::isolated())));
        bencher.bench_local(|| call_over(&rt, &client, "search"));
    }
}

/// Two calls through the deadline path, in real time: the breaker closed, the handler
/// hanging until the deadline. Returns the median (of two: the mean) in nanoseconds.
fn deadline_path(rt: &Runtime) -> f64 {
    let dependency = Dependency::new("search");
    let mut total = 0.0;
    for _ in 0..2 {
        let started = Instant::now();
        let result = rt.block_on(
            Limits::new(DEADLINE)
                .with_dependency(&dependency)
                .run(hangs()),
        );
        total += started.elapsed().as_secs_f64() * 1e9;
        assert_eq!(result.unwrap_err().category(), ErrorCategory::Timeout);
    }
    total / 2.0
}

fn against_deadline(
    label: &'static str,
    deadline_ns: f64,
    target: Target,
    call: impl FnMut(),
) -> Comparison {
    let (subject_ns, subject_allocs) = support::time_per_call(call);
    Comparison {
        label,
        baseline_label: "deadline path (1 s)",
        baseline_ns: deadline_ns,
        subject_ns,
        added_ns: subject_ns - deadline_ns,
        baseline_allocs: f64::NAN,
        subject_allocs,
        target,
    }
}

fn comparisons() {
    let rt = runtime();
    let deadline_ns = deadline_path(&rt);
    let mut rows = Vec::new();
    {
        let _entered = rt.enter();
        let dependency = isolated();
        rows.push(against_deadline(
            "guard, breaker isolated",
            deadline_ns,
            Target::Nanos(1000.0),
            || drop(black_box(guarded(&dependency))),
        ));
    }
    {
        let dependency = opened_by_failures(&rt);
        let _entered = rt.enter();
        rows.push(against_deadline(
            "guard, breaker opened by 5 failures",
            deadline_ns,
            Target::Nanos(1000.0),
            || drop(black_box(guarded(&dependency))),
        ));
    }
    {
        let mut service = tower_open(&rt);
        let _entered = rt.enter();
        rows.push(against_deadline(
            "tower-resilience, forced open",
            deadline_ns,
            Target::None,
            || {
                black_box(block_on(tower_call(&mut service)).is_err());
            },
        ));
    }
    {
        let _entered = rt.enter();
        let server = server(isolated());
        rows.push(against_deadline(
            "SecureServer::call, isolated (rendered)",
            deadline_ns,
            Target::None,
            || {
                drop(black_box(block_on(server.call(
                    "search",
                    None,
                    principal(),
                ))))
            },
        ));
    }
    let client = rt.block_on(support::connect_secure(server(isolated())));
    rows.push(against_deadline(
        "tools/call over rmcp duplex, isolated",
        deadline_ns,
        Target::None,
        || drop(black_box(call_over(&rt, &client, "search"))),
    ));
    rows.push(support::compare(
        "tools/call over rmcp duplex, isolated",
        "healthy tools/call",
        Target::None,
        || drop(black_box(call_over(&rt, &client, "ping"))),
        || drop(black_box(call_over(&rt, &client, "search"))),
    ));
    support::print_comparisons("fast-fail with the breaker open", &rows);
}

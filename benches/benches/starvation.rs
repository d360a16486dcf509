//! Starvation: one dependency hangs with 1,000 calls to it in flight; how much does the p99
//! latency of a healthy tool grow, against its idle p99 measured on the same server just
//! before? Target: ≤ 2× with `breaker = ...` (the dependency's breaker and bulkhead).
//!
//! What a hung call holds is what starves the others. Pending futures alone are cheap (and
//! rmcp spawns a task per request, so there is no head-of-line blocking), but a tool that
//! takes a connection from a pool shared with other tools (a database or HTTP client pool,
//! FIFO like deadpool's or bb8's) and then waits on a dependency that never answers keeps
//! that connection until its deadline. The server here has such a pool of 64 connections;
//! both the hung tool and the healthy tool take one per call. Scenarios:
//!
//! - `plain`: the hung tool has a deadline but no `breaker = ...`;
//! - `guarded`: `breaker = self.search`, a `Dependency` with the default bulkhead (32);
//! - `guarded, pool 16`: the same with a pool smaller than the bulkhead, the limit of the
//!   protection;
//! - `plain, nothing shared`: the hung tool takes no connection, to show that 1,000 pending
//!   calls alone do not starve anything.
//!
//! Real time, a multi-thread tokio runtime with 2 workers, every call made by rmcp's client
//! over an in-memory duplex transport. The healthy tool is called open-loop, one call per
//! millisecond for one second, each latency measured from the moment its call is sent.
//!
//! `cargo bench -p secure-tool-benches --bench starvation`

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rmcp::model::CallToolRequestParams;
use rmcp::service::Peer;
use rmcp::{RoleClient, ServerHandler};
use secure_tool::prelude::*;
use secure_tool::resilience::Dependency;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use support::percentile;

/// Calls to the hung dependency in flight.
const HUNG_CALLS: usize = 1000;
/// The hung tool's deadline: longer than the measurement window, so every hung call is
/// still in flight while the healthy tool is measured.
const HUNG_DEADLINE: &str = "2s";
/// The healthy tool's open-loop rate and window.
const INTERVAL: Duration = Duration::from_millis(1);
const WINDOW: Duration = Duration::from_secs(1);
/// The target: loaded p99 over idle p99.
const TARGET_RATIO: f64 = 2.0;

#[derive(Clone)]
struct Shop {
    /// The connection pool every tool of the server shares.
    pool: Arc<Semaphore>,
    /// The search backend, the dependency that hangs.
    search: Dependency,
    /// Hung calls that reached their handler.
    entered: Arc<AtomicUsize>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Answer {
    ok: bool,
}

impl Shop {
    /// Takes a connection, then waits for a search backend that never answers.
    async fn hang(&self, with_connection: bool) -> Result<Answer, ToolError> {
        self.entered.fetch_add(1, Ordering::Relaxed);
        let _connection = if with_connection {
            Some(self.pool.acquire().await.map_err(ToolError::internal)?)
        } else {
            None
        };
        std::future::pending::<()>().await;
        Ok(Answer { ok: false })
    }
}

#[secure_tool_router]
impl Shop {
    /// Searches through the backend's breaker and bulkhead.
    #[secure_tool(authz = scopes("shop"), mode = read, breaker = self.search, timeout = "2s")]
    async fn search_guarded(&self) -> Result<Answer, ToolError> {
        self.hang(true).await
    }

    /// Searches with a deadline only.
    #[secure_tool(authz = scopes("shop"), mode = read, timeout = "2s")]
    async fn search_plain(&self) -> Result<Answer, ToolError> {
        self.hang(true).await
    }

    /// Searches with a deadline only, without taking a connection.
    #[secure_tool(authz = scopes("shop"), mode = read, timeout = "2s")]
    async fn search_alone(&self) -> Result<Answer, ToolError> {
        self.hang(false).await
    }

    /// A healthy tool: takes a connection, does one quick round trip, gives it back.
    #[secure_tool(authz = scopes("shop"), mode = read, timeout = "5s")]
    async fn cart(&self) -> Result<Answer, ToolError> {
        let _connection = self.pool.acquire().await.map_err(ToolError::internal)?;
        tokio::task::yield_now().await;
        Ok(Answer { ok: true })
    }
}

impl ServerHandler for Shop {}

struct Scenario {
    name: &'static str,
    hung_tool: &'static str,
    pool: usize,
    has_target: bool,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "plain (no breaker/bulkhead), pool 64",
        hung_tool: "search_plain",
        pool: 64,
        has_target: false,
    },
    Scenario {
        name: "guarded (breaker + bulkhead 32), pool 64",
        hung_tool: "search_guarded",
        pool: 64,
        has_target: true,
    },
    Scenario {
        name: "guarded (breaker + bulkhead 32), pool 16",
        hung_tool: "search_guarded",
        pool: 16,
        has_target: false,
    },
    Scenario {
        name: "plain, hung calls hold nothing shared",
        hung_tool: "search_alone",
        pool: 64,
        has_target: false,
    },
];

struct Latencies {
    p50: Duration,
    p99: Duration,
    max: Duration,
    failed: usize,
}

/// Calls the healthy tool once per [`INTERVAL`] for [`WINDOW`], each call in its own task
/// (open loop: a slow answer does not delay the next call). Each latency runs from the
/// moment the call is sent to its answer. (Not from the tick's scheduled instant: tokio's
/// timer fires up to a millisecond late, which would add ~1 ms to every sample.)
async fn healthy_open_loop(peer: &Peer<RoleClient>) -> Latencies {
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + WINDOW;
    let mut calls = Vec::new();
    loop {
        ticks.tick().await;
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let peer = peer.clone();
        calls.push(tokio::spawn(async move {
            let result = peer.call_tool(CallToolRequestParams::new("cart")).await;
            let ok = matches!(result, Ok(ref r) if r.is_error == Some(false));
            (sent.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(calls.len());
    let mut failed = 0;
    for call in calls {
        let (latency, ok) = call.await.expect("the call task");
        latencies.push(latency);
        failed += usize::from(!ok);
    }
    Latencies {
        p50: percentile(&mut latencies, 50.0),
        p99: percentile(&mut latencies, 99.0),
        max: percentile(&mut latencies, 100.0),
        failed,
    }
}

struct Outcome {
    idle: Latencies,
    loaded: Latencies,
    settle: Duration,
    hung_answers: Vec<String>,
    breaker_after: String,
}

async fn run(scenario: &Scenario) -> Outcome {
    let shop = Shop {
        pool: Arc::new(Semaphore::new(scenario.pool)),
        search: Dependency::new("search"),
        entered: Arc::new(AtomicUsize::new(0)),
    };
    let entered = shop.entered.clone();
    let search = shop.search.clone();
    let server = SecureServer::builder(shop)
        .local_principal(Principal::new("ada").with_scopes(["shop"]))
        .build();
    let client = support::connect_secure(server).await;
    let peer = client.peer().clone();

    // Warm up, then the idle baseline on the same server.
    for _ in 0..200 {
        let _ = peer.call_tool(CallToolRequestParams::new("cart")).await;
    }
    let idle = healthy_open_loop(&peer).await;

    // 1,000 calls to the hung dependency, all at once; wait until the server has every one
    // of them (in its handler, or already answered, e.g. rejected by the bulkhead).
    let answered = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let hung: Vec<_> = (0..HUNG_CALLS)
        .map(|_| {
            let peer = peer.clone();
            let answered = answered.clone();
            let tool = scenario.hung_tool;
            tokio::spawn(async move {
                let result = peer.call_tool(CallToolRequestParams::new(tool)).await;
                answered.fetch_add(1, Ordering::Relaxed);
                match result {
                    Ok(result) => secure_tool::sanitize::error_facts(&result)
                        .and_then(|facts| facts["category"].as_str())
                        .unwrap_or("ok")
                        .to_owned(),
                    Err(error) => format!("transport error: {error}"),
                }
            })
        })
        .collect();
    while entered.load(Ordering::Relaxed) + answered.load(Ordering::Relaxed) < HUNG_CALLS {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the server did not take the hung calls in time"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let settle = started.elapsed();

    // The window closes (settle + 1 s) before the hung calls' 2 s deadline: every hung
    // call is in flight for all of it.
    let loaded = healthy_open_loop(&peer).await;

    let mut hung_answers = Vec::with_capacity(HUNG_CALLS);
    for call in hung {
        hung_answers.push(call.await.expect("the hung call task"));
    }
    let breaker_after = search.breaker().state().to_string();
    drop(client);
    Outcome {
        idle,
        loaded,
        settle,
        hung_answers,
        breaker_after,
    }
}

/// "category × count" for the answers of the hung calls.
fn tally(answers: &[String]) -> String {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for answer in answers {
        *counts.entry(answer.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(answer, n)| format!("{answer} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    if !support::bench_mode() {
        // `cargo test --benches`: nothing to smoke-test quickly; the scenario takes ~20 s.
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!(
        "starvation: {HUNG_CALLS} calls in flight to a dependency that hangs until its {HUNG_DEADLINE} deadline;"
    );
    println!(
        "healthy tool called every {INTERVAL:?} for {WINDOW:?}, idle then loaded; 2 worker threads"
    );
    println!();
    println!(
        "{:<44} {:>11} {:>11} {:>11} {:>11} {:>11} {:>8} {:>7}  {:<10} verdict",
        "scenario",
        "idle p50",
        "idle p99",
        "load p50",
        "load p99",
        "load max",
        "p99 ×",
        "failed",
        "target"
    );
    let mut details = Vec::new();
    for scenario in &SCENARIOS {
        let outcome = rt.block_on(run(scenario));
        let ratio = outcome.loaded.p99.as_secs_f64() / outcome.idle.p99.as_secs_f64();
        let (target, verdict) = if scenario.has_target {
            (
                format!("≤ {TARGET_RATIO:.0}×"),
                if ratio <= TARGET_RATIO {
                    "MET"
                } else {
                    "MISSED"
                },
            )
        } else {
            ("—".to_owned(), "")
        };
        println!(
            "{:<44} {:>11} {:>11} {:>11} {:>11} {:>11} {:>7.2}× {:>7}  {:<10} {verdict}",
            scenario.name,
            ms(outcome.idle.p50),
            ms(outcome.idle.p99),
            ms(outcome.loaded.p50),
            ms(outcome.loaded.p99),
            ms(outcome.loaded.max),
            ratio,
            outcome.idle.failed + outcome.loaded.failed,
            target,
        );
        details.push(format!(
            "{}: server had all hung calls after {}; their answers: {}; breaker afterwards: {}",
            scenario.name,
            ms(outcome.settle),
            tally(&outcome.hung_answers),
            outcome.breaker_after,
        ));
    }
    println!();
    for line in details {
        println!("{line}");
    }
}

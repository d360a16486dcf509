//! What every benchmark of this package shares: the counting allocator, a minimal executor,
//! a future that is pending once, and the interleaved A/B comparison that prints each
//! figure against its baseline as a ratio.
//!
//! divan gives the public per-benchmark table (with allocation counts); the comparison
//! below exists because divan runs one benchmark after the other, and on a noisy 2-core VM
//! the machine's speed drifts between them. Here the baseline and the subject run in
//! alternating batches of about 1 ms, so both see the same noise, and the reported added
//! cost is the median of the per-round differences.

// Each benchmark binary includes this module and uses a different part of it.
#![allow(dead_code)]

use std::alloc::System;
use std::future::Future;
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use stats_alloc::{Region, StatsAlloc};

/// Counts allocations for the comparisons; divan's profiler sits on top of it and counts
/// them for its own table.
pub static STATS: StatsAlloc<System> = StatsAlloc::system();

#[global_allocator]
static ALLOC: divan::AllocProfiler<&StatsAlloc<System>> = divan::AllocProfiler::new(&STATS);

/// Whether to run the interleaved comparisons after divan: when the binary was started by
/// `cargo bench` (which passes `--bench`; `cargo test --benches` does not, and divan then
/// runs each benchmark once as a smoke test), unless `BENCH_COMPARISONS=0` (to profile
/// one divan benchmark alone).
pub fn bench_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|arg| arg == "--bench")
        && !args
            .iter()
            .any(|arg| arg == "--list" || arg == "--help" || arg == "-h")
        && std::env::var_os("BENCH_COMPARISONS").is_none_or(|v| v != "0")
}

/// Polls `future` to completion on the current thread with a no-op waker, spinning while it
/// is pending. Call it inside `Runtime::enter` so that tokio's timers find their driver.
///
/// Unlike `Runtime::block_on` this costs a few nanoseconds, so the nanoseconds the guard
/// adds are not buried under the executor's.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// Pending on its first poll (after waking its task), ready on the second: the shape of a
/// handler that awaits one I/O completion or a oneshot.
#[derive(Debug, Default)]
pub struct YieldOnce {
    yielded: bool,
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Heap allocations per call of `call`, averaged over `calls` calls (after one warm-up call,
/// so that lazily built statics do not count).
pub fn allocations_per_call(calls: u32, mut call: impl FnMut()) -> f64 {
    call();
    let region = Region::new(&STATS);
    for _ in 0..calls {
        call();
    }
    f64::from(u32::try_from(region.change().allocations).unwrap_or(u32::MAX)) / f64::from(calls)
}

/// What a comparison must show.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// At most this many nanoseconds added to the baseline, and no allocation added.
    AddedNanos(f64),
    /// The subject at most this many times the baseline.
    Ratio(f64),
    /// The subject at most this many nanoseconds.
    Nanos(f64),
    /// Reported for context only.
    None,
}

/// One comparison of a subject against its baseline, measured in the same run.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub label: &'static str,
    pub baseline_label: &'static str,
    pub baseline_ns: f64,
    pub subject_ns: f64,
    pub added_ns: f64,
    pub baseline_allocs: f64,
    pub subject_allocs: f64,
    pub target: Target,
}

impl Comparison {
    /// Subject time over baseline time.
    pub fn ratio(&self) -> f64 {
        self.subject_ns / self.baseline_ns
    }

    /// Whether the target is met (`None` for a comparison without one).
    pub fn met(&self) -> Option<bool> {
        let no_added_allocs = self.subject_allocs <= self.baseline_allocs;
        match self.target {
            Target::AddedNanos(max) => Some(self.added_ns <= max && no_added_allocs),
            Target::Ratio(max) => Some(self.ratio() <= max),
            Target::Nanos(max) => Some(self.subject_ns <= max),
            Target::None => None,
        }
    }
}

/// Rounds of the interleaved comparison, and the length of one batch.
const ROUNDS: usize = 101;
const BATCH: Duration = Duration::from_millis(1);

/// Measures `subject` against `baseline` in alternating batches (ABBA order), each call of
/// the closures being one operation. Returns medians over the rounds.
pub fn compare(
    label: &'static str,
    baseline_label: &'static str,
    target: Target,
    mut baseline: impl FnMut(),
    mut subject: impl FnMut(),
) -> Comparison {
    let baseline_allocs = allocations_per_call(200, &mut baseline);
    let subject_allocs = allocations_per_call(200, &mut subject);
    let batch = calibrate(&mut subject).min(calibrate(&mut baseline));
    let mut base = Vec::with_capacity(ROUNDS);
    let mut subj = Vec::with_capacity(ROUNDS);
    let mut diff = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let (b, s) = if round.is_multiple_of(2) {
            let b = time_batch(batch, &mut baseline);
            (b, time_batch(batch, &mut subject))
        } else {
            let s = time_batch(batch, &mut subject);
            (time_batch(batch, &mut baseline), s)
        };
        base.push(b);
        subj.push(s);
        diff.push(s - b);
    }
    Comparison {
        label,
        baseline_label,
        baseline_ns: median(&mut base),
        subject_ns: median(&mut subj),
        added_ns: median(&mut diff),
        baseline_allocs,
        subject_allocs,
        target,
    }
}

/// The median time of one call of `call`, over [`ROUNDS`] batches of about one [`BATCH`],
/// and its allocations per call.
pub fn time_per_call(mut call: impl FnMut()) -> (f64, f64) {
    let allocations = allocations_per_call(200, &mut call);
    let batch = calibrate(&mut call);
    let mut times: Vec<f64> = (0..ROUNDS).map(|_| time_batch(batch, &mut call)).collect();
    (median(&mut times), allocations)
}

/// How many calls of `call` take about one [`BATCH`] (the slower closure sets the batch).
fn calibrate(call: &mut impl FnMut()) -> u32 {
    let mut n = 1u32;
    loop {
        let started = Instant::now();
        for _ in 0..n {
            call();
        }
        if started.elapsed() >= BATCH || n >= 1 << 24 {
            return n;
        }
        n *= 2;
    }
}

/// Nanoseconds per call over one batch of `n` calls.
fn time_batch(n: u32, call: &mut impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..n {
        black_box(&mut *call)();
    }
    started.elapsed().as_secs_f64() * 1e9 / f64::from(n)
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if !n.is_multiple_of(2) {
        values[n / 2]
    } else {
        f64::midpoint(values[n / 2 - 1], values[n / 2])
    }
}

/// The `p`-th percentile (0..=100) of `values` (sorted in place), nearest rank.
pub fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort_unstable();
    if values.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// A duration in the unit that suits it.
pub fn human(ns: f64) -> String {
    if ns.abs() >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns.abs() >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns.abs() >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// A difference with its sign, in the unit that suits it.
fn signed(ns: f64) -> String {
    let sign = if ns < 0.0 { '-' } else { '+' };
    format!("{sign}{}", human(ns.abs()))
}

/// A ratio, in scientific notation when tiny.
fn ratio(r: f64) -> String {
    if r < 0.01 {
        format!("{r:.1e}×")
    } else {
        format!("{r:.3}×")
    }
}

/// Allocations per call, baseline → subject ("—" where not measured).
fn allocations(baseline: f64, subject: f64) -> String {
    let show = |n: f64| {
        if n.is_nan() {
            "—".to_owned()
        } else {
            format!("{n:.1}")
        }
    };
    format!("{} → {}", show(baseline), show(subject))
}

/// Prints the comparisons as a table, with the verdict of each target.
pub fn print_comparisons(title: &str, rows: &[Comparison]) {
    println!();
    println!("== {title} (medians of {ROUNDS} rounds; A/B rows interleaved) ==");
    println!(
        "{:<44} {:<22} {:>11} {:>11} {:>11} {:>9} {:>13}  {:<20} verdict",
        "subject", "baseline", "baseline", "subject", "added", "ratio", "allocs b→s", "target"
    );
    for row in rows {
        let target = match row.target {
            Target::AddedNanos(max) => format!("≤ +{max:.0} ns, +0 alloc"),
            Target::Ratio(max) => format!("≤ {max:.2}×"),
            Target::Nanos(max) => format!("≤ {}", human(max)),
            Target::None => "—".to_owned(),
        };
        let verdict = match row.met() {
            Some(true) => "MET",
            Some(false) => "MISSED",
            None => "",
        };
        println!(
            "{:<44} {:<22} {:>11} {:>11} {:>11} {:>9} {:>13}  {:<20} {verdict}",
            row.label,
            row.baseline_label,
            human(row.baseline_ns),
            human(row.subject_ns),
            signed(row.added_ns),
            ratio(row.ratio()),
            allocations(row.baseline_allocs, row.subject_allocs),
            target,
        );
    }
}

/// Serves `server` on one end of an in-memory duplex pipe and connects an rmcp client to the
/// other: the whole MCP stack (JSON-RPC framing, serde, rmcp's service loops), no sockets.
pub async fn connect<S: rmcp::ServerHandler>(
    server: S,
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    use rmcp::ServiceExt as _;
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = server.serve(server_io).await.expect("the server starts");
        let _ = running.waiting().await;
    });
    ().serve(client_io).await.expect("the client connects")
}

/// [`connect`] for a secure server, served as the local caller's (the pipe is in process),
/// so that its local principal applies.
pub async fn connect_secure<S: rmcp::ServerHandler + Send + Sync + 'static>(
    server: secure_tool::SecureServer<S>,
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    connect_secure_as(server, ()).await
}

/// [`connect_secure`] with `client` as the host: what it declares and how it answers the
/// server's requests (elicitation, sampling).
pub async fn connect_secure_as<S, C>(
    server: secure_tool::SecureServer<S>,
    client: C,
) -> rmcp::service::RunningService<rmcp::RoleClient, C>
where
    S: rmcp::ServerHandler + Send + Sync + 'static,
    C: rmcp::ClientHandler,
{
    use rmcp::ServiceExt as _;
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = server
            .serve_trusted(server_io)
            .await
            .expect("the server starts");
        let _ = running.waiting().await;
    });
    client.serve(client_io).await.expect("the client connects")
}

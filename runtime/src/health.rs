//! Read-only degradation: a health monitor with a read and a write state.
//!
//! The state of each path comes, in order of precedence, from an operator's
//! [`force`](HealthMonitor::force), from the breakers watched for that path (a watched
//! breaker that is open or isolated degrades the path at once), and from periodic probes
//! with hysteresis (degraded after `unhealthy_after` consecutive failures, healthy again
//! after `healthy_after` consecutive successes). Each probe has a deadline; a probe that
//! panics or times out is a failure.
//!
//! A [`SecureServer`](crate::SecureServer) built with a monitor
//! ([`SecureServerBuilder::health`](crate::SecureServerBuilder::health)) answers
//! `mode = write` tools with a structured "degraded" result while writes are degraded,
//! marks them in `tools/list`, and sends `notifications/tools/list_changed` when the write
//! state changes. Read tools keep working.
//!
//! ```
//! use std::time::Duration;
//! use secure_tool::breaker::CircuitBreaker;
//! use secure_tool::health::{HealthMonitor, ServicePath, Status};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let db = CircuitBreaker::builder("db").build();
//! let monitor = HealthMonitor::builder()
//!     .probe(ServicePath::Writes, "db write", Duration::from_secs(10), Duration::from_secs(2), || async {
//!         Ok::<(), std::io::Error>(()) // e.g. `UPDATE heartbeat SET at = now()`
//!     })
//!     .watch_breaker(ServicePath::Writes, &db)
//!     .build();
//! let _probes = monitor.start();
//! assert_eq!(monitor.status(ServicePath::Writes), Status::Healthy);
//! db.isolate();
//! assert_eq!(monitor.status(ServicePath::Writes), Status::Degraded);
//! assert_eq!(monitor.status(ServicePath::Reads), Status::Healthy);
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::breaker::{CircuitBreaker, State};
use crate::sanitize::{IntoToolError, error_chain};

const TARGET: &str = "secure_tool::health";

/// The default probe interval: 10 s (each wait is jittered by ±20 %).
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// A path of the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServicePath {
    /// What `mode = read` tools need.
    Reads,
    /// What `mode = write` tools need.
    Writes,
}

impl ServicePath {
    fn index(self) -> usize {
        match self {
            ServicePath::Reads => 0,
            ServicePath::Writes => 1,
        }
    }

    /// `"reads"` or `"writes"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServicePath::Reads => "reads",
            ServicePath::Writes => "writes",
        }
    }
}

/// The state of one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Working.
    Healthy,
    /// Temporarily unavailable.
    Degraded,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
        })
    }
}

/// The state of both paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Health {
    /// The read path.
    pub reads: Status,
    /// The write path.
    pub writes: Status,
}

impl Health {
    fn get(&self, path: ServicePath) -> Status {
        match path {
            ServicePath::Reads => self.reads,
            ServicePath::Writes => self.writes,
        }
    }
}

/// What a readiness endpoint answers: whether to send callers here, and the state of
/// both paths ([`HealthMonitor::readiness`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Readiness {
    /// Whether reads work: what the service needs to be of use.
    pub ready: bool,
    /// The read path.
    pub reads: Status,
    /// The write path.
    pub writes: Status,
}

impl Readiness {
    /// `200` when ready, else `503`.
    pub fn http_status(&self) -> u16 {
        if self.ready { 200 } else { 503 }
    }

    /// The body: `{"ready":true,"reads":"healthy","writes":"degraded"}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a readiness serializes")
    }
}

type ProbeFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type ProbeFn = Arc<dyn Fn() -> ProbeFuture + Send + Sync>;

struct Probe {
    path: ServicePath,
    name: String,
    interval: Duration,
    timeout: Duration,
    run: ProbeFn,
}

const HEALTHY: u8 = 0;
const DEGRADED: u8 = 1;

const NOT_FORCED: u8 = 0;
const FORCED_HEALTHY: u8 = 1;
const FORCED_DEGRADED: u8 = 2;

struct Inner {
    probes: Vec<Probe>,
    breakers: Vec<(ServicePath, CircuitBreaker)>,
    unhealthy_after: u32,
    healthy_after: u32,
    /// What the probes concluded, per path.
    probed: [AtomicU8; 2],
    /// Consecutive results per path: (failures, successes).
    streaks: Mutex<[(u32, u32); 2]>,
    /// An operator's override per path: [`NOT_FORCED`], [`FORCED_HEALTHY`] or
    /// [`FORCED_DEGRADED`].
    forced: [AtomicU8; 2],
    changes: watch::Sender<Health>,
}

/// Watches the read and write paths of a service. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct HealthMonitor {
    inner: Arc<Inner>,
}

impl fmt::Debug for HealthMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthMonitor")
            .field("health", &self.health())
            .field("probes", &self.inner.probes.len())
            .field("breakers", &self.inner.breakers.len())
            .finish()
    }
}

/// Configures a [`HealthMonitor`].
#[must_use]
pub struct HealthMonitorBuilder {
    probes: Vec<Probe>,
    breakers: Vec<(ServicePath, CircuitBreaker)>,
    unhealthy_after: u32,
    healthy_after: u32,
}

impl HealthMonitor {
    /// A monitor with no probes and no breakers (both paths healthy until told otherwise);
    /// by default degraded after 3 failed probes in a row, healthy after 2 successes.
    pub fn builder() -> HealthMonitorBuilder {
        HealthMonitorBuilder {
            probes: Vec::new(),
            breakers: Vec::new(),
            unhealthy_after: 3,
            healthy_after: 2,
        }
    }

    /// Starts the probes (each in its own task, on the current tokio runtime). They stop
    /// when the returned guard is dropped. Also follows the watched breakers, so that a
    /// breaker opening is reported to [`changes`](Self::changes) at once.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start(&self) -> ProbeTasks {
        let mut tasks = JoinSet::new();
        for index in 0..self.inner.probes.len() {
            let inner = self.inner.clone();
            tasks.spawn(async move { inner.run_probe(index).await });
        }
        for (_, breaker) in &self.inner.breakers {
            let inner = self.inner.clone();
            let breaker = breaker.clone();
            let mut states = breaker.watch();
            tasks.spawn(async move {
                loop {
                    // While open, wake up when the open period ends: the path recovers
                    // then, without waiting for another transition.
                    let reopen = breaker
                        .rejecting_for()
                        .filter(|_| breaker.state() == State::Open);
                    tokio::select! {
                        changed = states.changed() => {
                            if changed.is_err() {
                                break;
                            }
                        }
                        () = tokio::time::sleep(reopen.unwrap_or_default()), if reopen.is_some() => {}
                    }
                    inner.publish();
                }
            });
        }
        ProbeTasks { _tasks: tasks }
    }

    /// The state of both paths now.
    pub fn health(&self) -> Health {
        self.inner.health()
    }

    /// What an orchestrator's readiness probe is told now: ready while reads work. Writes
    /// degraded is still ready (reads are served, and write tools answer "degraded"); reads
    /// degraded is not ready, so that a load balancer sends callers to a replica whose
    /// store answers.
    ///
    /// ```
    /// use secure_tool::health::{HealthMonitor, ServicePath, Status};
    /// let monitor = HealthMonitor::builder().build();
    /// monitor.force(ServicePath::Writes, Some(Status::Degraded));
    /// let readiness = monitor.readiness();
    /// assert!(readiness.ready);
    /// assert_eq!(readiness.http_status(), 200);
    /// assert_eq!(
    ///     readiness.to_json(),
    ///     r#"{"ready":true,"reads":"healthy","writes":"degraded"}"#
    /// );
    /// monitor.force(ServicePath::Reads, Some(Status::Degraded));
    /// assert_eq!(monitor.readiness().http_status(), 503);
    /// ```
    pub fn readiness(&self) -> Readiness {
        let health = self.health();
        Readiness {
            ready: health.reads == Status::Healthy,
            reads: health.reads,
            writes: health.writes,
        }
    }

    /// The state of `path` now: one lock-free read when nothing is forced.
    pub fn status(&self, path: ServicePath) -> Status {
        self.inner.status(path)
    }

    /// Forces `path` into `status` (an operator's override), or with `None` gives it back
    /// to the probes and breakers.
    ///
    /// ```
    /// use secure_tool::health::{HealthMonitor, ServicePath, Status};
    /// let monitor = HealthMonitor::builder().build();
    /// monitor.force(ServicePath::Writes, Some(Status::Degraded));
    /// assert_eq!(monitor.status(ServicePath::Writes), Status::Degraded);
    /// monitor.force(ServicePath::Writes, None);
    /// assert_eq!(monitor.status(ServicePath::Writes), Status::Healthy);
    /// ```
    pub fn force(&self, path: ServicePath, status: Option<Status>) {
        let code = match status {
            None => NOT_FORCED,
            Some(Status::Healthy) => FORCED_HEALTHY,
            Some(Status::Degraded) => FORCED_DEGRADED,
        };
        self.inner.forced[path.index()].store(code, Ordering::Release);
        tracing::warn!(
            target: TARGET,
            path = path.as_str(),
            forced = status.map_or("cleared", |s| if s == Status::Healthy { "healthy" } else { "degraded" }),
            "health state forced by an operator"
        );
        self.inner.publish();
    }

    /// Follows the health: the receiver sees every change of either path.
    pub fn changes(&self) -> watch::Receiver<Health> {
        self.inner.changes.subscribe()
    }

    /// When a degraded `path` is worth trying again: the longest remaining open period
    /// of its watched breakers, else its shortest probe interval, else 10 s.
    pub fn retry_after(&self, path: ServicePath) -> Duration {
        let breakers = self
            .inner
            .breakers
            .iter()
            .filter(|(p, _)| *p == path)
            .filter_map(|(_, b)| b.snapshot().retry_after)
            .max();
        let probes = self
            .inner
            .probes
            .iter()
            .filter(|p| p.path == path)
            .map(|p| p.interval)
            .min();
        breakers.or(probes).unwrap_or(DEFAULT_PROBE_INTERVAL)
    }
}

impl HealthMonitorBuilder {
    /// Adds a probe of `path`, run every `interval` (±20 % jitter), each run within
    /// `timeout`. A light write (a heartbeat row) probes the write path; a cheap read
    /// the read path. The first run is immediate. A run fails when it errs, panics (in
    /// `probe` itself or in its future), or has not answered within `timeout`, and also
    /// when it answers past `timeout`: a probe that held its thread, which no timer can
    /// cut off, or one its runtime was too busy to run in time.
    pub fn probe<F, Fut, E>(
        mut self,
        path: ServicePath,
        name: impl Into<String>,
        interval: Duration,
        timeout: Duration,
        probe: F,
    ) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: IntoToolError,
    {
        let run: ProbeFn = Arc::new(move || {
            let future = probe();
            Box::pin(async move {
                future.await.map_err(|error| {
                    let error = error.into_tool_error();
                    error
                        .source()
                        .map_or_else(|| error.to_string(), |source| error_chain(source))
                })
            })
        });
        self.probes.push(Probe {
            path,
            name: name.into(),
            interval: interval.max(Duration::from_millis(1)),
            timeout,
            run,
        });
        self
    }

    /// Degrades `path` at once while `breaker` is open or isolated.
    pub fn watch_breaker(mut self, path: ServicePath, breaker: &CircuitBreaker) -> Self {
        self.breakers.push((path, breaker.clone()));
        self
    }

    /// Consecutive failed probes before a path degrades (default 3, at least 1).
    pub fn unhealthy_after(mut self, failures: u32) -> Self {
        self.unhealthy_after = failures.max(1);
        self
    }

    /// Consecutive successful probes before a degraded path recovers (default 2, at least 1).
    pub fn healthy_after(mut self, successes: u32) -> Self {
        self.healthy_after = successes.max(1);
        self
    }

    /// Builds the monitor; call [`HealthMonitor::start`] to run its probes.
    pub fn build(self) -> HealthMonitor {
        let healthy = Health {
            reads: Status::Healthy,
            writes: Status::Healthy,
        };
        HealthMonitor {
            inner: Arc::new(Inner {
                probes: self.probes,
                breakers: self.breakers,
                unhealthy_after: self.unhealthy_after,
                healthy_after: self.healthy_after,
                probed: [AtomicU8::new(HEALTHY), AtomicU8::new(HEALTHY)],
                streaks: Mutex::new([(0, 0); 2]),
                forced: [AtomicU8::new(NOT_FORCED), AtomicU8::new(NOT_FORCED)],
                changes: watch::Sender::new(healthy),
            }),
        }
    }
}

impl Inner {
    fn status(&self, path: ServicePath) -> Status {
        match self.forced[path.index()].load(Ordering::Acquire) {
            FORCED_HEALTHY => return Status::Healthy,
            FORCED_DEGRADED => return Status::Degraded,
            _ => {}
        }
        // Only while the breaker rejects calls: once its open period has passed, the path
        // is given back so that a call (a probe's or a tool's) can be its trial. A breaker
        // that opened with every caller gated would otherwise stay open for good.
        let breaker_open = self
            .breakers
            .iter()
            .any(|(p, breaker)| *p == path && breaker.rejecting_for().is_some());
        if breaker_open || self.probed[path.index()].load(Ordering::Acquire) == DEGRADED {
            Status::Degraded
        } else {
            Status::Healthy
        }
    }

    fn health(&self) -> Health {
        Health {
            reads: self.status(ServicePath::Reads),
            writes: self.status(ServicePath::Writes),
        }
    }

    /// Tells the watchers if the health changed.
    fn publish(&self) {
        let now = self.health();
        self.changes.send_if_modified(|seen| {
            if *seen == now {
                return false;
            }
            for path in [ServicePath::Reads, ServicePath::Writes] {
                if seen.get(path) != now.get(path) {
                    let status = now.get(path);
                    match status {
                        Status::Degraded => tracing::warn!(target: TARGET, path = path.as_str(), %status, "service path degraded"),
                        Status::Healthy => tracing::info!(target: TARGET, path = path.as_str(), %status, "service path recovered"),
                    }
                }
            }
            *seen = now;
            true
        });
    }

    fn record(&self, path: ServicePath, ok: bool) {
        let mut streaks = self.streaks.lock().unwrap_or_else(PoisonError::into_inner);
        let (failures, successes) = &mut streaks[path.index()];
        let slot = &self.probed[path.index()];
        if ok {
            *failures = 0;
            *successes = successes.saturating_add(1);
            if *successes >= self.healthy_after {
                slot.store(HEALTHY, Ordering::Release);
            }
        } else {
            *successes = 0;
            *failures = failures.saturating_add(1);
            if *failures >= self.unhealthy_after {
                slot.store(DEGRADED, Ordering::Release);
            }
        }
        drop(streaks);
        self.publish();
    }

    async fn run_probe(self: Arc<Self>, index: usize) {
        let probe = &self.probes[index];
        let mut seed =
            (Arc::as_ptr(&self) as u64) ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        loop {
            let started = tokio::time::Instant::now();
            // The probe's closure is called inside the catch, with its future: a panic in
            // either is a failed run, not the end of the probe (whose path would keep the
            // status it had).
            let run = async { (probe.run)().await };
            // Dropped at its timeout with a panic in its `Drop` caught too.
            let run = crate::resilience::DropCaught::new("a health probe's future", run);
            let outcome = tokio::time::timeout(
                probe.timeout,
                std::panic::AssertUnwindSafe(run).catch_unwind(),
            )
            .await;
            // A probe that holds its thread (a synchronous client) cannot be cut off by the
            // timer, nor one whose runtime could not run it in time: its success, come past
            // its timeout, is a path too slow to serve.
            let took = started.elapsed();
            let failure = match outcome {
                Ok(Ok(Ok(()))) if took > probe.timeout => Some(format!(
                    "the probe answered after {took:?}, past its timeout of {:?}",
                    probe.timeout
                )),
                Ok(Ok(Ok(()))) => None,
                Ok(Ok(Err(cause))) => Some(cause),
                Ok(Err(panic)) => Some(format!(
                    "the probe panicked: {}",
                    crate::util::panic_message(&*panic)
                )),
                Err(_) => Some(format!(
                    "the probe did not finish within {:?}",
                    probe.timeout
                )),
            };
            if let Some(cause) = &failure {
                tracing::warn!(target: TARGET, probe = %probe.name, path = probe.path.as_str(), error = %cause, "health probe failed");
            }
            self.record(probe.path, failure.is_none());

            // ±20 % jitter, so that replicas do not probe in lock-step.
            seed = crate::util::splitmix64(seed);
            let unit = (seed >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
            let wait = probe.interval.mul_f64(0.8 + 0.4 * unit);
            tokio::time::sleep(wait).await;
        }
    }
}

/// The running probes of a [`HealthMonitor`]; dropping it stops them.
#[must_use = "the probes stop when this is dropped"]
pub struct ProbeTasks {
    _tasks: JoinSet<()>,
}

impl fmt::Debug for ProbeTasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeTasks").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;

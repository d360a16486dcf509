//! Metrics of a secure server for Prometheus (feature `metrics`).
//!
//! [`SecureServer::register_metrics`](crate::SecureServer::register_metrics) adds the
//! server's series to a [`prometheus_client`] registry, which the application serves as
//! text on a listener of its own (the notes example's `--metrics ADDR`):
//!
//! | series | labels | what |
//! |---|---|---|
//! | `secure_tool_calls_total` | `surface`, `name`, `outcome` | calls by how they ended: `ok`, `denied`, `invalid_arguments`, `error`, `panic`, `degraded`, `not_confirmed`, `confirmation_asked`, `rate_limited` |
//! | `secure_tool_errors_total` | `surface`, `name`, `category` | failed calls by error category (`timeout`, `unavailable`, ...) |
//! | `secure_tool_denials_total` | `surface`, `name`, `cause` | denied calls by cause class (`anonymous`, `denied`, `policy_error`, `deadline_exceeded`, ...) |
//! | `secure_tool_rate_limited_total` | `surface`, `name`, `limit` | calls refused by the tool's own limit or the server's |
//! | `secure_tool_call_duration_seconds` | `surface`, `name` | histogram of how long calls took, answered or refused |
//! | `secure_tool_concurrent_calls`, `_limit` | `surface`, `name` | calls running now, and the cap |
//! | `secure_tool_breaker_state` | `breaker`, `state` | 1 for the breaker's current state, 0 for the others |
//! | `secure_tool_breaker_transitions_total`, `_opens_total`, `_rejected_total` | `breaker` | state changes, openings, calls turned away |
//! | `secure_tool_bulkhead_in_use`, `_capacity` | `bulkhead` | a dependency's slots taken, and how many it has |
//! | `secure_tool_degraded` | `path` (`reads`, `writes`) | 1 while the health monitor holds the path degraded |
//!
//! `surface` is `tool`, `resource`, `prompt` or `completion`; `name` is the name the code
//! declared (a resource's name, never the URI read). No label holds a principal, an
//! argument's value or anything else a caller chose, so a caller cannot add series.
//! Counters of calls are kept whether or not metrics are registered; the clock read and the
//! increments happen only once a registry asked for them.
//!
//! ```
//! # #[cfg(feature = "metrics")] {
//! use secure_tool::metrics::prometheus_client::{encoding::text::encode, registry::Registry};
//! use secure_tool::prelude::*;
//!
//! #[derive(serde::Serialize, schemars::JsonSchema)]
//! struct Pong {
//!     ok: bool,
//! }
//!
//! #[derive(Clone)]
//! struct Ping;
//!
//! #[secure_tool_router]
//! impl Ping {
//!     /// Answers.
//!     #[secure_tool(authz = public(), mode = read)]
//!     async fn ping(&self) -> Result<Pong, ToolError> {
//!         Ok(Pong { ok: true })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let server = SecureServer::new(Ping);
//! let mut registry = Registry::default();
//! server.register_metrics(&mut registry);
//! server.call("ping", None, Principal::anonymous()).await.unwrap();
//!
//! let mut text = String::new();
//! encode(&mut text, &registry).unwrap();
//! assert!(text.contains(r#"secure_tool_calls_total{surface="tool",name="ping",outcome="ok"} 1"#));
//! # }
//! # }
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::audit::Verdict;
use crate::authz::DenialCause;
use crate::sanitize::ErrorCategory;

#[cfg(feature = "metrics")]
pub use prometheus_client;

/// The outcomes of `secure_tool_calls_total`, in the order of [`CallMetrics::outcomes`].
pub(crate) const OUTCOMES: [&str; 9] = [
    "ok",
    "denied",
    "invalid_arguments",
    "error",
    "panic",
    "degraded",
    "not_confirmed",
    "confirmation_asked",
    "rate_limited",
];

/// The categories of `secure_tool_errors_total`, in the order of [`category_index`].
pub(crate) const CATEGORIES: [ErrorCategory; 11] = [
    ErrorCategory::InvalidInput,
    ErrorCategory::NotFound,
    ErrorCategory::Conflict,
    ErrorCategory::Denied,
    ErrorCategory::Unavailable,
    ErrorCategory::Timeout,
    ErrorCategory::Overloaded,
    ErrorCategory::Degraded,
    ErrorCategory::NotConfirmed,
    ErrorCategory::RateLimited,
    ErrorCategory::Internal,
];

/// The cause classes of `secure_tool_denials_total`, in the order of [`cause_index`].
pub(crate) const CAUSES: [&str; 11] = [
    "anonymous",
    "denied",
    "abstained",
    "policy_error",
    "deadline_exceeded",
    "policy_panicked",
    "late_answer",
    "empty_requirement",
    "request_state",
    "insufficient_scope",
    "cedar",
];

/// The limits of `secure_tool_rate_limited_total`.
pub(crate) const LIMITS: [&str; 2] = ["tool", "server"];

/// The upper bounds of the latency histogram's buckets, in microseconds (1 ms to 60 s),
/// before `+Inf`.
pub(crate) const BOUNDS_MICROS: [u64; 15] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

fn category_index(category: ErrorCategory) -> usize {
    match category {
        ErrorCategory::InvalidInput => 0,
        ErrorCategory::NotFound => 1,
        ErrorCategory::Conflict => 2,
        ErrorCategory::Denied => 3,
        ErrorCategory::Unavailable => 4,
        ErrorCategory::Timeout => 5,
        ErrorCategory::Overloaded => 6,
        ErrorCategory::Degraded => 7,
        ErrorCategory::NotConfirmed => 8,
        ErrorCategory::RateLimited => 9,
        ErrorCategory::Internal => 10,
    }
}

fn cause_index(cause: &DenialCause) -> usize {
    match cause {
        DenialCause::Anonymous => 0,
        DenialCause::Denied => 1,
        DenialCause::Abstained => 2,
        DenialCause::PolicyError(_) => 3,
        DenialCause::DeadlineExceeded(_) => 4,
        DenialCause::PolicyPanicked(_) => 5,
        DenialCause::LateAnswer { .. } => 6,
        DenialCause::EmptyRequirement => 7,
        DenialCause::RequestState(_) => 8,
        DenialCause::InsufficientScope(_) => 9,
        DenialCause::Cedar(_) => 10,
    }
}

/// Whether a server's calls are counted: set once a registry asked for its metrics.
#[derive(Debug, Default)]
pub(crate) struct Switch(AtomicBool);

impl Switch {
    pub(crate) fn on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn turn_on(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What happened to the calls of one tool, resource, prompt or one's completer: lock-free
/// counters, read when the registry is scraped.
#[derive(Debug, Default)]
pub(crate) struct CallMetrics {
    outcomes: [AtomicU64; OUTCOMES.len()],
    errors: [AtomicU64; CATEGORIES.len()],
    denials: [AtomicU64; CAUSES.len()],
    limited: [AtomicU64; LIMITS.len()],
    /// Calls by latency bucket (not cumulative; the last is `+Inf`).
    buckets: [AtomicU64; BOUNDS_MICROS.len() + 1],
    /// The sum of the latencies, in microseconds.
    sum_micros: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl CallMetrics {
    /// Counts one call that ended with `verdict` after `elapsed`.
    pub(crate) fn record(&self, verdict: &Verdict<'_>, elapsed: Duration) {
        let outcome = match verdict {
            Verdict::Ok => 0,
            Verdict::Denied(cause) => {
                bump(&self.denials[cause_index(cause)]);
                1
            }
            Verdict::InvalidArguments => 2,
            Verdict::Failed(error) => {
                bump(&self.errors[category_index(error.category())]);
                3
            }
            Verdict::Panicked(_) => 4,
            Verdict::Degraded => 5,
            Verdict::NotConfirmed(_) => 6,
            Verdict::ConfirmationAsked => 7,
            Verdict::RateLimited(limit) => {
                bump(&self.limited[usize::from(*limit != LIMITS[0])]);
                8
            }
        };
        bump(&self.outcomes[outcome]);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        bump(&self.buckets[BOUNDS_MICROS.partition_point(|&bound| bound < micros)]);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// What a scrape reads.
#[cfg(any(feature = "metrics", test))]
impl CallMetrics {
    /// The calls by outcome, in the order of [`OUTCOMES`].
    pub(crate) fn outcomes(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        OUTCOMES.into_iter().zip(read(&self.outcomes))
    }

    /// The failed calls by category, in the order of [`CATEGORIES`].
    pub(crate) fn errors(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CATEGORIES
            .iter()
            .map(|c| c.as_str())
            .zip(read(&self.errors))
    }

    /// The denied calls by cause class, in the order of [`CAUSES`].
    pub(crate) fn denials(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CAUSES.into_iter().zip(read(&self.denials))
    }

    /// The calls refused by each limit, in the order of [`LIMITS`].
    pub(crate) fn limited(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        LIMITS.into_iter().zip(read(&self.limited))
    }

    /// The latency histogram: the sum in seconds, the count, and each bucket's upper bound
    /// in seconds with its (not cumulative) count, `+Inf` last.
    pub(crate) fn latency(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let buckets: Vec<(f64, u64)> = BOUNDS_MICROS
            .iter()
            .map(|&micros| micros as f64 / 1e6)
            .chain([f64::INFINITY])
            .zip(read(&self.buckets))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (sum, count, buckets)
    }
}

#[cfg(any(feature = "metrics", test))]
fn read(counters: &[AtomicU64]) -> impl Iterator<Item = u64> + '_ {
    counters.iter().map(|c| c.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests;

//! A point-in-time view of a breaker, for metrics, health endpoints and tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::circuit_breaker::CircuitBreaker;
use super::inner::Inner;
use super::state::State;
use super::streak::Streak;
use super::window::Window;

/// A point-in-time view of a breaker, for metrics, health endpoints and tests.
///
/// Counters are totals since the breaker was built; under concurrent use they are
/// individually exact but not a single atomic cut.
///
/// ```
/// use secure_tool::breaker::{CircuitBreaker, Outcome, State};
///
/// let breaker = CircuitBreaker::builder("kv").build();
/// breaker.try_acquire().unwrap().record(Outcome::Success);
/// breaker.try_acquire().unwrap().record(Outcome::Failure);
/// drop(breaker.try_acquire().unwrap()); // abandoned
/// let s = breaker.snapshot();
/// assert_eq!((s.state, s.successes, s.failures, s.abandoned), (State::Closed, 1, 1, 1));
/// assert_eq!(s.window_calls, 2);
/// assert_eq!(s.failure_rate, 0.5);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The breaker's name (its only metric label).
    pub name: Arc<str>,
    /// Current state.
    pub state: State,
    /// Current generation; it changes on every transition.
    pub generation: u32,
    /// Successes recorded (including trials and stale outcomes).
    pub successes: u64,
    /// Failures recorded (including trials and stale outcomes).
    pub failures: u64,
    /// Successes and failures that were also slow.
    pub slow: u64,
    /// Outcomes recorded as [`Outcome::Ignored`](super::Outcome::Ignored).
    pub ignored: u64,
    /// Permits dropped without an outcome.
    pub abandoned: u64,
    /// Calls rejected by [`CircuitBreaker::try_acquire`].
    pub rejected: u64,
    /// State changes (including operator actions that changed the state).
    pub transitions: u64,
    /// Times the circuit opened (closed or half-open → open).
    pub opens: u64,
    /// Times shadow mode would have opened the circuit.
    pub would_open: u64,
    /// Calls in the current window.
    pub window_calls: u64,
    /// Failure rate of the current window, 0.0 to 1.0 (0.0 when empty).
    pub failure_rate: f64,
    /// Slow-call rate of the current window, 0.0 to 1.0 (0.0 when empty).
    pub slow_rate: f64,
    /// Current streak of consecutive failures.
    pub consecutive_failures: u32,
    /// Half-open trial permits currently outstanding.
    pub half_open_in_flight: u32,
    /// Half-open trials that succeeded in the current half-open period.
    pub half_open_succeeded: u32,
    /// When open: the rest of the open period; when isolated: the base open duration.
    pub retry_after: Option<Duration>,
}

impl CircuitBreaker {
    /// A point-in-time view of the state, counters and window.
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, State};
    ///
    /// let s = CircuitBreaker::builder("crm").build().snapshot();
    /// assert_eq!(s.state, State::Closed);
    /// assert_eq!(&*s.name, "crm");
    /// assert_eq!(s.retry_after, None);
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        let inner = &*self.inner;
        let now = inner.now();
        let (window, window_lifetime_calls) = match &inner.window {
            Window::Time(win) => {
                let mut locked = inner.lock();
                win.rotate(win.epoch(now), &mut locked);
                let live = win.live();
                (live, locked.retired_calls + live.calls)
            }
            Window::Count(win) => (win.stats(), win.next.load(Ordering::Acquire)),
        };
        let c = &inner.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Acquire);
        let window_failures = load(&c.window_failures);
        let w = inner.load_word();
        let state = w.state();
        let rate = |n: u64| {
            if window.calls == 0 {
                0.0
            } else {
                n as f64 / window.calls as f64
            }
        };
        let retry_after = match state {
            State::Open => Some(Inner::to_duration(
                inner.open_until.load(Ordering::Acquire).saturating_sub(now),
            )),
            State::Isolated => Some(inner.cfg.open_base),
            _ => None,
        };
        let streak = Streak::from_bits(inner.streak.0.load(Ordering::Acquire));
        Snapshot {
            name: inner.name.clone(),
            state,
            generation: w.generation(),
            successes: window_lifetime_calls.saturating_sub(window_failures)
                + load(&c.other_successes),
            failures: window_failures + load(&c.other_failures),
            slow: load(&c.slow),
            ignored: load(&c.ignored),
            abandoned: load(&c.abandoned),
            rejected: load(&c.rejected),
            transitions: load(&c.transitions),
            opens: load(&c.opens),
            would_open: load(&c.would_open),
            window_calls: window.calls,
            failure_rate: rate(window.failures),
            slow_rate: rate(window.slow),
            consecutive_failures: streak.count(),
            half_open_in_flight: if state == State::HalfOpen {
                w.in_flight()
            } else {
                0
            },
            half_open_succeeded: if state == State::HalfOpen {
                w.succeeded()
            } else {
                0
            },
            retry_after,
        }
    }
}

//! Circuit breaker: one per dependency, shared by the tools that call it.
//!
//! A [`CircuitBreaker`] watches the outcomes of calls to one dependency and stops sending
//! calls to it while it is failing, so that a broken dependency fails fast instead of
//! tying up every caller until its timeout.
//!
//! * **Closed** — calls pass. Outcomes go to a sliding window (time-based by default:
//!   60 s in 10 buckets). The circuit opens when the window holds at least `min_calls`
//!   calls and the failure rate or the slow-call rate reaches its threshold, or after
//!   `consecutive_failures` failures in a row inside the window.
//! * **Open** — calls are rejected with a [`Rejected`] that says when to come back
//!   ([`Rejected::retry_after`]). The open period grows ×2 on each re-open, is capped and
//!   jittered so that replicas do not re-probe in lock-step.
//! * **Half-open** — reached lazily by the first call after the open period (no timer
//!   task). A fixed number of trial permits is handed out; any trial failure (or slow
//!   trial) re-opens, as many successes as permits close, and if the trials stay
//!   undecided for `max_half_open_wait` the next call re-opens the circuit.
//! * **Operator modes** — [`CircuitBreaker::isolate`] (forced open),
//!   [`CircuitBreaker::disable`] (always admit, record nothing),
//!   [`CircuitBreaker::shadow`] (evaluate and log "would open", never reject) and
//!   [`CircuitBreaker::reset`] (back to a fresh closed circuit).
//!
//! Every permit carries the generation (state period) it was admitted in: an outcome
//! reported after the state changed updates the counters only and never changes the new
//! state. A breaker never retries on its own.
//!
//! Time comes from a monotonic, injectable [`Clock`]; the default is
//! [`tokio::time::Instant`], so tests with `#[tokio::test(start_paused = true)]` and
//! `tokio::time::advance` drive breakers without sleeping.
//!
//! Every transition emits a `tracing` event with target `secure_tool::breaker` and the
//! fields `breaker`, `from`, `to` and `reason`.
//!
//! ```
//! use secure_tool::breaker::{CircuitBreaker, Outcome};
//!
//! let breaker = CircuitBreaker::builder("billing-api").build();
//! match breaker.try_acquire() {
//!     Ok(permit) => {
//!         let ok = true; // call the dependency here
//!         permit.record(if ok { Outcome::Success } else { Outcome::Failure });
//!     }
//!     Err(rejected) => println!("not calling: {rejected}"),
//! }
//! ```

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Target of every `tracing` event of this module.
const TARGET: &str = "secure_tool::breaker";

const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
const DEFAULT_BUCKETS: u32 = 10;
const DEFAULT_MIN_CALLS: u32 = 10;
const DEFAULT_FAILURE_RATE: f64 = 0.5;
const DEFAULT_SLOW_RATE: f64 = 0.8;
const DEFAULT_SLOW_CALL: Duration = Duration::from_secs(24);
const DEFAULT_CONSECUTIVE: u32 = 5;
const DEFAULT_OPEN: Duration = Duration::from_secs(15);
const DEFAULT_MAX_OPEN: Duration = Duration::from_secs(300);
const DEFAULT_JITTER: f64 = 0.25;
const DEFAULT_HALF_OPEN_PERMITS: u32 = 3;
const DEFAULT_MAX_HALF_OPEN_WAIT: Duration = Duration::from_secs(60);

/// Most half-open permits a breaker can hand out (12 bits of the state word).
const MAX_HALF_OPEN_PERMITS: u32 = 0xFFF;
/// Shortest open period and half-open wait, so that lazy transitions always make progress.
const MIN_PERIOD: Duration = Duration::from_millis(1);
const MAX_BUCKETS: u32 = 1_000;
const MAX_COUNT_WINDOW: u32 = 1_000_000;

// ---------------------------------------------------------------------------------------
// State word: | generation: 32 | half-open successes: 12 | half-open in flight: 12 | state: 8 |
// ---------------------------------------------------------------------------------------

const ST_CLOSED: u8 = 0;
const ST_OPEN: u8 = 1;
const ST_HALF_OPEN: u8 = 2;
const ST_ISOLATED: u8 = 3;
const ST_DISABLED: u8 = 4;
const ST_SHADOW: u8 = 5;

const IN_SHIFT: u32 = 8;
const SUCC_SHIFT: u32 = 20;
const GEN_SHIFT: u32 = 32;
const FIELD_MASK: u64 = 0xFFF;
const IN_ONE: u64 = 1 << IN_SHIFT;

#[inline]
fn w_state(w: u64) -> u8 {
    (w & 0xFF) as u8
}
#[inline]
fn w_in_flight(w: u64) -> u32 {
    ((w >> IN_SHIFT) & FIELD_MASK) as u32
}
#[inline]
fn w_succeeded(w: u64) -> u32 {
    ((w >> SUCC_SHIFT) & FIELD_MASK) as u32
}
#[inline]
fn w_gen(w: u64) -> u32 {
    (w >> GEN_SHIFT) as u32
}
#[inline]
fn pack(state: u8, in_flight: u32, succeeded: u32, generation: u32) -> u64 {
    u64::from(state)
        | ((u64::from(in_flight) & FIELD_MASK) << IN_SHIFT)
        | ((u64::from(succeeded) & FIELD_MASK) << SUCC_SHIFT)
        | (u64::from(generation) << GEN_SHIFT)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// splitmix64: a cheap, well-mixed 64-bit hash, used for jitter.
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Pads a value to its own cache line so that hot reads and hot writes do not collide.
#[derive(Debug, Default)]
#[repr(align(64))]
struct CacheLine<T>(T);

// ---------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------

/// State of a circuit breaker.
///
/// ```
/// use secure_tool::breaker::{CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::builder("search").build();
/// assert_eq!(breaker.state(), State::Closed);
/// assert_eq!(State::HalfOpen.as_str(), "half_open");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls pass and their outcomes are evaluated.
    Closed,
    /// Calls are rejected until the open period ends.
    Open,
    /// A fixed number of trial calls decide between closing and re-opening.
    HalfOpen,
    /// Forced open by an operator: every call is rejected until [`CircuitBreaker::reset`].
    Isolated,
    /// Bypassed by an operator: every call passes and nothing is recorded.
    Disabled,
    /// Evaluated like closed, but never rejects: would-open events are only logged.
    Shadow,
}

impl State {
    fn from_code(code: u8) -> State {
        match code {
            ST_OPEN => State::Open,
            ST_HALF_OPEN => State::HalfOpen,
            ST_ISOLATED => State::Isolated,
            ST_DISABLED => State::Disabled,
            ST_SHADOW => State::Shadow,
            _ => State::Closed,
        }
    }

    fn code(self) -> u8 {
        match self {
            State::Closed => ST_CLOSED,
            State::Open => ST_OPEN,
            State::HalfOpen => ST_HALF_OPEN,
            State::Isolated => ST_ISOLATED,
            State::Disabled => ST_DISABLED,
            State::Shadow => ST_SHADOW,
        }
    }

    /// Stable lower-case name, as used in `tracing` events and metrics.
    ///
    /// ```
    /// use secure_tool::breaker::State;
    ///
    /// assert_eq!(State::Open.as_str(), "open");
    /// assert_eq!(State::Isolated.to_string(), "isolated");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::Isolated => "isolated",
            State::Disabled => "disabled",
            State::Shadow => "shadow",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Outcome of a call made under a [`Permit`].
///
/// Slowness is not an outcome of its own: the permit remembers when it was admitted and a
/// success or failure that took at least the slow-call threshold also counts as slow. A
/// timeout is a [`Outcome::Failure`] (and slow by construction when the timeout is at
/// least the slow-call threshold).
///
/// ```
/// use secure_tool::breaker::{CircuitBreaker, Outcome};
///
/// let breaker = CircuitBreaker::builder("geo").build();
/// let result: Result<u32, &str> = Err("invalid coordinates");
/// let outcome = match result {
///     Ok(_) => Outcome::Success,
///     Err("invalid coordinates") => Outcome::Ignored, // the caller's fault
///     Err(_) => Outcome::Failure,
/// };
/// breaker.try_acquire().unwrap().record(outcome);
/// assert_eq!(breaker.snapshot().ignored, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The dependency answered.
    Success,
    /// The dependency failed or timed out.
    Failure,
    /// The call says nothing about the dependency's health (invalid input, denial, not
    /// found, our own rejections): nothing is recorded against the dependency and a
    /// half-open permit is returned for another trial.
    Ignored,
}

/// Why a call was not admitted: the circuit is open, isolated or out of half-open permits.
///
/// Its `Display` text is safe to show to a client: it names neither the dependency nor the
/// cause.
///
/// ```
/// use std::time::Duration;
/// use secure_tool::breaker::{CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::builder("mail").open_duration(Duration::from_secs(15)).build();
/// breaker.isolate();
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(rejected.state, State::Isolated);
/// assert_eq!(rejected.retry_after, Duration::from_secs(15));
/// assert_eq!(rejected.to_string(), "dependency temporarily unavailable; retry after 15 s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejected {
    /// When it makes sense to try again: the rest of the open period, the rest of the
    /// half-open wait (at most the base open duration) or, when isolated, the base open
    /// duration.
    pub retry_after: Duration,
    /// State of the breaker when the call was rejected.
    pub state: State,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        write!(
            f,
            "dependency temporarily unavailable; retry after {} s",
            secs.max(1)
        )
    }
}

impl std::error::Error for Rejected {}

/// A monotonic clock. Never wall-clock time.
///
/// The default clock of a breaker is [`TokioClock`]; tests can inject a [`ManualClock`]
/// or their own implementation through [`CircuitBreakerBuilder::clock`].
///
/// ```
/// use secure_tool::breaker::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now() - t0, Duration::from_secs(2));
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current instant. Successive calls never go backwards.
    fn now(&self) -> Instant;
}

/// The default clock: [`tokio::time::Instant::now`], which follows tokio's paused clock in
/// tests (`start_paused`, `tokio::time::advance`).
///
/// ```
/// use secure_tool::breaker::{CircuitBreaker, Clock, TokioClock};
///
/// let now = TokioClock.now();
/// let breaker = CircuitBreaker::builder("db").clock(TokioClock).build();
/// assert!(breaker.try_acquire().is_ok());
/// # let _ = now;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use secure_tool::breaker::{CircuitBreaker, ManualClock, Outcome, State};
///
/// let clock = ManualClock::new();
/// let breaker = CircuitBreaker::builder("db")
///     .consecutive_failures(1)
///     .open_duration(Duration::from_secs(10))
///     .jitter(0.0)
///     .clock(clock.clone())
///     .build();
/// breaker.try_acquire().unwrap().record(Outcome::Failure);
/// assert_eq!(breaker.state(), State::Open);
/// clock.advance(Duration::from_secs(10));
/// assert!(breaker.try_acquire().unwrap().is_trial());
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    origin: Instant,
    offset_nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at the current tokio instant.
    ///
    /// ```
    /// use secure_tool::breaker::{Clock, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// assert_eq!(clock.now(), clock.now());
    /// ```
    pub fn new() -> Self {
        ManualClock {
            origin: Instant::now(),
            offset_nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves this clock and all its clones forward by `by`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::breaker::{Clock, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let before = clock.now();
    /// clock.clone().advance(Duration::from_millis(5));
    /// assert_eq!(clock.now() - before, Duration::from_millis(5));
    /// ```
    pub fn advance(&self, by: Duration) {
        let by = nanos(by);
        let _ = self
            .offset_nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(by))
            });
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.origin + Duration::from_nanos(self.offset_nanos.load(Ordering::Acquire))
    }
}

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
    /// Outcomes recorded as [`Outcome::Ignored`].
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

/// A breaker's configuration in plain values, from [`CircuitBreaker::settings`]: what a
/// reviewer reads in the tool manifest.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Settings {
    /// The sliding window, in words ("last 60 s (12 buckets)", "last 100 calls").
    pub window: String,
    /// Calls the window must hold before the rates may open the circuit.
    pub min_calls: u32,
    /// Failure rate (0.0 to 1.0) that opens the circuit.
    pub failure_rate_threshold: f64,
    /// Slow-call rate (0.0 to 1.0) that opens the circuit.
    pub slow_rate_threshold: f64,
    /// Duration from which a call counts as slow, in milliseconds.
    pub slow_call_ms: u64,
    /// Consecutive failures that open the circuit (0: off).
    pub consecutive_failures: u32,
    /// First open period, in milliseconds (doubled on each re-open).
    pub open_ms: u64,
    /// Cap of the open period, in milliseconds.
    pub max_open_ms: u64,
    /// Random spread of open periods (0.25 = ±25 %).
    pub jitter: f64,
    /// Trial calls admitted while half-open.
    pub half_open_permits: u32,
    /// Longest a half-open period may stay undecided, in milliseconds.
    pub max_half_open_wait_ms: u64,
}

// ---------------------------------------------------------------------------------------
// Configuration and builder
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum WindowKind {
    Time { length: Duration, buckets: u32 },
    Count { calls: u32 },
}

#[derive(Debug, Clone)]
struct Config {
    window: WindowKind,
    min_calls: u32,
    failure_rate: f64,
    slow_rate: f64,
    slow_call: Duration,
    consecutive: u32,
    open_base: Duration,
    open_max: Duration,
    jitter: f64,
    jitter_seed: Option<u64>,
    half_open_permits: u32,
    max_half_open_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            window: WindowKind::Time {
                length: DEFAULT_WINDOW,
                buckets: DEFAULT_BUCKETS,
            },
            min_calls: DEFAULT_MIN_CALLS,
            failure_rate: DEFAULT_FAILURE_RATE,
            slow_rate: DEFAULT_SLOW_RATE,
            slow_call: DEFAULT_SLOW_CALL,
            consecutive: DEFAULT_CONSECUTIVE,
            open_base: DEFAULT_OPEN,
            open_max: DEFAULT_MAX_OPEN,
            jitter: DEFAULT_JITTER,
            jitter_seed: None,
            half_open_permits: DEFAULT_HALF_OPEN_PERMITS,
            max_half_open_wait: DEFAULT_MAX_HALF_OPEN_WAIT,
        }
    }
}

fn clamp_rate(rate: f64, default: f64) -> f64 {
    if rate.is_nan() {
        default
    } else {
        rate.clamp(0.0, 1.0)
    }
}

/// Builds a [`CircuitBreaker`]; start with [`CircuitBreaker::builder`].
///
/// Defaults (MCP traffic is low-volume and slow):
///
/// | setting | default |
/// |---|---|
/// | window | time-based, 60 s in 10 buckets of 6 s |
/// | minimum calls | 10 |
/// | failure-rate threshold | 50 % |
/// | slow-rate threshold | 80 % |
/// | slow-call threshold | 24 s (0.8 × a 30 s attempt timeout) |
/// | consecutive failures | 5, within the window |
/// | open duration | 15 s, ×2 per re-open, capped at 5 min, ±25 % jitter |
/// | half-open permits | 3 |
/// | maximum half-open wait | 60 s (2 × the 30 s attempt timeout) |
/// | clock | [`TokioClock`] |
///
/// Out-of-range values are clamped rather than rejected (see each method).
///
/// ```
/// use std::time::Duration;
/// use secure_tool::breaker::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder("payments")
///     .sliding_window(Duration::from_secs(30), 6)
///     .min_calls(20)
///     .failure_rate_threshold(0.25)
///     .slow_call_threshold(Duration::from_secs(2))
///     .open_duration(Duration::from_secs(5))
///     .build();
/// assert_eq!(breaker.name(), "payments");
/// ```
#[must_use]
pub struct CircuitBreakerBuilder {
    name: Arc<str>,
    cfg: Config,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("name", &self.name)
            .field("config", &self.cfg)
            .field("custom_clock", &self.clock.is_some())
            .finish()
    }
}

impl CircuitBreakerBuilder {
    /// Time-based sliding window of `length`, split into `buckets` buckets (default 60 s,
    /// 10). Outcomes leave the window a bucket at a time, so the effective window is
    /// between `length - length / buckets` and `length`. Buckets are clamped to 1..=1000
    /// and the length to at least 1 ms per bucket.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").sliding_window(Duration::from_secs(10), 10).build();
    /// assert_eq!(breaker.snapshot().window_calls, 0);
    /// ```
    pub fn sliding_window(mut self, length: Duration, buckets: u32) -> Self {
        let buckets = buckets.clamp(1, MAX_BUCKETS);
        let length = length.max(MIN_PERIOD * buckets);
        self.cfg.window = WindowKind::Time { length, buckets };
        self
    }

    /// Count-based window over the last `calls` recorded calls (clamped to 1..=1 000 000)
    /// instead of the time-based one. The consecutive-failure streak is then reset by
    /// successes only.
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, Outcome, State};
    ///
    /// let breaker = CircuitBreaker::builder("db").count_window(4).min_calls(4).build();
    /// for outcome in [Outcome::Failure, Outcome::Success, Outcome::Failure, Outcome::Success] {
    ///     breaker.try_acquire().unwrap().record(outcome);
    /// }
    /// assert_eq!(breaker.state(), State::Open); // 2 of 4 failed: 50 %
    /// ```
    pub fn count_window(mut self, calls: u32) -> Self {
        self.cfg.window = WindowKind::Count {
            calls: calls.clamp(1, MAX_COUNT_WINDOW),
        };
        self
    }

    /// Calls the window must hold before a rate can open the circuit (default 10).
    ///
    /// ```
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").min_calls(100).build();
    /// # let _ = breaker;
    /// ```
    pub fn min_calls(mut self, calls: u32) -> Self {
        self.cfg.min_calls = calls;
        self
    }

    /// Failure rate (0.0 to 1.0) at or above which the circuit opens (default 0.5). At
    /// least one failure is always needed.
    ///
    /// ```
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").failure_rate_threshold(0.3).build();
    /// # let _ = breaker;
    /// ```
    pub fn failure_rate_threshold(mut self, rate: f64) -> Self {
        self.cfg.failure_rate = clamp_rate(rate, DEFAULT_FAILURE_RATE);
        self
    }

    /// Slow-call rate (0.0 to 1.0) at or above which the circuit opens (default 0.8). At
    /// least one slow call is always needed.
    ///
    /// ```
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").slow_rate_threshold(1.0).build();
    /// # let _ = breaker;
    /// ```
    pub fn slow_rate_threshold(mut self, rate: f64) -> Self {
        self.cfg.slow_rate = clamp_rate(rate, DEFAULT_SLOW_RATE);
        self
    }

    /// Duration from admission at or beyond which a call counts as slow (default 24 s,
    /// 0.8 × the default 30 s attempt timeout). `Duration::MAX` disables slow calls.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").slow_call_threshold(Duration::from_secs(4)).build();
    /// # let _ = breaker;
    /// ```
    pub fn slow_call_threshold(mut self, threshold: Duration) -> Self {
        self.cfg.slow_call = threshold;
        self
    }

    /// Failures in a row (within the window) that open the circuit regardless of the
    /// minimum calls (default 5; 0 disables; clamped to 65 535). A success ends the
    /// streak; so does time: a failure arriving a window length or more after the
    /// streak's first failure starts a new streak (conservative: failures spread over more
    /// than the window never trip).
    ///
    /// ```
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").consecutive_failures(0).build();
    /// # let _ = breaker;
    /// ```
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.cfg.consecutive = failures.min(u32::from(u16::MAX));
        self
    }

    /// Base open period (default 15 s, at least 1 ms). It doubles on each re-open without
    /// an intervening close, up to [`max_open_duration`](Self::max_open_duration).
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").open_duration(Duration::from_secs(30)).build();
    /// # let _ = breaker;
    /// ```
    pub fn open_duration(mut self, base: Duration) -> Self {
        self.cfg.open_base = base.max(MIN_PERIOD);
        self
    }

    /// Cap of the open period before jitter (default 5 min). With jitter `j` an open
    /// period is at most `cap × (1 + j)`: jitter is applied after the cap so that capped
    /// replicas still spread their probes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").max_open_duration(Duration::from_secs(60)).build();
    /// # let _ = breaker;
    /// ```
    pub fn max_open_duration(mut self, cap: Duration) -> Self {
        self.cfg.open_max = cap;
        self
    }

    /// Jitter of the open period as a fraction (default 0.25 = ±25 %, clamped to
    /// 0.0..=0.9); 0.0 disables it.
    ///
    /// ```
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").jitter(0.0).build();
    /// # let _ = breaker;
    /// ```
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.cfg.jitter = if fraction.is_nan() {
            DEFAULT_JITTER
        } else {
            fraction.clamp(0.0, 0.9)
        };
        self
    }

    /// Seed of the jitter sequence, for reproducible tests. By default every breaker gets
    /// a random seed from std's `RandomState`.
    ///
    /// ```
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").jitter_seed(42).build();
    /// # let _ = breaker;
    /// ```
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.cfg.jitter_seed = Some(seed);
        self
    }

    /// Trial permits handed out in half-open (default 3, clamped to 1..=4095); that many
    /// successes close the circuit.
    ///
    /// ```
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").half_open_permits(1).build();
    /// # let _ = breaker;
    /// ```
    pub fn half_open_permits(mut self, permits: u32) -> Self {
        self.cfg.half_open_permits = permits.clamp(1, MAX_HALF_OPEN_PERMITS);
        self
    }

    /// Longest time half-open may stay undecided (default 60 s, at least 1 ms); the next
    /// call after it re-opens the circuit, so lost or hung trials never wedge it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").max_half_open_wait(Duration::from_secs(90)).build();
    /// # let _ = breaker;
    /// ```
    pub fn max_half_open_wait(mut self, wait: Duration) -> Self {
        self.cfg.max_half_open_wait = wait.max(MIN_PERIOD);
        self
    }

    /// Clock of the breaker (default [`TokioClock`]).
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let breaker = CircuitBreaker::builder("db").clock(clock.clone()).build();
    /// # let _ = breaker;
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Builds the breaker, closed.
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, State};
    ///
    /// assert_eq!(CircuitBreaker::builder("db").build().state(), State::Closed);
    /// ```
    pub fn build(self) -> CircuitBreaker {
        let cfg = self.cfg;
        let origin = match &self.clock {
            Some(c) => c.now(),
            None => Instant::now(),
        };
        let seed = cfg
            .jitter_seed
            .unwrap_or_else(|| RandomState::new().hash_one(&*self.name));
        let window = match cfg.window {
            WindowKind::Time { length, buckets } => {
                let bucket_nanos = (nanos(length) / u64::from(buckets)).max(1);
                Window::Time(TimeWindow {
                    epoch_factor: u64::MAX / bucket_nanos,
                    window_ms: nanos(length) / 1_000_000,
                    current: AtomicU64::new(0),
                    last_bad: AtomicU64::new(0),
                    buckets: (0..buckets).map(|_| Bucket::default()).collect(),
                })
            }
            WindowKind::Count { calls } => Window::Count(CountWindow {
                slots: (0..calls).map(|_| AtomicU8::new(0)).collect(),
                next: AtomicU64::new(0),
                calls: AtomicI64::new(0),
                failures: AtomicI64::new(0),
                slow: AtomicI64::new(0),
            }),
        };
        CircuitBreaker {
            inner: Arc::new(Inner {
                word: CacheLine(AtomicU64::new(pack(ST_CLOSED, 0, 0, 0))),
                streak: CacheLine(AtomicU64::new(0)),
                open_until: AtomicU64::new(0),
                half_open_until: AtomicU64::new(0),
                window,
                counters: Counters::default(),
                jitter_counter: AtomicU64::new(0),
                jitter_seed: seed,
                slow_nanos: nanos(cfg.slow_call),
                locked: Mutex::new(Locked::default()),
                clock: self.clock,
                origin,
                name: self.name,
                cfg,
                transitions: tokio::sync::watch::Sender::new(State::Closed),
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Windows
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct WindowStats {
    calls: u64,
    failures: u64,
    slow: u64,
}

/// One bucket: `calls | failures << 32` in one word (one RMW per call), slow calls apart.
#[derive(Debug, Default)]
struct Bucket {
    packed: AtomicU64,
    slow: AtomicU64,
}

const CALL_ONE: u64 = 1;
const FAILURE_ONE: u64 = 1 << 32;

#[derive(Debug)]
struct TimeWindow {
    /// `u64::MAX / bucket length in ns`: `now * epoch_factor >> 64` is the bucket number
    /// (a multiply instead of a division; monotonic, off by one at most just below a
    /// bucket boundary).
    epoch_factor: u64,
    window_ms: u64,
    /// Epoch (time / bucket length) of the newest bucket.
    current: AtomicU64,
    /// 1 + epoch of the latest failure or slow call (0: none), to skip evaluating plain
    /// successes while the window holds nothing bad.
    last_bad: AtomicU64,
    buckets: Box<[Bucket]>,
}

impl TimeWindow {
    #[inline]
    fn epoch(&self, now: u64) -> u64 {
        ((u128::from(now) * u128::from(self.epoch_factor)) >> 64) as u64
    }

    /// Moves the window to `epoch`, retiring the buckets that left it. Needs the lock.
    fn rotate(&self, epoch: u64, locked: &mut Locked) {
        let cur = self.current.load(Ordering::Acquire);
        if epoch <= cur {
            return;
        }
        let n = self.buckets.len() as u64;
        let steps = (epoch - cur).min(n);
        for k in 0..steps {
            let bucket = &self.buckets[((epoch - k) % n) as usize];
            let v = bucket.packed.swap(0, Ordering::AcqRel);
            bucket.slow.swap(0, Ordering::AcqRel);
            locked.retired_calls += v & 0xFFFF_FFFF;
        }
        self.current.store(epoch, Ordering::Release);
    }

    /// Index of the bucket for `epoch`, rotating first if `epoch` is newer.
    #[inline]
    fn bucket_for(&self, epoch: u64, inner: &Inner) -> usize {
        let mut cur = self.current.load(Ordering::Acquire);
        if epoch > cur {
            self.rotate(epoch, &mut inner.lock());
            cur = self.current.load(Ordering::Acquire);
        }
        (epoch.max(cur) % self.buckets.len() as u64) as usize
    }

    /// Records one call at `now`; returns the epoch of `now`.
    #[inline]
    fn record(&self, now: u64, failure: bool, slow: bool, inner: &Inner) -> u64 {
        let epoch = self.epoch(now);
        let bucket = &self.buckets[self.bucket_for(epoch, inner)];
        bucket.packed.fetch_add(
            if failure {
                CALL_ONE | FAILURE_ONE
            } else {
                CALL_ONE
            },
            Ordering::AcqRel,
        );
        if slow {
            bucket.slow.fetch_add(1, Ordering::AcqRel);
        }
        if failure || slow {
            let mark = epoch + 1;
            if self.last_bad.load(Ordering::Relaxed) < mark {
                self.last_bad.store(mark, Ordering::Relaxed);
            }
        }
        epoch
    }

    /// Whether the window may hold a failure or slow call.
    #[inline]
    fn may_hold_bad(&self, epoch: u64) -> bool {
        let mark = self.last_bad.load(Ordering::Relaxed);
        mark != 0 && mark - 1 + self.buckets.len() as u64 > epoch
    }

    fn live(&self) -> WindowStats {
        let mut s = WindowStats::default();
        for b in self.buckets.iter() {
            let v = b.packed.load(Ordering::Acquire);
            s.calls += v & 0xFFFF_FFFF;
            s.failures += v >> 32;
            s.slow += b.slow.load(Ordering::Acquire);
        }
        s
    }

    fn stats(&self, now: u64, inner: &Inner) -> WindowStats {
        if self.epoch(now) > self.current.load(Ordering::Acquire) {
            self.rotate(self.epoch(now), &mut inner.lock());
        }
        self.live()
    }

    fn clear(&self, locked: &mut Locked) {
        for b in self.buckets.iter() {
            let v = b.packed.swap(0, Ordering::AcqRel);
            b.slow.swap(0, Ordering::AcqRel);
            locked.retired_calls += v & 0xFFFF_FFFF;
        }
        self.last_bad.store(0, Ordering::Relaxed);
    }
}

const SLOT_CALL: u8 = 1;
const SLOT_FAILURE: u8 = 2;
const SLOT_SLOW: u8 = 4;

#[derive(Debug)]
struct CountWindow {
    slots: Box<[AtomicU8]>,
    /// Calls ever recorded into this window; also the ring position.
    next: AtomicU64,
    // Signed: a racing swap may subtract before the matching add lands.
    calls: AtomicI64,
    failures: AtomicI64,
    slow: AtomicI64,
}

impl CountWindow {
    fn adjust(&self, old: u8, new: u8) {
        for (bit, total) in [
            (SLOT_CALL, &self.calls),
            (SLOT_FAILURE, &self.failures),
            (SLOT_SLOW, &self.slow),
        ] {
            match (old & bit != 0, new & bit != 0) {
                (false, true) => {
                    total.fetch_add(1, Ordering::AcqRel);
                }
                (true, false) => {
                    total.fetch_sub(1, Ordering::AcqRel);
                }
                _ => {}
            }
        }
    }

    #[inline]
    fn record(&self, failure: bool, slow: bool) {
        let code =
            SLOT_CALL | if failure { SLOT_FAILURE } else { 0 } | if slow { SLOT_SLOW } else { 0 };
        let i = self.next.fetch_add(1, Ordering::AcqRel) % self.slots.len() as u64;
        let old = self.slots[i as usize].swap(code, Ordering::AcqRel);
        if old != code {
            self.adjust(old, code);
        }
    }

    fn stats(&self) -> WindowStats {
        let get = |a: &AtomicI64| u64::try_from(a.load(Ordering::Acquire)).unwrap_or(0);
        WindowStats {
            calls: get(&self.calls),
            failures: get(&self.failures),
            slow: get(&self.slow),
        }
    }

    fn clear(&self) {
        for slot in self.slots.iter() {
            let old = slot.swap(0, Ordering::AcqRel);
            if old != 0 {
                self.adjust(old, 0);
            }
        }
    }
}

#[derive(Debug)]
enum Window {
    Time(TimeWindow),
    Count(CountWindow),
}

// ---------------------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Counters {
    /// Failures recorded into the window (successes are derived from the window's calls).
    window_failures: AtomicU64,
    /// Outcomes outside the window: half-open trials and stale outcomes.
    other_successes: AtomicU64,
    other_failures: AtomicU64,
    slow: AtomicU64,
    ignored: AtomicU64,
    abandoned: AtomicU64,
    rejected: AtomicU64,
    transitions: AtomicU64,
    opens: AtomicU64,
    would_open: AtomicU64,
}

/// State only touched on transitions, rotations and snapshots.
#[derive(Debug, Default)]
struct Locked {
    /// Re-opens since the circuit last closed (the backoff exponent).
    reopens: u32,
    /// Calls that left the time-based window.
    retired_calls: u64,
}

struct Inner {
    /// Read by every `try_acquire`; written on transitions and by half-open permits.
    word: CacheLine<AtomicU64>,
    /// Consecutive failures: `count (16 bits) | streak start in ms (48 bits) << 16`.
    streak: CacheLine<AtomicU64>,
    /// End of the open period, in nanoseconds since `origin`.
    open_until: AtomicU64,
    /// End of the half-open wait, in nanoseconds since `origin`.
    half_open_until: AtomicU64,
    window: Window,
    counters: Counters,
    jitter_counter: AtomicU64,
    jitter_seed: u64,
    slow_nanos: u64,
    locked: Mutex<Locked>,
    clock: Option<Arc<dyn Clock>>,
    origin: Instant,
    name: Arc<str>,
    cfg: Config,
    /// The state after the last transition, for [`CircuitBreaker::watch`].
    transitions: tokio::sync::watch::Sender<State>,
}

/// A transition to report once the lock is released.
struct Event {
    from: State,
    to: State,
    reason: &'static str,
    generation: u32,
    open_for: Option<Duration>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Locked> {
        self.locked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[inline]
    fn now(&self) -> u64 {
        let now = match &self.clock {
            None => Instant::now(),
            Some(c) => c.now(),
        };
        self.nanos_at(now)
    }

    #[inline]
    fn nanos_at(&self, t: Instant) -> u64 {
        nanos(t.saturating_duration_since(self.origin))
    }

    fn to_duration(n: u64) -> Duration {
        Duration::from_nanos(n)
    }

    /// Jitter factor in `[-1, 1)`.
    fn next_unit(&self) -> f64 {
        let c = self.jitter_counter.fetch_add(1, Ordering::Relaxed);
        let x = splitmix64(self.jitter_seed ^ c.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    fn open_duration(&self, reopens: u32) -> Duration {
        let factor = 1u32 << reopens.min(31);
        let mut d = self
            .cfg
            .open_base
            .saturating_mul(factor)
            .min(self.cfg.open_max);
        if self.cfg.jitter > 0.0 {
            let f = 1.0 + self.cfg.jitter * self.next_unit();
            d = Duration::try_from_secs_f64(d.as_secs_f64() * f).unwrap_or(d);
        }
        d.max(MIN_PERIOD)
    }

    fn clear_window(&self, locked: &mut Locked) {
        match &self.window {
            Window::Time(w) => w.clear(locked),
            Window::Count(w) => w.clear(),
        }
        self.streak.0.store(0, Ordering::Release);
    }

    /// Moves from `from` (generation and state; `None`: any, for operator actions) to
    /// `to`. Returns whether this call made the transition.
    fn transition(
        &self,
        from: Option<(u32, u8)>,
        to: State,
        reason: &'static str,
        now: u64,
    ) -> bool {
        let event = {
            let mut locked = self.lock();
            let mut w = self.word.0.load(Ordering::Acquire);
            if from.is_some_and(|(generation, state)| w_gen(w) != generation || w_state(w) != state)
            {
                return false;
            }
            let from_state = State::from_code(w_state(w));
            let mut open_for = None;
            match to {
                State::Closed => {
                    locked.reopens = 0;
                    self.clear_window(&mut locked);
                }
                State::Open => {
                    if from_state == State::HalfOpen {
                        locked.reopens = locked.reopens.saturating_add(1);
                    }
                    let d = self.open_duration(locked.reopens);
                    self.open_until
                        .store(now.saturating_add(nanos(d)), Ordering::Release);
                    open_for = Some(d);
                }
                State::HalfOpen => {
                    let wait = nanos(self.cfg.max_half_open_wait);
                    self.half_open_until
                        .store(now.saturating_add(wait), Ordering::Release);
                }
                State::Shadow => self.clear_window(&mut locked),
                State::Isolated | State::Disabled => {}
            }
            // Generation and state only change under the lock; the loop only absorbs
            // concurrent half-open permit updates.
            let generation = w_gen(w).wrapping_add(1);
            let new = pack(to.code(), 0, 0, generation);
            while let Err(actual) =
                self.word
                    .0
                    .compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Acquire)
            {
                w = actual;
            }
            if from_state != to {
                self.counters.transitions.fetch_add(1, Ordering::Relaxed);
            }
            if to == State::Open {
                self.counters.opens.fetch_add(1, Ordering::Relaxed);
            }
            Event {
                from: from_state,
                to,
                reason,
                generation,
                open_for,
            }
        };
        self.emit(&event);
        true
    }

    /// Shadow mode reached a trip condition: log it and restart the evaluation.
    fn shadow_trip(&self, generation: u32, reason: &'static str) {
        {
            let mut locked = self.lock();
            let mut w = self.word.0.load(Ordering::Acquire);
            if w_gen(w) != generation || w_state(w) != ST_SHADOW {
                return;
            }
            self.clear_window(&mut locked);
            let new = pack(ST_SHADOW, 0, 0, generation.wrapping_add(1));
            while let Err(actual) =
                self.word
                    .0
                    .compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Acquire)
            {
                w = actual;
            }
            self.counters.would_open.fetch_add(1, Ordering::Relaxed);
        }
        tracing::warn!(
            target: TARGET,
            breaker = %self.name,
            from = "shadow",
            to = "open",
            reason,
            would_open = true,
            "circuit breaker would open (shadow mode)"
        );
    }

    fn emit(&self, e: &Event) {
        self.transitions.send_replace(e.to);
        let (from, to, generation) = (e.from.as_str(), e.to.as_str(), e.generation);
        let reason = e.reason;
        match (e.to, e.open_for) {
            (State::Open, Some(d)) => tracing::warn!(
                target: TARGET,
                breaker = %self.name,
                from,
                to,
                reason,
                generation,
                open_for_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                "circuit breaker opened"
            ),
            (State::Isolated, _) => tracing::warn!(
                target: TARGET,
                breaker = %self.name,
                from,
                to,
                reason,
                generation,
                "circuit breaker isolated"
            ),
            _ => tracing::info!(
                target: TARGET,
                breaker = %self.name,
                from,
                to,
                reason,
                generation,
                "circuit breaker transition"
            ),
        }
    }

    fn reject(&self, state: State, retry_after: Duration) -> Rejected {
        self.counters.rejected.fetch_add(1, Ordering::Relaxed);
        Rejected { retry_after, state }
    }

    /// Everything but the closed fast path.
    #[cold]
    fn acquire_slow(&self, mut w: u64, now: u64) -> Result<(u32, Kind), Rejected> {
        // Each turn either returns or follows a transition; the bound is a safety net.
        for _ in 0..16 {
            let generation = w_gen(w);
            match w_state(w) {
                ST_CLOSED | ST_SHADOW => return Ok((generation, Kind::Normal)),
                ST_DISABLED => return Ok((generation, Kind::Bypass)),
                ST_ISOLATED => return Err(self.reject(State::Isolated, self.cfg.open_base)),
                ST_OPEN => {
                    let until = self.open_until.load(Ordering::Acquire);
                    if now < until {
                        return Err(self.reject(State::Open, Self::to_duration(until - now)));
                    }
                    self.transition(
                        Some((generation, ST_OPEN)),
                        State::HalfOpen,
                        "open_elapsed",
                        now,
                    );
                    w = self.word.0.load(Ordering::Acquire);
                }
                _ => {
                    let until = self.half_open_until.load(Ordering::Acquire);
                    if now >= until {
                        self.transition(
                            Some((generation, ST_HALF_OPEN)),
                            State::Open,
                            "half_open_timeout",
                            now,
                        );
                        w = self.word.0.load(Ordering::Acquire);
                        continue;
                    }
                    if w_in_flight(w) + w_succeeded(w) >= self.cfg.half_open_permits {
                        let retry = Self::to_duration(until - now).min(self.cfg.open_base);
                        return Err(self.reject(State::HalfOpen, retry));
                    }
                    match self.word.0.compare_exchange_weak(
                        w,
                        w + IN_ONE,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return Ok((generation, Kind::Trial)),
                        Err(actual) => w = actual,
                    }
                }
            }
        }
        let state = State::from_code(w_state(w));
        Err(self.reject(state, self.cfg.open_base))
    }

    /// Bumps the consecutive-failure streak; returns its new length.
    fn bump_streak(&self, now: u64) -> u32 {
        let now_ms = now / 1_000_000;
        let window_ms = match &self.window {
            Window::Time(w) => w.window_ms,
            Window::Count(_) => u64::MAX,
        };
        let mut s = self.streak.0.load(Ordering::Acquire);
        loop {
            let (count, start) = (s & 0xFFFF, s >> 16);
            let new = if count == 0 || now_ms.saturating_sub(start) >= window_ms {
                1 | (now_ms << 16)
            } else {
                ((count + 1).min(0xFFFF)) | (start << 16)
            };
            match self
                .streak
                .0
                .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return (new & 0xFFFF) as u32,
                Err(actual) => s = actual,
            }
        }
    }

    fn rate_trip(&self, s: WindowStats) -> Option<&'static str> {
        if s.calls == 0 || s.calls < u64::from(self.cfg.min_calls) {
            return None;
        }
        let calls = s.calls as f64;
        if s.failures > 0 && s.failures as f64 >= self.cfg.failure_rate * calls {
            Some("failure_rate")
        } else if s.slow > 0 && s.slow as f64 >= self.cfg.slow_rate * calls {
            Some("slow_rate")
        } else {
            None
        }
    }

    /// An outcome of a permit admitted while closed or in shadow mode.
    fn on_normal(&self, generation: u32, start: u64, outcome: Outcome, now: u64) {
        let failure = match outcome {
            Outcome::Ignored => {
                self.counters.ignored.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Outcome::Failure => true,
            Outcome::Success => false,
        };
        let slow = now.saturating_sub(start) >= self.slow_nanos;
        if slow {
            self.counters.slow.fetch_add(1, Ordering::Relaxed);
        }
        let w = self.word.0.load(Ordering::Acquire);
        let state = w_state(w);
        if w_gen(w) != generation || (state != ST_CLOSED && state != ST_SHADOW) {
            // Stale: admitted before a state change. Metrics only.
            let c = if failure {
                &self.counters.other_failures
            } else {
                &self.counters.other_successes
            };
            c.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut reason = None;
        let epoch = match &self.window {
            Window::Time(win) => win.record(now, failure, slow, self),
            Window::Count(win) => {
                win.record(failure, slow);
                0
            }
        };
        if failure {
            self.counters
                .window_failures
                .fetch_add(1, Ordering::Relaxed);
            let streak = self.bump_streak(now);
            if self.cfg.consecutive > 0 && streak >= self.cfg.consecutive {
                reason = Some("consecutive_failures");
            }
        } else if self.streak.0.load(Ordering::Relaxed) != 0 {
            self.streak.0.store(0, Ordering::Release);
        }
        if reason.is_none() {
            let stats = match &self.window {
                Window::Time(win) => {
                    if !(failure || slow || win.may_hold_bad(epoch)) {
                        return;
                    }
                    win.stats(now, self)
                }
                Window::Count(win) => win.stats(),
            };
            reason = self.rate_trip(stats);
        }
        if let Some(reason) = reason {
            if state == ST_CLOSED {
                self.transition(Some((generation, ST_CLOSED)), State::Open, reason, now);
            } else {
                self.shadow_trip(generation, reason);
            }
        }
    }

    /// An outcome of a half-open trial permit.
    fn on_trial(&self, generation: u32, start: u64, outcome: Outcome, now: u64) {
        let failure = match outcome {
            Outcome::Ignored => {
                self.counters.ignored.fetch_add(1, Ordering::Relaxed);
                self.release_trial(generation);
                return;
            }
            Outcome::Failure => true,
            Outcome::Success => false,
        };
        let slow = now.saturating_sub(start) >= self.slow_nanos;
        if slow {
            self.counters.slow.fetch_add(1, Ordering::Relaxed);
        }
        if failure {
            self.counters.other_failures.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters
                .other_successes
                .fetch_add(1, Ordering::Relaxed);
        }
        if failure || slow {
            let reason = if failure {
                "trial_failed"
            } else {
                "trial_slow"
            };
            self.transition(Some((generation, ST_HALF_OPEN)), State::Open, reason, now);
            return;
        }
        let mut w = self.word.0.load(Ordering::Acquire);
        loop {
            if w_gen(w) != generation || w_state(w) != ST_HALF_OPEN {
                return; // stale
            }
            let succeeded = w_succeeded(w) + 1;
            if succeeded >= self.cfg.half_open_permits {
                self.transition(
                    Some((generation, ST_HALF_OPEN)),
                    State::Closed,
                    "trials_succeeded",
                    now,
                );
                return;
            }
            let new = pack(
                ST_HALF_OPEN,
                w_in_flight(w).saturating_sub(1),
                succeeded,
                generation,
            );
            match self
                .word
                .0
                .compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => w = actual,
            }
        }
    }

    /// Returns a half-open permit without an outcome (ignored or abandoned).
    fn release_trial(&self, generation: u32) {
        let mut w = self.word.0.load(Ordering::Acquire);
        loop {
            if w_gen(w) != generation || w_state(w) != ST_HALF_OPEN || w_in_flight(w) == 0 {
                return;
            }
            match self.word.0.compare_exchange_weak(
                w,
                w - IN_ONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => w = actual,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// CircuitBreaker and Permit
// ---------------------------------------------------------------------------------------

/// A circuit breaker for one dependency. Cheap to clone: clones share the same state.
///
/// See the [module documentation](self) for the state machine.
///
/// ```
/// use secure_tool::breaker::{CircuitBreaker, Outcome, State};
///
/// let breaker = CircuitBreaker::builder("inventory").consecutive_failures(2).build();
/// let shared = breaker.clone();
/// shared.try_acquire().unwrap().record(Outcome::Failure);
/// shared.try_acquire().unwrap().record(Outcome::Failure);
/// assert_eq!(breaker.state(), State::Open);
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert!(rejected.retry_after > std::time::Duration::ZERO);
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.inner.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// Starts building a breaker named `name` (its only metric label).
    ///
    /// ```
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder(String::from("crm")).build();
    /// assert_eq!(breaker.name(), "crm");
    /// ```
    pub fn builder(name: impl Into<Arc<str>>) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder {
            name: name.into(),
            cfg: Config::default(),
            clock: None,
        }
    }

    /// The breaker's name.
    ///
    /// ```
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// assert_eq!(CircuitBreaker::builder("crm").build().name(), "crm");
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The current state (one atomic load). Open does not turn half-open here: that
    /// happens on the next [`try_acquire`](Self::try_acquire).
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, State};
    ///
    /// let breaker = CircuitBreaker::builder("crm").build();
    /// breaker.disable();
    /// assert_eq!(breaker.state(), State::Disabled);
    /// ```
    pub fn state(&self) -> State {
        State::from_code(w_state(self.inner.word.0.load(Ordering::Acquire)))
    }

    /// Asks to make a call. When closed this is one atomic load and one clock read; it
    /// never allocates and takes no lock. The returned [`Permit`] must be given the
    /// call's [`Outcome`]; dropping it records the call as abandoned.
    ///
    /// # Errors
    ///
    /// [`Rejected`] when the circuit is open (until the open period ends), isolated, or
    /// half-open with every trial permit taken. A rejected call must not reach the
    /// dependency.
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, Outcome};
    ///
    /// let breaker = CircuitBreaker::builder("crm").build();
    /// let permit = breaker.try_acquire().expect("closed");
    /// permit.record(Outcome::Success);
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        let inner = &*self.inner;
        let w = inner.word.0.load(Ordering::Acquire);
        let state = w_state(w);
        if state == ST_CLOSED || state == ST_SHADOW {
            return Ok(Permit {
                inner,
                start: inner.now(),
                generation: w_gen(w),
                kind: Kind::Normal,
            });
        }
        if state == ST_DISABLED {
            return Ok(Permit {
                inner,
                start: 0,
                generation: w_gen(w),
                kind: Kind::Bypass,
            });
        }
        let now = inner.now();
        let (generation, kind) = inner.acquire_slow(w, now)?;
        Ok(Permit {
            inner,
            start: now,
            generation,
            kind,
        })
    }

    /// [`try_acquire`](Self::try_acquire) with an instant the caller already read (from
    /// the breaker's clock), to share one clock read between a deadline and slow-call
    /// timing.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, Outcome};
    ///
    /// let breaker = CircuitBreaker::builder("crm").build();
    /// let start = tokio::time::Instant::now();
    /// let permit = breaker.try_acquire_at(start).unwrap();
    /// permit.record_at(Outcome::Success, tokio::time::Instant::now());
    /// ```
    #[inline]
    pub fn try_acquire_at(&self, now: Instant) -> Result<Permit<'_>, Rejected> {
        let inner = &*self.inner;
        let now = inner.nanos_at(now);
        let w = inner.word.0.load(Ordering::Acquire);
        let (generation, kind) = match w_state(w) {
            ST_CLOSED | ST_SHADOW => (w_gen(w), Kind::Normal),
            ST_DISABLED => (w_gen(w), Kind::Bypass),
            _ => inner.acquire_slow(w, now)?,
        };
        Ok(Permit {
            inner,
            start: now,
            generation,
            kind,
        })
    }

    /// How long calls will still be rejected without touching the dependency: the rest of
    /// the open period while open (`None` once it has passed: the next call is a trial),
    /// the base open duration while isolated, `None` otherwise. Lock-free.
    ///
    /// ```
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").build();
    /// assert_eq!(breaker.rejecting_for(), None);
    /// breaker.isolate();
    /// assert!(breaker.rejecting_for().is_some());
    /// ```
    pub fn rejecting_for(&self) -> Option<Duration> {
        let inner = &*self.inner;
        match w_state(inner.word.0.load(Ordering::Acquire)) {
            ST_OPEN => {
                let left = inner
                    .open_until
                    .load(Ordering::Acquire)
                    .saturating_sub(inner.now());
                (left > 0).then(|| Inner::to_duration(left))
            }
            ST_ISOLATED => Some(inner.cfg.open_base),
            _ => None,
        }
    }

    /// The breaker's configuration, as the tool manifest shows it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("db").count_window(50).min_calls(5).build();
    /// let settings = breaker.settings();
    /// assert_eq!(settings.window, "last 50 calls");
    /// assert_eq!(settings.min_calls, 5);
    /// assert_eq!(settings.open_ms, 15_000);
    /// ```
    pub fn settings(&self) -> Settings {
        let cfg = &self.inner.cfg;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Settings {
            window: match cfg.window {
                WindowKind::Time { length, buckets } => {
                    format!("last {} s ({buckets} buckets)", length.as_secs_f64())
                }
                WindowKind::Count { calls } => format!("last {calls} calls"),
            },
            min_calls: cfg.min_calls,
            failure_rate_threshold: cfg.failure_rate,
            slow_rate_threshold: cfg.slow_rate,
            slow_call_ms: ms(cfg.slow_call),
            consecutive_failures: cfg.consecutive,
            open_ms: ms(cfg.open_base),
            max_open_ms: ms(cfg.open_max),
            jitter: cfg.jitter,
            half_open_permits: cfg.half_open_permits,
            max_half_open_wait_ms: ms(cfg.max_half_open_wait),
        }
    }

    /// Follows the breaker's state: the receiver sees each transition's new state (the
    /// open → half-open transition happens lazily, on the first call after the open
    /// period). For reacting to transitions, such as degrading writes when the write
    /// dependency's breaker opens.
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, State};
    ///
    /// let breaker = CircuitBreaker::builder("db").build();
    /// let mut states = breaker.watch();
    /// breaker.isolate();
    /// assert!(states.has_changed().unwrap());
    /// assert_eq!(*states.borrow_and_update(), State::Isolated);
    /// ```
    pub fn watch(&self) -> tokio::sync::watch::Receiver<State> {
        self.inner.transitions.subscribe()
    }

    /// Whether this breaker reads tokio's clock (no custom [`Clock`]), so that an instant
    /// read from [`tokio::time::Instant::now`] can be shared with it.
    #[inline]
    pub(crate) fn on_tokio_clock(&self) -> bool {
        self.inner.clock.is_none()
    }

    /// Forces the circuit open until [`reset`](Self::reset): every call is rejected with
    /// a `retry_after` of the base open duration.
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, State};
    ///
    /// let breaker = CircuitBreaker::builder("crm").build();
    /// breaker.isolate();
    /// assert_eq!(breaker.try_acquire().unwrap_err().state, State::Isolated);
    /// ```
    pub fn isolate(&self) {
        self.inner
            .transition(None, State::Isolated, "operator_isolate", self.inner.now());
    }

    /// Bypasses the breaker until [`reset`](Self::reset): every call is admitted and no
    /// outcome is recorded.
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, Outcome};
    ///
    /// let breaker = CircuitBreaker::builder("crm").consecutive_failures(1).build();
    /// breaker.disable();
    /// breaker.try_acquire().unwrap().record(Outcome::Failure);
    /// assert!(breaker.try_acquire().is_ok());
    /// assert_eq!(breaker.snapshot().failures, 0);
    /// ```
    pub fn disable(&self) {
        self.inner
            .transition(None, State::Disabled, "operator_disable", self.inner.now());
    }

    /// Evaluates outcomes like a closed circuit but never rejects: when the circuit would
    /// open, a `would_open` event is logged, [`Snapshot::would_open`] grows and the
    /// evaluation restarts with an empty window. For tuning thresholds in production.
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, Outcome, State};
    ///
    /// let breaker = CircuitBreaker::builder("crm").consecutive_failures(1).build();
    /// breaker.shadow();
    /// breaker.try_acquire().unwrap().record(Outcome::Failure);
    /// assert_eq!(breaker.state(), State::Shadow);
    /// assert_eq!(breaker.snapshot().would_open, 1);
    /// ```
    pub fn shadow(&self) {
        self.inner
            .transition(None, State::Shadow, "operator_shadow", self.inner.now());
    }

    /// Back to normal operation: closed, empty window, no failure streak, no backoff.
    /// Outstanding permits become stale.
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, State};
    ///
    /// let breaker = CircuitBreaker::builder("crm").build();
    /// breaker.isolate();
    /// breaker.reset();
    /// assert_eq!(breaker.state(), State::Closed);
    /// assert!(breaker.try_acquire().is_ok());
    /// ```
    pub fn reset(&self) {
        self.inner
            .transition(None, State::Closed, "operator_reset", self.inner.now());
    }

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
        let w = inner.word.0.load(Ordering::Acquire);
        let state = State::from_code(w_state(w));
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
        let streak = inner.streak.0.load(Ordering::Acquire);
        Snapshot {
            name: inner.name.clone(),
            state,
            generation: w_gen(w),
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
            consecutive_failures: (streak & 0xFFFF) as u32,
            half_open_in_flight: if state == State::HalfOpen {
                w_in_flight(w)
            } else {
                0
            },
            half_open_succeeded: if state == State::HalfOpen {
                w_succeeded(w)
            } else {
                0
            },
            retry_after,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Admitted while closed or in shadow mode.
    Normal,
    /// A half-open trial.
    Trial,
    /// Admitted while disabled: nothing is recorded.
    Bypass,
    /// Already recorded.
    Done,
}

/// Permission to make one call, from [`CircuitBreaker::try_acquire`].
///
/// Give it the call's outcome with [`record`](Self::record). Dropping it without an
/// outcome (a cancelled future, a panic) counts as abandoned: nothing is recorded against
/// the dependency and a half-open trial slot is handed back.
///
/// ```
/// use secure_tool::breaker::{CircuitBreaker, Outcome};
///
/// let breaker = CircuitBreaker::builder("crm").build();
/// let permit = breaker.try_acquire().unwrap();
/// assert!(!permit.is_trial());
/// permit.record(Outcome::Success);
/// drop(breaker.try_acquire().unwrap());
/// assert_eq!(breaker.snapshot().abandoned, 1);
/// ```
#[must_use = "record the call's outcome; a dropped permit counts as abandoned"]
pub struct Permit<'a> {
    inner: &'a Inner,
    /// Admission time, in nanoseconds since the breaker's origin.
    start: u64,
    generation: u32,
    kind: Kind,
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.inner.name)
            .field("generation", &self.generation)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Permit<'_> {
    /// Records the outcome of the call. A success or failure that took at least the
    /// slow-call threshold since admission also counts as slow. Allocation-free; it
    /// takes the breaker's lock only when the window moves to a new bucket (at most once
    /// per bucket length) or the state changes. An outcome of a permit admitted before
    /// the last state change updates the counters only.
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, Outcome};
    ///
    /// let breaker = CircuitBreaker::builder("crm").build();
    /// breaker.try_acquire().unwrap().record(Outcome::Failure);
    /// assert_eq!(breaker.snapshot().failures, 1);
    /// ```
    pub fn record(self, outcome: Outcome) {
        let now = if self.kind == Kind::Bypass {
            0
        } else {
            self.inner.now()
        };
        self.finish(outcome, now);
    }

    /// [`record`](Self::record) with an instant the caller already read from the
    /// breaker's clock.
    ///
    /// ```
    /// use secure_tool::breaker::{CircuitBreaker, Outcome};
    ///
    /// let breaker = CircuitBreaker::builder("crm").build();
    /// let permit = breaker.try_acquire().unwrap();
    /// permit.record_at(Outcome::Success, tokio::time::Instant::now());
    /// assert_eq!(breaker.snapshot().successes, 1);
    /// ```
    pub fn record_at(self, outcome: Outcome, now: Instant) {
        let now = self.inner.nanos_at(now);
        self.finish(outcome, now);
    }

    /// Whether this is a half-open trial permit (a probe of a recovering dependency).
    ///
    /// ```
    /// use secure_tool::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("crm").build();
    /// assert!(!breaker.try_acquire().unwrap().is_trial());
    /// ```
    pub fn is_trial(&self) -> bool {
        self.kind == Kind::Trial
    }

    fn finish(mut self, outcome: Outcome, now: u64) {
        let kind = std::mem::replace(&mut self.kind, Kind::Done);
        match kind {
            Kind::Normal => self
                .inner
                .on_normal(self.generation, self.start, outcome, now),
            Kind::Trial => self
                .inner
                .on_trial(self.generation, self.start, outcome, now),
            Kind::Bypass | Kind::Done => {}
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        match self.kind {
            Kind::Normal => {
                self.inner
                    .counters
                    .abandoned
                    .fetch_add(1, Ordering::Relaxed);
            }
            Kind::Trial => {
                self.inner
                    .counters
                    .abandoned
                    .fetch_add(1, Ordering::Relaxed);
                self.inner.release_trial(self.generation);
            }
            Kind::Bypass | Kind::Done => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests;

//! Configuration of a breaker: defaults and limits, the builder, and the plain `Settings`
//! the tool manifest shows.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::circuit_breaker::CircuitBreaker;
use super::clock::Clock;
use super::inner::Inner;

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
pub(super) const MAX_HALF_OPEN_PERMITS: u32 = 0xFFF;
/// Shortest open period and half-open wait, so that lazy transitions always make progress.
pub(super) const MIN_PERIOD: Duration = Duration::from_millis(1);
const MAX_BUCKETS: u32 = 1_000;
const MAX_COUNT_WINDOW: u32 = 1_000_000;

#[derive(Debug, Clone, Copy)]
pub(super) enum WindowKind {
    Time { length: Duration, buckets: u32 },
    Count { calls: u32 },
}

#[derive(Debug, Clone)]
pub(super) struct Config {
    pub(super) window: WindowKind,
    pub(super) min_calls: u32,
    pub(super) failure_rate: f64,
    pub(super) slow_rate: f64,
    pub(super) slow_call: Duration,
    pub(super) consecutive: u32,
    pub(super) open_base: Duration,
    pub(super) open_max: Duration,
    pub(super) jitter: f64,
    pub(super) jitter_seed: Option<u64>,
    pub(super) half_open_permits: u32,
    pub(super) max_half_open_wait: Duration,
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
/// | clock | [`TokioClock`](super::TokioClock) |
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
    /// A builder with the defaults, for [`CircuitBreaker::builder`].
    pub(super) fn new(name: Arc<str>) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder {
            name,
            cfg: Config::default(),
            clock: None,
        }
    }

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

    /// Clock of the breaker (default [`TokioClock`](super::TokioClock)).
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
        CircuitBreaker {
            inner: Arc::new(Inner::new(self.name, self.cfg, self.clock)),
        }
    }
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

impl CircuitBreaker {
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
}

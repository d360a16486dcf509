//! Time of a breaker: the monotonic, injectable `Clock` and its two implementations.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// A monotonic clock. Never wall-clock time.
///
/// The default clock of a breaker is [`TokioClock`]; tests can inject a [`ManualClock`]
/// or their own implementation through
/// [`CircuitBreakerBuilder::clock`](super::CircuitBreakerBuilder::clock).
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

/// A duration in nanoseconds, saturating at `u64::MAX` (584 years).
pub(super) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

//! Admission: whether a call may go ahead, and the `Rejected` answer when it may not.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::circuit_breaker::CircuitBreaker;
use super::inner::Inner;
use super::permit::{Kind, Permit};
use super::state::State;
use super::state_word::{
    ST_CLOSED, ST_DISABLED, ST_HALF_OPEN, ST_ISOLATED, ST_OPEN, ST_SHADOW, StateWord,
};

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

impl CircuitBreaker {
    /// Asks to make a call. When closed this is one atomic load and one clock read; it
    /// never allocates and takes no lock. The returned [`Permit`] must be given the
    /// call's [`Outcome`](super::Outcome); dropping it records the call as abandoned.
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
        let w = inner.load_word();
        let state = w.state_code();
        if state == ST_CLOSED || state == ST_SHADOW {
            return Ok(Permit {
                inner,
                start: inner.now(),
                generation: w.generation(),
                kind: Kind::Normal,
            });
        }
        if state == ST_DISABLED {
            return Ok(Permit {
                inner,
                start: 0,
                generation: w.generation(),
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
        let w = inner.load_word();
        let (generation, kind) = match w.state_code() {
            ST_CLOSED | ST_SHADOW => (w.generation(), Kind::Normal),
            ST_DISABLED => (w.generation(), Kind::Bypass),
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
        match inner.load_word().state_code() {
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
}

impl Inner {
    fn reject(&self, state: State, retry_after: Duration) -> Rejected {
        self.counters.rejected.fetch_add(1, Ordering::Relaxed);
        Rejected { retry_after, state }
    }

    /// Everything but the closed fast path.
    #[cold]
    pub(super) fn acquire_slow(&self, mut w: StateWord, now: u64) -> Result<(u32, Kind), Rejected> {
        // Each turn either returns or follows a transition; the bound is a safety net.
        for _ in 0..16 {
            let generation = w.generation();
            match w.state_code() {
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
                    w = self.load_word();
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
                        w = self.load_word();
                        continue;
                    }
                    if w.in_flight() + w.succeeded() >= self.cfg.half_open_permits {
                        let retry = Self::to_duration(until - now).min(self.cfg.open_base);
                        return Err(self.reject(State::HalfOpen, retry));
                    }
                    match self.cas_word(w, w.with_trial_taken()) {
                        Ok(_) => return Ok((generation, Kind::Trial)),
                        Err(actual) => w = actual,
                    }
                }
            }
        }
        let state = w.state();
        Err(self.reject(state, self.cfg.open_base))
    }
}

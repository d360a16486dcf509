//! The `Permit` of an admitted call and the `Outcome` it is given.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::clock::nanos;
use super::inner::Inner;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Admitted while closed or in shadow mode.
    Normal,
    /// A half-open trial.
    Trial,
    /// Admitted while disabled: nothing is recorded.
    Bypass,
    /// Already recorded.
    Done,
}

/// Permission to make one call, from
/// [`CircuitBreaker::try_acquire`](super::CircuitBreaker::try_acquire).
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
    pub(super) inner: &'a Inner,
    /// Admission time, in nanoseconds since the breaker's origin.
    pub(super) start: u64,
    pub(super) generation: u32,
    pub(super) kind: Kind,
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

    /// [`record_at`](Self::record_at) for a call that had `timeout` from the instant the
    /// permit was acquired at: past it, a failure (the call timed out, though nothing cut
    /// it off: a handler that held its thread), whatever `outcome` says. Timed in the
    /// breaker's own nanoseconds, converted once.
    pub(crate) fn record_within(self, outcome: Outcome, now: Instant, timeout: Duration) {
        let now = self.inner.nanos_at(now);
        let outcome = if now.saturating_sub(self.start) > nanos(timeout) {
            Outcome::Failure
        } else {
            outcome
        };
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

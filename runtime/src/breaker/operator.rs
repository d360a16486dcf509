//! Operator controls: isolate, disable, shadow and reset.

use super::circuit_breaker::CircuitBreaker;
use super::state::State;

impl CircuitBreaker {
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
    /// open, a `would_open` event is logged,
    /// [`Snapshot::would_open`](super::Snapshot::would_open) grows and the evaluation
    /// restarts with an empty window. For tuning thresholds in production.
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
}

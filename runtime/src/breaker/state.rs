//! The public `State` of a breaker: its names and its code in the state word.

use std::fmt;

use super::state_word::{ST_CLOSED, ST_DISABLED, ST_HALF_OPEN, ST_ISOLATED, ST_OPEN, ST_SHADOW};

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
    /// Forced open by an operator: every call is rejected until
    /// [`CircuitBreaker::reset`](super::CircuitBreaker::reset).
    Isolated,
    /// Bypassed by an operator: every call passes and nothing is recorded.
    Disabled,
    /// Evaluated like closed, but never rejects: would-open events are only logged.
    Shadow,
}

impl State {
    pub(super) fn from_code(code: u8) -> State {
        match code {
            ST_OPEN => State::Open,
            ST_HALF_OPEN => State::HalfOpen,
            ST_ISOLATED => State::Isolated,
            ST_DISABLED => State::Disabled,
            ST_SHADOW => State::Shadow,
            _ => State::Closed,
        }
    }

    pub(super) fn code(self) -> u8 {
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

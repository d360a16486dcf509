//! The `CircuitBreaker` handle: construction, name, state and the state watch.

use std::fmt;
use std::sync::Arc;

use super::config::CircuitBreakerBuilder;
use super::inner::Inner;
use super::state::State;

/// A circuit breaker for one dependency. Cheap to clone: clones share the same state.
///
/// See the [module documentation](super) for the state machine.
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
    pub(super) inner: Arc<Inner>,
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
        CircuitBreakerBuilder::new(name.into())
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
        self.inner.load_word().state()
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

    /// Whether this breaker reads tokio's clock (no custom [`Clock`](super::Clock)), so
    /// that an instant read from [`tokio::time::Instant::now`] can be shared with it.
    #[inline]
    pub(crate) fn on_tokio_clock(&self) -> bool {
        self.inner.clock.is_none()
    }
}

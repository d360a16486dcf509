//! What keeps a tool responsive when its dependency is sick: a deadline on every call, and
//! for tools that name one (`breaker = ...`), the dependency's circuit breaker and
//! bulkhead.
//!
//! A [`Dependency`] is one downstream service (a database, an HTTP API) with its
//! [`CircuitBreaker`] and its [`Bulkhead`]; tools that call it share it. `#[secure_tool]`
//! runs the handler through [`Limits::run`], in this order:
//!
//! 1. the deadline starts (one clock read, shared with the breaker's slow-call timing);
//! 2. the bulkhead admits the call or answers "overloaded" at once (no queue);
//! 3. the breaker admits it or answers "unavailable" at once, with a retry-after hint,
//!    without touching the dependency;
//! 4. the handler runs, with panics caught, until the deadline;
//! 5. the outcome goes to the breaker, timed from the call's start to its end: success,
//!    or failure for dependency failures (internal, unavailable, timeout, overloaded,
//!    panics, the deadline, and a result that came past the deadline because the handler
//!    held its thread); the caller's own errors (invalid input, not found, conflict) are
//!    ignored, and so is anything a handler marks with [`ToolError::with_breaker_outcome`].
//!
//! Dropping the call (the client cancelled it) releases the bulkhead slot and the breaker
//! permit without recording an outcome. Nothing here retries.
//!
//! ```
//! use std::time::Duration;
//! use secure_tool::resilience::{Dependency, Limits};
//! use secure_tool::ToolError;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = Dependency::new("store");
//! let limits = Limits::new(Duration::from_secs(5)).with_dependency(&store);
//! let answer = limits.run(async { Ok::<_, ToolError>(42) }).await;
//! assert_eq!(answer.unwrap(), 42);
//! assert_eq!(store.breaker().snapshot().successes, 1);
//! # }
//! ```

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use crate::breaker::{CircuitBreaker, Outcome, Rejected};
use crate::bulkhead::{Bulkhead, BulkheadFull};
use crate::sanitize::{ErrorCategory, ToolError};

/// The deadline of a tool that does not set `timeout = ...`: 30 s.
///
/// MCP clients commonly give up on a request after about a minute; 30 s leaves room for
/// the answer to reach them.
///
/// ```
/// assert_eq!(secure_tool::resilience::DEFAULT_TIMEOUT.as_secs(), 30);
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest deadline a tool, resource or prompt may have: a day. A deadline is what
/// keeps a call from waiting forever; one past this keeps nothing from it (work that long
/// is a job to start and poll, not a call to wait on).
///
/// ```
/// assert_eq!(secure_tool::resilience::MAX_TIMEOUT.as_secs(), 86_400);
/// ```
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// Panics unless `timeout` is a deadline: more than zero, at most [`MAX_TIMEOUT`].
pub(crate) fn check_timeout(timeout: Duration, what: &str, name: &str) {
    assert!(
        !timeout.is_zero(),
        "the timeout of {what} `{name}` must be more than zero"
    );
    assert!(
        timeout <= MAX_TIMEOUT,
        "the timeout of {what} `{name}` is {timeout:?}, more than a day (MAX_TIMEOUT): no call \
         should wait that long"
    );
}

/// One downstream dependency: its circuit breaker and its bulkhead (default: at most
/// [`DEFAULT_MAX_CONCURRENT`](crate::bulkhead::DEFAULT_MAX_CONCURRENT) calls at a time).
/// Tools that call the dependency name it with `breaker = ...`.
///
/// Keep one per dependency for the life of the server (a field of the server's state, or
/// a `static`): a breaker made per call would never see more than one outcome.
///
/// ```
/// use std::time::Duration;
/// use secure_tool::breaker::CircuitBreaker;
/// use secure_tool::resilience::Dependency;
///
/// let billing = Dependency::with_breaker(
///     CircuitBreaker::builder("billing").open_duration(Duration::from_secs(5)).build(),
/// )
/// .max_concurrent(8);
/// assert_eq!(billing.name(), "billing");
/// assert_eq!(billing.bulkhead().unwrap().max_concurrent(), 8);
/// ```
#[derive(Clone, Debug)]
pub struct Dependency {
    breaker: CircuitBreaker,
    bulkhead: Option<Bulkhead>,
}

impl Dependency {
    /// A dependency named `name` with the default breaker and the default bulkhead.
    ///
    /// ```
    /// let db = secure_tool::resilience::Dependency::new("db");
    /// assert_eq!(db.bulkhead().unwrap().max_concurrent(), 32);
    /// ```
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self::with_breaker(CircuitBreaker::builder(name).build())
    }

    /// A dependency guarded by `breaker`, with the default bulkhead, named after it.
    ///
    /// ```
    /// use secure_tool::breaker::CircuitBreaker;
    /// let db = secure_tool::resilience::Dependency::with_breaker(CircuitBreaker::builder("db").build());
    /// assert_eq!(db.breaker().name(), "db");
    /// ```
    pub fn with_breaker(breaker: CircuitBreaker) -> Self {
        let bulkhead = Bulkhead::with_default_limit(breaker.name());
        Self {
            breaker,
            bulkhead: Some(bulkhead),
        }
    }

    /// Caps the concurrent calls to this dependency at `max` (0 rejects every call).
    ///
    /// ```
    /// let db = secure_tool::resilience::Dependency::new("db").max_concurrent(4);
    /// assert_eq!(db.bulkhead().unwrap().max_concurrent(), 4);
    /// ```
    pub fn max_concurrent(mut self, max: usize) -> Self {
        self.bulkhead = Some(Bulkhead::new(self.breaker.name(), max));
        self
    }

    /// Removes the cap on concurrent calls (the breaker stays).
    ///
    /// ```
    /// let db = secure_tool::resilience::Dependency::new("db").unbounded();
    /// assert!(db.bulkhead().is_none());
    /// ```
    pub fn unbounded(mut self) -> Self {
        self.bulkhead = None;
        self
    }

    /// The dependency's name (its breaker's).
    ///
    /// ```
    /// assert_eq!(secure_tool::resilience::Dependency::new("db").name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        self.breaker.name()
    }

    /// The dependency's circuit breaker, for snapshots and operator actions.
    ///
    /// ```
    /// use secure_tool::breaker::State;
    /// let db = secure_tool::resilience::Dependency::new("db");
    /// db.breaker().isolate();
    /// assert_eq!(db.breaker().state(), State::Isolated);
    /// ```
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The dependency's bulkhead, if it has one.
    ///
    /// ```
    /// let db = secure_tool::resilience::Dependency::new("db");
    /// assert_eq!(db.bulkhead().unwrap().in_flight(), 0);
    /// ```
    pub fn bulkhead(&self) -> Option<&Bulkhead> {
        self.bulkhead.as_ref()
    }
}

/// What `breaker = ...` accepts: a [`Dependency`] or a bare [`CircuitBreaker`] (no
/// bulkhead), directly or behind `&`, `Arc`, `Box` or `LazyLock`.
///
/// ```
/// use std::sync::LazyLock;
/// use secure_tool::resilience::{AsDependency, Dependency};
///
/// static SEARCH: LazyLock<Dependency> = LazyLock::new(|| Dependency::new("search"));
/// assert_eq!(SEARCH.dependency().breaker.name(), "search");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a circuit breaker: `breaker = ...` names the dependency this tool calls",
    label = "expected a `secure_tool::resilience::Dependency` or a `secure_tool::breaker::CircuitBreaker`",
    note = "keep one `Dependency` per downstream service in the server's state (`breaker = self.store`) or in a `static`, and name it in every tool that calls that service"
)]
pub trait AsDependency {
    /// The breaker and bulkhead guarding the dependency.
    fn dependency(&self) -> DependencyRef<'_>;
}

impl AsDependency for CircuitBreaker {
    fn dependency(&self) -> DependencyRef<'_> {
        DependencyRef {
            breaker: self,
            bulkhead: None,
        }
    }
}

impl AsDependency for Dependency {
    fn dependency(&self) -> DependencyRef<'_> {
        DependencyRef {
            breaker: &self.breaker,
            bulkhead: self.bulkhead.as_ref(),
        }
    }
}

impl<T: AsDependency + ?Sized> AsDependency for &T {
    fn dependency(&self) -> DependencyRef<'_> {
        (**self).dependency()
    }
}

impl<T: AsDependency + ?Sized> AsDependency for Arc<T> {
    fn dependency(&self) -> DependencyRef<'_> {
        (**self).dependency()
    }
}

impl<T: AsDependency + ?Sized> AsDependency for Box<T> {
    fn dependency(&self) -> DependencyRef<'_> {
        (**self).dependency()
    }
}

impl<T: AsDependency, F: FnOnce() -> T> AsDependency for LazyLock<T, F> {
    fn dependency(&self) -> DependencyRef<'_> {
        (**self).dependency()
    }
}

/// The breaker and the bulkhead one call goes through.
#[derive(Clone, Copy, Debug)]
pub struct DependencyRef<'a> {
    /// The dependency's circuit breaker.
    pub breaker: &'a CircuitBreaker,
    /// Its bulkhead, if any.
    pub bulkhead: Option<&'a Bulkhead>,
}

/// The deadline and dependency of one call. Built by the code `#[secure_tool]` generates;
/// usable directly around any future.
///
/// ```
/// use std::time::Duration;
/// use secure_tool::resilience::Limits;
/// use secure_tool::{ErrorCategory, ToolError};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let slow = async {
///     tokio::time::sleep(Duration::from_secs(60)).await;
///     Ok::<_, ToolError>(())
/// };
/// let error = Limits::new(Duration::from_secs(1)).run(slow).await.unwrap_err();
/// assert_eq!(error.category(), ErrorCategory::Timeout);
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Limits<'a> {
    timeout: Duration,
    start: Option<Instant>,
    dependency: Option<DependencyRef<'a>>,
}

impl<'a> Limits<'a> {
    /// A call that must finish within `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            start: None,
            dependency: None,
        }
    }

    /// The call started at `start`, an instant the caller already read from tokio's clock
    /// (the server reads one per call for its audit event): the deadline counts from it,
    /// and no other clock read is needed before the handler runs.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::resilience::Limits;
    /// use secure_tool::{ErrorCategory, ToolError};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let start = tokio::time::Instant::now();
    /// tokio::time::advance(Duration::from_secs(2)).await;
    /// // Two of its three seconds are gone already.
    /// let slow = async {
    ///     tokio::time::sleep(Duration::from_millis(1500)).await;
    ///     Ok::<_, ToolError>(())
    /// };
    /// let limits = Limits::new(Duration::from_secs(3)).started_at(start);
    /// assert_eq!(limits.run(slow).await.unwrap_err().category(), ErrorCategory::Timeout);
    /// # }
    /// ```
    pub fn started_at(mut self, start: Instant) -> Self {
        self.start = Some(start);
        self
    }

    /// The call goes through `dependency`'s bulkhead and breaker.
    pub fn with_dependency(self, dependency: &'a (impl AsDependency + ?Sized)) -> Self {
        self.with_dependency_ref(Some(dependency.dependency()))
    }

    /// The call goes through `dependency`, if any.
    pub fn with_dependency_ref(mut self, dependency: Option<DependencyRef<'a>>) -> Self {
        self.dependency = dependency;
        self
    }

    /// The deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `call` under these limits.
    ///
    /// The cost on the success path is one clock read at the start (none with
    /// [`started_at`](Self::started_at)) and, with a dependency, one at the end, two
    /// atomic operations on the breaker and two on the bulkhead, and no allocation. The
    /// deadline's timer is registered only if the call has to wait: a call that finishes
    /// in its first poll never touches the timer wheel. The breaker times every call from
    /// its start to its end, so a handler that holds its thread (a synchronous database
    /// client, say) still counts as slow when it is, and as a timeout (a failure) past the
    /// deadline. A deadline cannot cut into one poll, though: such a handler's result is
    /// returned when it comes, however late; run blocking work with
    /// `tokio::task::spawn_blocking` (then the call waits, and is bounded).
    ///
    /// # Errors
    ///
    /// The call's own error; [`ErrorCategory::Overloaded`] when the bulkhead is full,
    /// [`ErrorCategory::Unavailable`] (with a retry-after hint) when the breaker rejects
    /// the call, both without running it; [`ErrorCategory::Timeout`] past the deadline
    /// (the call is dropped, and counts as a failure); [`ErrorCategory::Internal`] when it
    /// panics (the panic's message is in the error's source, for the log).
    pub async fn run<T>(
        self,
        call: impl Future<Output = Result<T, ToolError>>,
    ) -> Result<T, ToolError> {
        let start = self.start.unwrap_or_else(Instant::now);
        let Some(dependency) = self.dependency else {
            return Bounded::new(call, start, self.timeout).await;
        };
        let _slot = match dependency.bulkhead.map(Bulkhead::try_acquire) {
            Some(Err(full)) => return Err(overloaded(full)),
            Some(Ok(slot)) => Some(slot),
            None => None,
        };
        // The instant read for the deadline also times the call for the breaker, unless
        // the breaker has a clock of its own (tests).
        let shared_clock = dependency.breaker.on_tokio_clock();
        let admitted = if shared_clock {
            dependency.breaker.try_acquire_at(start)
        } else {
            dependency.breaker.try_acquire()
        };
        let permit = match admitted {
            Ok(permit) => permit,
            Err(rejected) => return Err(open(rejected)),
        };
        // Built where it is awaited: made in place, not moved there.
        let result = Bounded::new(call, start, self.timeout).await;
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err(error) => error.breaker_outcome(),
        };
        if shared_clock {
            // Read even for a call done in its first poll: a handler that held its thread
            // (or time spent before it, since `started_at`) is as slow as one that waited,
            // and one that held it past the deadline timed out, as one that waited that
            // long would have (its result, made by then, is still returned).
            permit.record_within(outcome, Instant::now(), self.timeout);
        } else {
            // The breaker's own clock times the call; the deadline is tokio's.
            let late = Instant::now() > deadline(start, self.timeout);
            permit.record(if late { Outcome::Failure } else { outcome });
        }
        result
    }
}

pin_project_lite::pin_project! {
    /// A call bounded by its deadline, with panics caught, in its polls and in its drop.
    /// The deadline's timer is created on the first `Pending`, so a call that finishes at
    /// once never touches the timer wheel.
    struct Bounded<F> {
        #[pin]
        call: DropCaught<F>,
        #[pin]
        sleep: Option<tokio::time::Sleep>,
        start: Instant,
        timeout: Duration,
    }
}

impl<F> Bounded<F> {
    fn new(call: F, start: Instant, timeout: Duration) -> Self {
        Self {
            call: DropCaught::new("a handler's future", call),
            sleep: None,
            start,
            timeout,
        }
    }
}

pin_project_lite::pin_project! {
    /// A future of user code (a handler's, a policy's) whose drop is caught: past a
    /// deadline, after a panic or when its call is cancelled, it is dropped by the guard,
    /// and a panic in a `Drop` of what it holds must not take the request's task with it.
    pub(crate) struct DropCaught<F> {
        #[pin]
        inner: Option<F>,
        what: &'static str,
    }

    impl<F> PinnedDrop for DropCaught<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut inner = this.inner;
            crate::util::drop_caught(this.what, || inner.set(None));
        }
    }
}

impl<F> DropCaught<F> {
    pub(crate) fn new(what: &'static str, inner: F) -> Self {
        Self {
            inner: Some(inner),
            what,
        }
    }
}

impl<F: Future> Future for DropCaught<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project()
            .inner
            .as_pin_mut()
            .expect("polled after it was dropped")
            .poll(cx)
    }
}

/// When something that started at `start` runs out of `timeout`: a guarded call's deadline
/// (computed once the call is pending: a call done in its first poll needs none) and a
/// custom policy's. A deadline past the clock's range is no deadline (`Duration::MAX`):
/// thirty years away, as in tokio's `timeout`.
pub(crate) fn deadline(start: Instant, timeout: Duration) -> Instant {
    start
        .checked_add(timeout)
        .unwrap_or_else(|| start + Duration::from_secs(86_400 * 365 * 30))
}

impl<T, F: Future<Output = Result<T, ToolError>>> Future for Bounded<F> {
    type Output = Result<T, ToolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| this.call.as_mut().poll(cx)));
        let result = match polled {
            Ok(Poll::Ready(result)) => result,
            Ok(Poll::Pending) => {
                if this.sleep.is_none() {
                    let expires = deadline(*this.start, *this.timeout);
                    this.sleep.set(Some(tokio::time::sleep_until(expires)));
                }
                let sleep = this.sleep.as_pin_mut().expect("the deadline is set above");
                if sleep.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let timeout = *this.timeout;
                return Poll::Ready(Err(ToolError::timeout(DeadlineExceeded { timeout })));
            }
            // The call is not polled again after a panic: it is answered now.
            Err(panic) => Err(ToolError::internal(Panicked::new(&*panic))),
        };
        Poll::Ready(result)
    }
}

pub(crate) fn overloaded(full: BulkheadFull) -> ToolError {
    ToolError::hidden(ErrorCategory::Overloaded, full).with_breaker_outcome(Outcome::Ignored)
}

fn open(rejected: Rejected) -> ToolError {
    ToolError::hidden(ErrorCategory::Unavailable, rejected)
        .with_retry_after(rejected.retry_after)
        .with_breaker_outcome(Outcome::Ignored)
}

/// The error of a call that ran past its deadline.
///
/// ```
/// use std::time::Duration;
/// use secure_tool::resilience::DeadlineExceeded;
/// let e = DeadlineExceeded { timeout: Duration::from_millis(1500) };
/// assert_eq!(e.to_string(), "the call did not finish within its 1.5s deadline");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadlineExceeded {
    /// The deadline that passed.
    pub timeout: Duration,
}

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the call did not finish within its {:?} deadline",
            self.timeout
        )
    }
}

impl std::error::Error for DeadlineExceeded {}

/// The error of a handler that panicked: its message, for the log.
///
/// ```
/// let panic = std::panic::catch_unwind(|| panic!("index out of range")).unwrap_err();
/// let error = secure_tool::resilience::Panicked::new(&*panic);
/// assert_eq!(error.message(), "index out of range");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Panicked {
    message: String,
}

impl Panicked {
    /// The error of a caught panic with this payload.
    pub fn new(payload: &(dyn Any + Send)) -> Self {
        Self {
            message: crate::util::panic_message(payload),
        }
    }

    /// The error of a panic caught while the guarded call was `doing` something around the
    /// handler (parsing its arguments, rendering its result): the message says which.
    pub(crate) fn during(doing: &str, payload: &(dyn Any + Send)) -> Self {
        Self {
            message: format!("while {doing}: {}", crate::util::panic_message(payload)),
        }
    }

    /// The panic's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the handler panicked: {}", self.message)
    }
}

impl std::error::Error for Panicked {}

#[cfg(test)]
mod tests;

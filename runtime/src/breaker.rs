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

mod admission;
mod backoff;
mod circuit_breaker;
mod clock;
mod config;
mod events;
mod inner;
mod operator;
mod permit;
mod recording;
mod snapshot;
mod state;
mod state_word;
mod streak;
mod transition;
mod window;

pub use admission::Rejected;
pub use circuit_breaker::CircuitBreaker;
pub use clock::{Clock, ManualClock, TokioClock};
pub use config::{CircuitBreakerBuilder, Settings};
pub use permit::{Outcome, Permit};
pub use snapshot::Snapshot;
pub use state::State;

#[cfg(test)]
mod tests;

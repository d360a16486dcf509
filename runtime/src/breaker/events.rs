//! The `tracing` events of a breaker, and the state watch they go with.

use std::time::Duration;

use super::inner::Inner;
use super::state::State;

/// Target of every `tracing` event of this module.
pub(super) const TARGET: &str = "secure_tool::breaker";

/// A transition to report once the lock is released.
pub(super) struct Event {
    pub(super) from: State,
    pub(super) to: State,
    pub(super) reason: &'static str,
    pub(super) generation: u32,
    pub(super) open_for: Option<Duration>,
}

impl Inner {
    /// Publishes a transition to the watch and logs it.
    pub(super) fn emit(&self, e: &Event) {
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

    /// Logs that shadow mode would have opened the circuit.
    pub(super) fn emit_would_open(&self, reason: &'static str) {
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
}

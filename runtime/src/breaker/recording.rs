//! Recording: what an outcome does to the window, the failure streak and the state.

use std::sync::atomic::Ordering;

use super::inner::Inner;
use super::permit::Outcome;
use super::state::State;
use super::state_word::{ST_CLOSED, ST_HALF_OPEN, ST_SHADOW, StateWord};
use super::streak::Streak;
use super::window::{Window, WindowStats};

impl Inner {
    /// Bumps the consecutive-failure streak; returns its new length.
    fn bump_streak(&self, now: u64) -> u32 {
        let now_ms = now / 1_000_000;
        let window_ms = match &self.window {
            Window::Time(w) => w.window_ms,
            Window::Count(_) => u64::MAX,
        };
        let mut s = Streak::from_bits(self.streak.0.load(Ordering::Acquire));
        loop {
            let new = s.after_failure(now_ms, window_ms);
            match self.streak.0.compare_exchange_weak(
                s.bits(),
                new.bits(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return new.count(),
                Err(actual) => s = Streak::from_bits(actual),
            }
        }
    }

    fn rate_trip(&self, s: WindowStats) -> Option<&'static str> {
        if s.calls == 0 || s.calls < u64::from(self.cfg.min_calls) {
            return None;
        }
        let calls = s.calls as f64;
        if s.failures > 0 && s.failures as f64 >= self.cfg.failure_rate * calls {
            Some("failure_rate")
        } else if s.slow > 0 && s.slow as f64 >= self.cfg.slow_rate * calls {
            Some("slow_rate")
        } else {
            None
        }
    }

    /// An outcome of a permit admitted while closed or in shadow mode.
    pub(super) fn on_normal(&self, generation: u32, start: u64, outcome: Outcome, now: u64) {
        let failure = match outcome {
            Outcome::Ignored => {
                self.counters.ignored.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Outcome::Failure => true,
            Outcome::Success => false,
        };
        let slow = now.saturating_sub(start) >= self.slow_nanos;
        if slow {
            self.counters.slow.fetch_add(1, Ordering::Relaxed);
        }
        let w = self.load_word();
        let state = w.state_code();
        if w.generation() != generation || (state != ST_CLOSED && state != ST_SHADOW) {
            // Stale: admitted before a state change. Metrics only.
            let c = if failure {
                &self.counters.other_failures
            } else {
                &self.counters.other_successes
            };
            c.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut reason = None;
        let epoch = match &self.window {
            Window::Time(win) => win.record(now, failure, slow, self),
            Window::Count(win) => {
                win.record(failure, slow);
                0
            }
        };
        if failure {
            self.counters
                .window_failures
                .fetch_add(1, Ordering::Relaxed);
            let streak = self.bump_streak(now);
            if self.cfg.consecutive > 0 && streak >= self.cfg.consecutive {
                reason = Some("consecutive_failures");
            }
        } else if !Streak::from_bits(self.streak.0.load(Ordering::Relaxed)).is_none() {
            self.streak.0.store(Streak::NONE.bits(), Ordering::Release);
        }
        if reason.is_none() {
            let stats = match &self.window {
                Window::Time(win) => {
                    if !(failure || slow || win.may_hold_bad(epoch)) {
                        return;
                    }
                    // The record above moved the window to this call's epoch.
                    win.live()
                }
                Window::Count(win) => win.stats(),
            };
            reason = self.rate_trip(stats);
        }
        if let Some(reason) = reason {
            if state == ST_CLOSED {
                self.transition(Some((generation, ST_CLOSED)), State::Open, reason, now);
            } else {
                self.shadow_trip(generation, reason);
            }
        }
    }

    /// An outcome of a half-open trial permit.
    pub(super) fn on_trial(&self, generation: u32, start: u64, outcome: Outcome, now: u64) {
        let failure = match outcome {
            Outcome::Ignored => {
                self.counters.ignored.fetch_add(1, Ordering::Relaxed);
                self.release_trial(generation);
                return;
            }
            Outcome::Failure => true,
            Outcome::Success => false,
        };
        let slow = now.saturating_sub(start) >= self.slow_nanos;
        if slow {
            self.counters.slow.fetch_add(1, Ordering::Relaxed);
        }
        if failure {
            self.counters.other_failures.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters
                .other_successes
                .fetch_add(1, Ordering::Relaxed);
        }
        if failure || slow {
            let reason = if failure {
                "trial_failed"
            } else {
                "trial_slow"
            };
            self.transition(Some((generation, ST_HALF_OPEN)), State::Open, reason, now);
            return;
        }
        let mut w = self.load_word();
        loop {
            if !w.is_at(generation, ST_HALF_OPEN) {
                return; // stale
            }
            let succeeded = w.succeeded() + 1;
            if succeeded >= self.cfg.half_open_permits {
                self.transition(
                    Some((generation, ST_HALF_OPEN)),
                    State::Closed,
                    "trials_succeeded",
                    now,
                );
                return;
            }
            let new = StateWord::new(
                ST_HALF_OPEN,
                w.in_flight().saturating_sub(1),
                succeeded,
                generation,
            );
            match self.cas_word(w, new) {
                Ok(_) => return,
                Err(actual) => w = actual,
            }
        }
    }

    /// Returns a half-open permit without an outcome (ignored or abandoned).
    pub(super) fn release_trial(&self, generation: u32) {
        let mut w = self.load_word();
        loop {
            if !w.is_at(generation, ST_HALF_OPEN) || w.in_flight() == 0 {
                return;
            }
            match self.cas_word(w, w.with_trial_returned()) {
                Ok(_) => return,
                Err(actual) => w = actual,
            }
        }
    }
}

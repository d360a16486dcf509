//! State changes: the guarded move from one state to another, and shadow mode's
//! would-open restart.

use std::sync::atomic::Ordering;

use super::clock::nanos;
use super::events::Event;
use super::inner::Inner;
use super::state::State;
use super::state_word::{ST_SHADOW, StateWord};

impl Inner {
    /// Moves from `from` (generation and state; `None`: any, for operator actions) to
    /// `to`. Returns whether this call made the transition.
    pub(super) fn transition(
        &self,
        from: Option<(u32, u8)>,
        to: State,
        reason: &'static str,
        now: u64,
    ) -> bool {
        let event = {
            let mut locked = self.lock();
            let mut w = self.load_word();
            if from.is_some_and(|(generation, state)| !w.is_at(generation, state)) {
                return false;
            }
            let from_state = w.state();
            let mut open_for = None;
            match to {
                State::Closed => {
                    locked.reopens = 0;
                    self.clear_window(&mut locked);
                }
                State::Open => {
                    if from_state == State::HalfOpen {
                        locked.reopens = locked.reopens.saturating_add(1);
                    }
                    let d = self.open_duration(locked.reopens);
                    self.open_until
                        .store(now.saturating_add(nanos(d)), Ordering::Release);
                    open_for = Some(d);
                }
                State::HalfOpen => {
                    let wait = nanos(self.cfg.max_half_open_wait);
                    self.half_open_until
                        .store(now.saturating_add(wait), Ordering::Release);
                }
                State::Shadow => self.clear_window(&mut locked),
                State::Isolated | State::Disabled => {}
            }
            // Generation and state only change under the lock; the loop only absorbs
            // concurrent half-open permit updates.
            let generation = w.generation().wrapping_add(1);
            let new = StateWord::new(to.code(), 0, 0, generation);
            while let Err(actual) = self.cas_word(w, new) {
                w = actual;
            }
            if from_state != to {
                self.counters.transitions.fetch_add(1, Ordering::Relaxed);
            }
            if to == State::Open {
                self.counters.opens.fetch_add(1, Ordering::Relaxed);
            }
            Event {
                from: from_state,
                to,
                reason,
                generation,
                open_for,
            }
        };
        self.emit(&event);
        true
    }

    /// Shadow mode reached a trip condition: log it and restart the evaluation.
    pub(super) fn shadow_trip(&self, generation: u32, reason: &'static str) {
        {
            let mut locked = self.lock();
            let mut w = self.load_word();
            if !w.is_at(generation, ST_SHADOW) {
                return;
            }
            self.clear_window(&mut locked);
            let new = StateWord::new(ST_SHADOW, 0, 0, generation.wrapping_add(1));
            while let Err(actual) = self.cas_word(w, new) {
                w = actual;
            }
            self.counters.would_open.fetch_add(1, Ordering::Relaxed);
        }
        self.emit_would_open(reason);
    }
}

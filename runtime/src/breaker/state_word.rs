//! The state word: state, half-open permits and generation packed in one `u64`, so that
//! admission reads all of them with one atomic load.
//!
//! ```text
//! | generation: 32 | half-open successes: 12 | half-open in flight: 12 | state: 8 |
//! ```
//!
//! Invariants:
//! * the generation and the state change together, only under the breaker's lock, and
//!   every such change clears both half-open fields;
//! * outside half-open both half-open fields are 0;
//! * in half-open, `in flight + successes <= half-open permits <= 0xFFF`, so taking a
//!   permit (adding one in flight) never carries into the successes field.

use super::state::State;

pub(super) const ST_CLOSED: u8 = 0;
pub(super) const ST_OPEN: u8 = 1;
pub(super) const ST_HALF_OPEN: u8 = 2;
pub(super) const ST_ISOLATED: u8 = 3;
pub(super) const ST_DISABLED: u8 = 4;
pub(super) const ST_SHADOW: u8 = 5;

const STATE_MASK: u64 = 0xFF;
const IN_SHIFT: u32 = 8;
const SUCC_SHIFT: u32 = 20;
const GEN_SHIFT: u32 = 32;
/// Mask of a half-open field once shifted down (12 bits).
const FIELD_MASK: u64 = 0xFFF;
/// One half-open permit in flight.
const IN_ONE: u64 = 1 << IN_SHIFT;

/// A value of the state word (the atomic holds its bits).
#[derive(Clone, Copy)]
pub(super) struct StateWord(u64);

impl StateWord {
    /// Packs the fields; the half-open fields keep their low 12 bits.
    #[inline]
    pub(super) fn new(state: u8, in_flight: u32, succeeded: u32, generation: u32) -> StateWord {
        StateWord(
            u64::from(state)
                | ((u64::from(in_flight) & FIELD_MASK) << IN_SHIFT)
                | ((u64::from(succeeded) & FIELD_MASK) << SUCC_SHIFT)
                | (u64::from(generation) << GEN_SHIFT),
        )
    }

    /// The word whose bits the atomic holds.
    #[inline]
    pub(super) fn from_bits(bits: u64) -> StateWord {
        StateWord(bits)
    }

    /// The bits to store in the atomic.
    #[inline]
    pub(super) fn bits(self) -> u64 {
        self.0
    }

    /// The state code (`ST_*`).
    #[inline]
    pub(super) fn state_code(self) -> u8 {
        (self.0 & STATE_MASK) as u8
    }

    /// The state.
    #[inline]
    pub(super) fn state(self) -> State {
        State::from_code(self.state_code())
    }

    /// Half-open trial permits outstanding.
    #[inline]
    pub(super) fn in_flight(self) -> u32 {
        ((self.0 >> IN_SHIFT) & FIELD_MASK) as u32
    }

    /// Half-open trials that succeeded in this generation.
    #[inline]
    pub(super) fn succeeded(self) -> u32 {
        ((self.0 >> SUCC_SHIFT) & FIELD_MASK) as u32
    }

    /// The generation: it changes on every transition.
    #[inline]
    pub(super) fn generation(self) -> u32 {
        (self.0 >> GEN_SHIFT) as u32
    }

    /// Whether the word is still in `generation` and in the state `code`.
    #[inline]
    pub(super) fn is_at(self, generation: u32, code: u8) -> bool {
        self.generation() == generation && self.state_code() == code
    }

    /// The same word with one more half-open permit in flight. The caller checks that
    /// `in flight + successes` is below the permits first.
    #[inline]
    pub(super) fn with_trial_taken(self) -> StateWord {
        StateWord(self.0 + IN_ONE)
    }

    /// The same word with one half-open permit less in flight. The caller checks that one
    /// is in flight first.
    #[inline]
    pub(super) fn with_trial_returned(self) -> StateWord {
        StateWord(self.0 - IN_ONE)
    }
}

// The tests read the raw word and check the invariants above with these.

#[cfg(test)]
pub(super) fn w_state(w: u64) -> u8 {
    StateWord(w).state_code()
}

#[cfg(test)]
pub(super) fn w_in_flight(w: u64) -> u32 {
    StateWord(w).in_flight()
}

#[cfg(test)]
pub(super) fn w_succeeded(w: u64) -> u32 {
    StateWord(w).succeeded()
}

#[cfg(test)]
pub(super) fn w_gen(w: u64) -> u32 {
    StateWord(w).generation()
}

//! The consecutive-failure streak: its count and its start packed in one `u64`, so that
//! a failure updates both with one compare-and-swap.
//!
//! ```text
//! | start, in ms since the breaker's origin: 48 | count: 16 |
//! ```
//!
//! A count of 0 is no streak (the whole word is then 0: successes and resets store 0).

/// Bits of the count.
const COUNT_MASK: u64 = 0xFFFF;
const START_SHIFT: u32 = 16;

/// A value of the streak word (the atomic holds its bits).
#[derive(Clone, Copy)]
pub(super) struct Streak(u64);

impl Streak {
    /// No streak.
    pub(super) const NONE: Streak = Streak(0);

    /// The streak whose bits the atomic holds.
    #[inline]
    pub(super) fn from_bits(bits: u64) -> Streak {
        Streak(bits)
    }

    /// The bits to store in the atomic.
    #[inline]
    pub(super) fn bits(self) -> u64 {
        self.0
    }

    /// Whether this is [`Streak::NONE`].
    #[inline]
    pub(super) fn is_none(self) -> bool {
        self.0 == 0
    }

    /// Failures in a row.
    #[inline]
    pub(super) fn count(self) -> u32 {
        (self.0 & COUNT_MASK) as u32
    }

    /// The streak after one more failure at `now_ms`: a new streak of 1 when there was
    /// none or this one started `window_ms` or more ago, else one more (saturating at
    /// 65 535).
    #[inline]
    pub(super) fn after_failure(self, now_ms: u64, window_ms: u64) -> Streak {
        let (count, start) = (self.0 & COUNT_MASK, self.0 >> START_SHIFT);
        if count == 0 || now_ms.saturating_sub(start) >= window_ms {
            Streak(1 | (now_ms << START_SHIFT))
        } else {
            Streak(((count + 1).min(COUNT_MASK)) | (start << START_SHIFT))
        }
    }
}

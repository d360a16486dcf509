//! Length of an open period: exponential backoff, capped, with jitter.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::config::MIN_PERIOD;
use super::inner::Inner;
use crate::util::splitmix64;

impl Inner {
    /// Jitter factor in `[-1, 1)`.
    fn next_unit(&self) -> f64 {
        let c = self.jitter_counter.fetch_add(1, Ordering::Relaxed);
        let x = splitmix64(self.jitter_seed ^ c.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    /// The open period after `reopens` re-opens: the base doubled that many times, capped,
    /// then jittered, and never under [`MIN_PERIOD`].
    pub(super) fn open_duration(&self, reopens: u32) -> Duration {
        let factor = 1u32 << reopens.min(31);
        let mut d = self
            .cfg
            .open_base
            .saturating_mul(factor)
            .min(self.cfg.open_max);
        if self.cfg.jitter > 0.0 {
            let f = 1.0 + self.cfg.jitter * self.next_unit();
            d = Duration::try_from_secs_f64(d.as_secs_f64() * f).unwrap_or(d);
        }
        d.max(MIN_PERIOD)
    }
}

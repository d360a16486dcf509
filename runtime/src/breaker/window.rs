//! The sliding window of recent outcomes: time-based (buckets) or count-based (a ring).

use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};

use super::clock::nanos;
use super::config::WindowKind;
use super::inner::{Inner, Locked};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct WindowStats {
    pub(super) calls: u64,
    pub(super) failures: u64,
    pub(super) slow: u64,
}

/// One bucket: `calls | failures << 32` in one word (one RMW per call), slow calls apart.
#[derive(Debug, Default)]
struct Bucket {
    packed: AtomicU64,
    slow: AtomicU64,
}

const CALL_ONE: u64 = 1;
const FAILURE_ONE: u64 = 1 << 32;

#[derive(Debug)]
pub(super) struct TimeWindow {
    /// `u64::MAX / bucket length in ns`: `now * epoch_factor >> 64` is the bucket number
    /// (a multiply instead of a division; monotonic, off by one at most just below a
    /// bucket boundary).
    epoch_factor: u64,
    pub(super) window_ms: u64,
    /// Epoch (time / bucket length) of the newest bucket.
    current: AtomicU64,
    /// 1 + epoch of the latest failure or slow call (0: none), to skip evaluating plain
    /// successes while the window holds nothing bad.
    last_bad: AtomicU64,
    buckets: Box<[Bucket]>,
}

impl TimeWindow {
    #[inline]
    pub(super) fn epoch(&self, now: u64) -> u64 {
        ((u128::from(now) * u128::from(self.epoch_factor)) >> 64) as u64
    }

    /// Moves the window to `epoch`, retiring the buckets that left it. Needs the lock.
    pub(super) fn rotate(&self, epoch: u64, locked: &mut Locked) {
        let cur = self.current.load(Ordering::Acquire);
        if epoch <= cur {
            return;
        }
        let n = self.buckets.len() as u64;
        let steps = (epoch - cur).min(n);
        for k in 0..steps {
            let bucket = &self.buckets[((epoch - k) % n) as usize];
            let v = bucket.packed.swap(0, Ordering::AcqRel);
            bucket.slow.swap(0, Ordering::AcqRel);
            locked.retired_calls += v & 0xFFFF_FFFF;
        }
        self.current.store(epoch, Ordering::Release);
    }

    /// Index of the bucket for `epoch`, rotating first if `epoch` is newer.
    #[inline]
    fn bucket_for(&self, epoch: u64, inner: &Inner) -> usize {
        let mut cur = self.current.load(Ordering::Acquire);
        if epoch > cur {
            self.rotate(epoch, &mut inner.lock());
            cur = self.current.load(Ordering::Acquire);
        }
        (epoch.max(cur) % self.buckets.len() as u64) as usize
    }

    /// Records one call at `now`; returns the epoch of `now`.
    #[inline]
    pub(super) fn record(&self, now: u64, failure: bool, slow: bool, inner: &Inner) -> u64 {
        let epoch = self.epoch(now);
        let bucket = &self.buckets[self.bucket_for(epoch, inner)];
        bucket.packed.fetch_add(
            if failure {
                CALL_ONE | FAILURE_ONE
            } else {
                CALL_ONE
            },
            Ordering::AcqRel,
        );
        if slow {
            bucket.slow.fetch_add(1, Ordering::AcqRel);
        }
        if failure || slow {
            let mark = epoch + 1;
            if self.last_bad.load(Ordering::Relaxed) < mark {
                self.last_bad.store(mark, Ordering::Relaxed);
            }
        }
        epoch
    }

    /// Whether the window may hold a failure or slow call.
    #[inline]
    pub(super) fn may_hold_bad(&self, epoch: u64) -> bool {
        let mark = self.last_bad.load(Ordering::Relaxed);
        mark != 0 && mark - 1 + self.buckets.len() as u64 > epoch
    }

    /// The counts of the buckets as they stand, for the epoch the window was last moved
    /// to (recording a call moves it to the call's).
    pub(super) fn live(&self) -> WindowStats {
        let mut s = WindowStats::default();
        for b in self.buckets.iter() {
            let v = b.packed.load(Ordering::Acquire);
            s.calls += v & 0xFFFF_FFFF;
            s.failures += v >> 32;
            s.slow += b.slow.load(Ordering::Acquire);
        }
        s
    }

    pub(super) fn clear(&self, locked: &mut Locked) {
        for b in self.buckets.iter() {
            let v = b.packed.swap(0, Ordering::AcqRel);
            b.slow.swap(0, Ordering::AcqRel);
            locked.retired_calls += v & 0xFFFF_FFFF;
        }
        self.last_bad.store(0, Ordering::Relaxed);
    }
}

const SLOT_CALL: u8 = 1;
const SLOT_FAILURE: u8 = 2;
const SLOT_SLOW: u8 = 4;

#[derive(Debug)]
pub(super) struct CountWindow {
    slots: Box<[AtomicU8]>,
    /// Calls ever recorded into this window; also the ring position.
    pub(super) next: AtomicU64,
    // Signed: a racing swap may subtract before the matching add lands.
    calls: AtomicI64,
    failures: AtomicI64,
    slow: AtomicI64,
}

impl CountWindow {
    fn adjust(&self, old: u8, new: u8) {
        for (bit, total) in [
            (SLOT_CALL, &self.calls),
            (SLOT_FAILURE, &self.failures),
            (SLOT_SLOW, &self.slow),
        ] {
            match (old & bit != 0, new & bit != 0) {
                (false, true) => {
                    total.fetch_add(1, Ordering::AcqRel);
                }
                (true, false) => {
                    total.fetch_sub(1, Ordering::AcqRel);
                }
                _ => {}
            }
        }
    }

    #[inline]
    pub(super) fn record(&self, failure: bool, slow: bool) {
        let code =
            SLOT_CALL | if failure { SLOT_FAILURE } else { 0 } | if slow { SLOT_SLOW } else { 0 };
        let i = self.next.fetch_add(1, Ordering::AcqRel) % self.slots.len() as u64;
        let old = self.slots[i as usize].swap(code, Ordering::AcqRel);
        if old != code {
            self.adjust(old, code);
        }
    }

    pub(super) fn stats(&self) -> WindowStats {
        let get = |a: &AtomicI64| u64::try_from(a.load(Ordering::Acquire)).unwrap_or(0);
        WindowStats {
            calls: get(&self.calls),
            failures: get(&self.failures),
            slow: get(&self.slow),
        }
    }

    pub(super) fn clear(&self) {
        for slot in self.slots.iter() {
            let old = slot.swap(0, Ordering::AcqRel);
            if old != 0 {
                self.adjust(old, 0);
            }
        }
    }
}

#[derive(Debug)]
pub(super) enum Window {
    Time(TimeWindow),
    Count(CountWindow),
}

impl Window {
    /// An empty window of the configured kind.
    pub(super) fn new(kind: WindowKind) -> Window {
        match kind {
            WindowKind::Time { length, buckets } => {
                let bucket_nanos = (nanos(length) / u64::from(buckets)).max(1);
                Window::Time(TimeWindow {
                    epoch_factor: u64::MAX / bucket_nanos,
                    window_ms: nanos(length) / 1_000_000,
                    current: AtomicU64::new(0),
                    last_bad: AtomicU64::new(0),
                    buckets: (0..buckets).map(|_| Bucket::default()).collect(),
                })
            }
            WindowKind::Count { calls } => Window::Count(CountWindow {
                slots: (0..calls).map(|_| AtomicU8::new(0)).collect(),
                next: AtomicU64::new(0),
                calls: AtomicI64::new(0),
                failures: AtomicI64::new(0),
                slow: AtomicI64::new(0),
            }),
        }
    }
}

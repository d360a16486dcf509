//! The state a breaker shares with its clones and permits: the atomic words, the
//! counters, the lock, the configuration and the clock reads.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::clock::{Clock, nanos};
use super::config::Config;
use super::state::State;
use super::state_word::{ST_CLOSED, StateWord};
use super::streak::Streak;
use super::window::Window;

/// Pads a value to its own cache line so that hot reads and hot writes do not collide.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(super) struct CacheLine<T>(pub(super) T);

#[derive(Debug, Default)]
pub(super) struct Counters {
    /// Failures recorded into the window (successes are derived from the window's calls).
    pub(super) window_failures: AtomicU64,
    /// Outcomes outside the window: half-open trials and stale outcomes.
    pub(super) other_successes: AtomicU64,
    pub(super) other_failures: AtomicU64,
    pub(super) slow: AtomicU64,
    pub(super) ignored: AtomicU64,
    pub(super) abandoned: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) transitions: AtomicU64,
    pub(super) opens: AtomicU64,
    pub(super) would_open: AtomicU64,
}

/// State only touched on transitions, rotations and snapshots.
#[derive(Debug, Default)]
pub(super) struct Locked {
    /// Re-opens since the circuit last closed (the backoff exponent).
    pub(super) reopens: u32,
    /// Calls that left the time-based window.
    pub(super) retired_calls: u64,
}

pub(super) struct Inner {
    /// Read by every `try_acquire`; written on transitions and by half-open permits. Holds
    /// the bits of a [`StateWord`].
    pub(super) word: CacheLine<AtomicU64>,
    /// Consecutive failures: holds the bits of a [`Streak`].
    pub(super) streak: CacheLine<AtomicU64>,
    /// End of the open period, in nanoseconds since `origin`.
    pub(super) open_until: AtomicU64,
    /// End of the half-open wait, in nanoseconds since `origin`.
    pub(super) half_open_until: AtomicU64,
    pub(super) window: Window,
    pub(super) counters: Counters,
    pub(super) jitter_counter: AtomicU64,
    pub(super) jitter_seed: u64,
    pub(super) slow_nanos: u64,
    locked: Mutex<Locked>,
    pub(super) clock: Option<Arc<dyn Clock>>,
    origin: Instant,
    pub(super) name: Arc<str>,
    pub(super) cfg: Config,
    /// The state after the last transition, for
    /// [`CircuitBreaker::watch`](super::CircuitBreaker::watch).
    pub(super) transitions: tokio::sync::watch::Sender<State>,
}

impl Inner {
    /// A closed breaker, its origin read from `clock` (tokio's when `None`).
    pub(super) fn new(name: Arc<str>, cfg: Config, clock: Option<Arc<dyn Clock>>) -> Inner {
        let origin = match &clock {
            Some(c) => c.now(),
            None => Instant::now(),
        };
        let seed = cfg
            .jitter_seed
            .unwrap_or_else(|| RandomState::new().hash_one(&*name));
        let window = Window::new(cfg.window);
        Inner {
            word: CacheLine(AtomicU64::new(StateWord::new(ST_CLOSED, 0, 0, 0).bits())),
            streak: CacheLine(AtomicU64::new(Streak::NONE.bits())),
            open_until: AtomicU64::new(0),
            half_open_until: AtomicU64::new(0),
            window,
            counters: Counters::default(),
            jitter_counter: AtomicU64::new(0),
            jitter_seed: seed,
            slow_nanos: nanos(cfg.slow_call),
            locked: Mutex::new(Locked::default()),
            clock,
            origin,
            name,
            cfg,
            transitions: tokio::sync::watch::Sender::new(State::Closed),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Locked> {
        self.locked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state word (`Acquire`).
    #[inline]
    pub(super) fn load_word(&self) -> StateWord {
        StateWord::from_bits(self.word.0.load(Ordering::Acquire))
    }

    /// One weak compare-and-swap of the state word (`AcqRel`, `Acquire` on failure);
    /// the error is the word found instead of `current`.
    #[inline]
    pub(super) fn cas_word(&self, current: StateWord, new: StateWord) -> Result<(), StateWord> {
        match self.word.0.compare_exchange_weak(
            current.bits(),
            new.bits(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            Err(actual) => Err(StateWord::from_bits(actual)),
        }
    }

    #[inline]
    pub(super) fn now(&self) -> u64 {
        let now = match &self.clock {
            None => Instant::now(),
            Some(c) => c.now(),
        };
        self.nanos_at(now)
    }

    #[inline]
    pub(super) fn nanos_at(&self, t: Instant) -> u64 {
        nanos(t.saturating_duration_since(self.origin))
    }

    pub(super) fn to_duration(n: u64) -> Duration {
        Duration::from_nanos(n)
    }

    pub(super) fn clear_window(&self, locked: &mut Locked) {
        match &self.window {
            Window::Time(w) => w.clear(locked),
            Window::Count(w) => w.clear(),
        }
        self.streak.0.store(Streak::NONE.bits(), Ordering::Release);
    }
}

//! Tests of the circuit breaker. Time is driven by a [`ManualClock`] or tokio's paused
//! clock; nothing sleeps.

use super::config::{MAX_HALF_OPEN_PERMITS, MIN_PERIOD, WindowKind};
use super::events::TARGET;
use super::permit::Kind;
use super::state_word::{ST_HALF_OPEN, w_gen, w_in_flight, w_state, w_succeeded};
use super::*;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A breaker on a manual clock, without jitter.
fn on(clock: &ManualClock) -> CircuitBreakerBuilder {
    CircuitBreaker::builder("dep")
        .clock(clock.clone())
        .jitter(0.0)
}

fn call(b: &CircuitBreaker, outcome: Outcome) {
    b.try_acquire().expect("admitted").record(outcome);
}

fn calls(b: &CircuitBreaker, outcome: Outcome, n: usize) {
    for _ in 0..n {
        call(b, outcome);
    }
}

fn word(b: &CircuitBreaker) -> u64 {
    b.inner.word.0.load(Ordering::Acquire)
}

/// Trips a breaker that opens after one failure.
fn trip(b: &CircuitBreaker) {
    call(b, Outcome::Failure);
    assert_eq!(b.state(), State::Open);
}

// --- capture of tracing events ------------------------------------------------------

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        use std::fmt::Write;
        let _ = write!(self.0, "{}={} ", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == TARGET {
            let mut fields = Fields(format!("level={} ", event.metadata().level()));
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

impl Capture {
    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

// --- defaults and closed state -------------------------------------------------------

#[test]
fn defaults_match_resilience_md() {
    let b = CircuitBreaker::builder("dep").build();
    let c = &b.inner.cfg;
    assert!(matches!(c.window, WindowKind::Time { length, buckets: 10 } if length == secs(60)));
    assert_eq!(c.min_calls, 10);
    assert_eq!(c.failure_rate, 0.5);
    assert_eq!(c.slow_rate, 0.8);
    assert_eq!(c.slow_call, secs(24));
    assert_eq!(c.consecutive, 5);
    assert_eq!(c.open_base, secs(15));
    assert_eq!(c.open_max, secs(300));
    assert_eq!(c.jitter, 0.25);
    assert_eq!(c.half_open_permits, 3);
    assert_eq!(c.max_half_open_wait, secs(60));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.name(), "dep");
}

#[test]
fn builder_clamps_out_of_range_values() {
    let b = CircuitBreaker::builder("dep")
        .failure_rate_threshold(f64::NAN)
        .slow_rate_threshold(7.0)
        .half_open_permits(0)
        .open_duration(Duration::ZERO)
        .max_half_open_wait(Duration::ZERO)
        .jitter(-1.0)
        .sliding_window(Duration::ZERO, 0)
        .build();
    let c = &b.inner.cfg;
    assert_eq!(c.failure_rate, 0.5);
    assert_eq!(c.slow_rate, 1.0);
    assert_eq!(c.half_open_permits, 1);
    assert_eq!(c.open_base, MIN_PERIOD);
    assert_eq!(c.max_half_open_wait, MIN_PERIOD);
    assert_eq!(c.jitter, 0.0);
    assert!(matches!(c.window, WindowKind::Time { buckets: 1, .. }));
    let h = CircuitBreaker::builder("dep")
        .half_open_permits(u32::MAX)
        .build();
    assert_eq!(h.inner.cfg.half_open_permits, MAX_HALF_OPEN_PERMITS);
    // At least the minimum period per bucket.
    let w = CircuitBreaker::builder("dep")
        .sliding_window(Duration::ZERO, 10)
        .build();
    assert!(
        matches!(w.inner.cfg.window, WindowKind::Time { length, buckets: 10 } if length == MIN_PERIOD * 10),
        "{:?}",
        w.inner.cfg.window
    );
}

#[test]
fn the_builder_shows_its_name_and_settings() {
    let builder = CircuitBreaker::builder("dep");
    let text = format!("{builder:?}");
    assert!(
        text.starts_with(r#"CircuitBreakerBuilder { name: "dep", config: "#)
            && text.ends_with("custom_clock: false }"),
        "{text}"
    );
}

#[test]
fn closed_successes_never_trip() {
    let clock = ManualClock::new();
    let b = on(&clock).build();
    calls(&b, Outcome::Success, 1_000);
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.successes, s.transitions),
        (State::Closed, 1_000, 0)
    );
    assert_eq!(s.failure_rate, 0.0);
}

#[test]
fn min_calls_gate_the_rate_trip() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(0).build();
    calls(&b, Outcome::Failure, 9);
    assert_eq!(b.state(), State::Closed, "9 calls < min_calls");
    assert_eq!(b.snapshot().failure_rate, 1.0);
    // The tenth call is a success, yet 9/10 failed: the success is evaluated too.
    call(&b, Outcome::Success);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_rate_threshold_of_zero_trips_on_the_first_of_its_own_outcomes_only() {
    let clock = ManualClock::new();
    let breaker = |failure_rate: f64, slow_rate: f64| {
        on(&clock)
            .consecutive_failures(0)
            .failure_rate_threshold(failure_rate)
            .slow_rate_threshold(slow_rate)
            .min_calls(2)
            .build()
    };
    let slow_call = |b: &CircuitBreaker| {
        let permit = b.try_acquire().unwrap();
        clock.advance(secs(25)); // the slow-call threshold is 24 s
        permit.record(Outcome::Success);
    };
    // A failure rate of zero: a slow call (no failure) does not trip it, a failure does.
    let failures = breaker(0.0, 1.0);
    call(&failures, Outcome::Success);
    slow_call(&failures);
    assert_eq!(failures.state(), State::Closed);
    call(&failures, Outcome::Failure);
    assert_eq!(failures.state(), State::Open);
    // A slow-call rate of zero: a fast failure does not trip it, a slow call does.
    let slow = breaker(1.0, 0.0);
    call(&slow, Outcome::Success);
    call(&slow, Outcome::Failure);
    assert_eq!(slow.state(), State::Closed);
    slow_call(&slow);
    assert_eq!(slow.state(), State::Open);
}

#[test]
fn failure_rate_trips_at_threshold_not_below() {
    let clock = ManualClock::new();
    let below = on(&clock).consecutive_failures(0).build();
    for i in 0..30 {
        // One in three fails: at most 46 % (6 of 13) once min_calls is reached.
        call(
            &below,
            if i % 3 == 0 {
                Outcome::Failure
            } else {
                Outcome::Success
            },
        );
    }
    assert_eq!(below.state(), State::Closed);

    let at = on(&clock).consecutive_failures(0).build();
    for i in 0..9 {
        call(
            &at,
            if i % 2 == 0 {
                Outcome::Success
            } else {
                Outcome::Failure
            },
        );
    }
    assert_eq!(at.state(), State::Closed);
    call(&at, Outcome::Failure); // 5 of 10
    assert_eq!(at.state(), State::Open);
}

#[test]
fn slow_rate_trips() {
    let clock = ManualClock::new();
    let b = on(&clock)
        .consecutive_failures(0)
        .slow_call_threshold(secs(1))
        .build();
    let slow = |b: &CircuitBreaker| {
        let p = b.try_acquire().unwrap();
        clock.advance(secs(1)); // elapsed ≥ threshold: slow
        p.record(Outcome::Success);
    };
    for _ in 0..7 {
        slow(&b);
    }
    calls(&b, Outcome::Success, 3);
    assert_eq!(b.state(), State::Closed, "7 of 10 slow < 80 %");
    assert!((b.snapshot().slow_rate - 0.7).abs() < 1e-9);
    slow(&b); // 8 of 11 = 72 %
    assert_eq!(b.state(), State::Closed);
    slow(&b); // 9 of 12 = 75 %
    slow(&b); // 10 of 13 = 77 %
    assert_eq!(b.state(), State::Closed);
    slow(&b); // 11 of 14 = 78.6 %
    slow(&b); // 12 of 15 = 80 %
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.snapshot().slow, 12);
    assert_eq!(b.snapshot().failures, 0);
}

#[test]
fn timeout_recorded_as_failure_is_slow() {
    let clock = ManualClock::new();
    let b = on(&clock).slow_call_threshold(secs(24)).build();
    let p = b.try_acquire().unwrap();
    clock.advance(secs(30)); // the caller's timeout fired
    p.record(Outcome::Failure);
    let s = b.snapshot();
    assert_eq!((s.failures, s.slow), (1, 1));
}

#[test]
fn consecutive_failures_trip_regardless_of_min_calls() {
    let clock = ManualClock::new();
    let b = on(&clock).min_calls(1_000).build();
    calls(&b, Outcome::Failure, 4);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot().consecutive_failures, 4);
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn consecutive_failures_reset_by_success() {
    let clock = ManualClock::new();
    let b = on(&clock).min_calls(1_000).build();
    for _ in 0..10 {
        calls(&b, Outcome::Failure, 4);
        call(&b, Outcome::Success);
        assert_eq!(b.snapshot().consecutive_failures, 0);
    }
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn consecutive_failures_reset_by_window_expiry() {
    let clock = ManualClock::new();
    let b = on(&clock).build();
    // One failure every 20 s: never 5 within 60 s, and never 10 calls in the window.
    for _ in 0..50 {
        call(&b, Outcome::Failure);
        assert!(b.snapshot().consecutive_failures <= 3);
        clock.advance(secs(20));
    }
    assert_eq!(b.state(), State::Closed);
    // Five quick ones, once the last streak has left the window, do trip.
    clock.advance(secs(60));
    calls(&b, Outcome::Failure, 4);
    assert_eq!(b.state(), State::Closed);
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn failures_spread_beyond_the_window_never_trip() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(0).build();
    // 7 s apart: at most 9 calls in any 60 s window, all failures.
    for _ in 0..200 {
        call(&b, Outcome::Failure);
        assert!(b.snapshot().window_calls <= 9, "{:?}", b.snapshot());
        clock.advance(secs(7));
    }
    let s = b.snapshot();
    assert_eq!((s.state, s.failures), (State::Closed, 200));
}

#[test]
fn window_decays() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(0).build();
    calls(&b, Outcome::Failure, 9);
    assert_eq!(b.snapshot().window_calls, 9);
    clock.advance(secs(30));
    assert_eq!(b.snapshot().window_calls, 9);
    clock.advance(secs(31)); // all 9 left the window
    let s = b.snapshot();
    assert_eq!((s.window_calls, s.failure_rate), (0, 0.0));
    calls(&b, Outcome::Failure, 9);
    assert_eq!(b.state(), State::Closed);
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.snapshot().failures, 19);
}

#[test]
fn plain_successes_after_bad_calls_leave_the_window_clean() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(0).build();
    calls(&b, Outcome::Failure, 4);
    clock.advance(secs(61));
    // The failures are gone: 6 successes then 4 failures is 40 %.
    calls(&b, Outcome::Success, 6);
    calls(&b, Outcome::Failure, 4);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot().window_calls, 10);
}

#[test]
fn count_window_trips_and_slides() {
    let clock = ManualClock::new();
    let b = on(&clock).count_window(10).consecutive_failures(0).build();
    calls(&b, Outcome::Failure, 4);
    calls(&b, Outcome::Success, 100); // slides the failures out
    let s = b.snapshot();
    assert_eq!((s.window_calls, s.failure_rate), (10, 0.0));
    clock.advance(secs(3_600)); // time does not matter for a count window
    calls(&b, Outcome::Failure, 4);
    assert_eq!(b.state(), State::Closed);
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Open);
    let s = b.snapshot();
    assert_eq!((s.successes, s.failures), (100, 9));
}

#[test]
fn a_count_window_starts_empty_when_the_breaker_closes_again() {
    let clock = ManualClock::new();
    let b = on(&clock).count_window(10).consecutive_failures(0).build();
    calls(&b, Outcome::Success, 5);
    calls(&b, Outcome::Failure, 5);
    assert_eq!(b.state(), State::Open);
    clock.advance(secs(15));
    calls(&b, Outcome::Success, 3); // the half-open trials
    assert_eq!(b.state(), State::Closed);
    let s = b.snapshot();
    assert_eq!((s.window_calls, s.failure_rate), (0, 0.0));
    // The failures that opened it are gone: it takes five of the next ten again.
    calls(&b, Outcome::Success, 5);
    calls(&b, Outcome::Failure, 4);
    assert_eq!(b.state(), State::Closed);
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Open);
}

// --- open, half-open, backoff ---------------------------------------------------------

#[test]
fn open_rejects_with_retry_after_then_goes_half_open_lazily() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(1).build();
    trip(&b);
    let r = b.try_acquire().unwrap_err();
    assert_eq!(
        r,
        Rejected {
            retry_after: secs(15),
            state: State::Open
        }
    );
    clock.advance(secs(10));
    assert_eq!(b.try_acquire().unwrap_err().retry_after, secs(5));
    clock.advance(secs(5));
    assert_eq!(
        b.state(),
        State::Open,
        "no timer task: still open until the next call"
    );
    let p = b.try_acquire().unwrap();
    assert!(p.is_trial());
    assert_eq!(b.state(), State::HalfOpen);
    p.record(Outcome::Success);
    assert_eq!(b.snapshot().half_open_succeeded, 1);
}

#[test]
fn half_open_closes_after_n_successes() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(1).build();
    trip(&b);
    clock.advance(secs(15));
    let trials: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    let mut trials = trials.into_iter();
    trials.next().unwrap().record(Outcome::Success);
    trials.next().unwrap().record(Outcome::Success);
    assert_eq!(b.state(), State::HalfOpen);
    trials.next().unwrap().record(Outcome::Success);
    assert_eq!(b.state(), State::Closed);
    let s = b.snapshot();
    assert_eq!((s.transitions, s.opens, s.window_calls), (3, 1, 0));
    // Backoff was reset by closing: the next open period is the base again.
    trip(&b);
    assert_eq!(b.try_acquire().unwrap_err().retry_after, secs(15));
}

#[test]
fn any_half_open_failure_reopens() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(1).build();
    trip(&b);
    clock.advance(secs(15));
    let a = b.try_acquire().unwrap();
    let c = b.try_acquire().unwrap();
    a.record(Outcome::Success);
    c.record(Outcome::Failure);
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.try_acquire().unwrap_err().retry_after, secs(30));
}

#[test]
fn slow_half_open_success_reopens() {
    let clock = ManualClock::new();
    let b = on(&clock)
        .consecutive_failures(1)
        .slow_call_threshold(secs(2))
        .build();
    trip(&b);
    clock.advance(secs(15));
    let p = b.try_acquire().unwrap();
    clock.advance(secs(2));
    p.record(Outcome::Success);
    assert_eq!(b.state(), State::Open);
    let s = b.snapshot();
    assert_eq!((s.successes, s.slow), (1, 1));
}

#[test]
fn backoff_doubles_and_caps() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(1).build();
    trip(&b);
    let mut seen = Vec::new();
    for _ in 0..8 {
        let r = b.try_acquire().unwrap_err();
        seen.push(r.retry_after.as_secs());
        clock.advance(r.retry_after);
        b.try_acquire().unwrap().record(Outcome::Failure); // the trial fails
    }
    assert_eq!(seen, [15, 30, 60, 120, 240, 300, 300, 300]);
}

#[test]
fn jitter_stays_within_bounds_and_spreads() {
    let clock = ManualClock::new();
    let b = on(&clock).jitter(0.25).jitter_seed(7).build();
    for reopens in [0u32, 1, 2, 5, 10, 40] {
        let nominal = (secs(15) * (1u32 << reopens.min(31)).min(1 << 20)).min(secs(300));
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for _ in 0..2_000 {
            let f = b.inner.open_duration(reopens).as_secs_f64() / nominal.as_secs_f64();
            assert!((0.75..=1.25).contains(&f), "factor {f}");
            lo = lo.min(f);
            hi = hi.max(f);
        }
        assert!(lo < 0.77 && hi > 1.23, "spread {lo}..{hi}");
    }
    // Same seed, same sequence; no jitter, exact.
    let x = on(&clock).jitter(0.25).jitter_seed(1).build();
    let y = on(&clock).jitter(0.25).jitter_seed(1).build();
    for _ in 0..10 {
        assert_eq!(x.inner.open_duration(0), y.inner.open_duration(0));
    }
    let none = on(&clock).build();
    assert_eq!(none.inner.open_duration(3), secs(120));
    // Two breakers with random seeds do not re-probe in lock-step.
    let p = CircuitBreaker::builder("a").build();
    let q = CircuitBreaker::builder("a").build();
    let ps: Vec<_> = (0..8).map(|_| p.inner.open_duration(0)).collect();
    let qs: Vec<_> = (0..8).map(|_| q.inner.open_duration(0)).collect();
    assert_ne!(ps, qs);
}

#[test]
fn jittered_retry_after_through_the_state_machine() {
    let clock = ManualClock::new();
    let b = on(&clock)
        .consecutive_failures(1)
        .jitter(0.25)
        .jitter_seed(99)
        .build();
    trip(&b);
    for reopen in 0..10u32 {
        let r = b.try_acquire().unwrap_err();
        let nominal = (secs(15) * (1 << reopen)).min(secs(300)).as_secs_f64();
        let f = r.retry_after.as_secs_f64() / nominal;
        assert!((0.75..=1.25).contains(&f), "reopen {reopen}: factor {f}");
        clock.advance(r.retry_after);
        b.try_acquire().unwrap().record(Outcome::Failure);
    }
}

#[test]
fn half_open_admits_exactly_n_and_rejects_others_with_retry_after() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(1).build();
    trip(&b);
    clock.advance(secs(15));
    let trials: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    assert!(trials.iter().all(Permit::is_trial));
    for _ in 0..10 {
        let r = b.try_acquire().unwrap_err();
        assert_eq!(r.state, State::HalfOpen);
        assert_eq!(
            r.retry_after,
            secs(15),
            "min(half-open wait left, open base)"
        );
    }
    clock.advance(secs(50));
    assert_eq!(b.try_acquire().unwrap_err().retry_after, secs(10));
    assert_eq!(b.snapshot().half_open_in_flight, 3);
    assert_eq!(b.snapshot().rejected, 11);
    drop(trials);
}

#[test]
fn half_open_admission_under_contention() {
    const THREADS: usize = 16;
    for permits in [1u32, 3, 7] {
        for _round in 0..25 {
            let clock = ManualClock::new();
            let b = on(&clock)
                .consecutive_failures(1)
                .half_open_permits(permits)
                .build();
            trip(&b);
            clock.advance(secs(15));
            let start = Barrier::new(THREADS);
            let hold = Barrier::new(THREADS);
            let results: Vec<Result<bool, Rejected>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            let r = b.try_acquire();
                            let out = r.as_ref().map(Permit::is_trial).map_err(|e| *e);
                            hold.wait(); // nobody releases before everybody has tried
                            drop(r);
                            out
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let admitted = results.iter().filter(|r| matches!(r, Ok(true))).count();
            assert_eq!(admitted, permits as usize);
            for r in results.iter().filter_map(|r| r.err()) {
                assert_eq!(r.state, State::HalfOpen);
                assert!(r.retry_after > Duration::ZERO);
            }
            let s = b.snapshot();
            assert_eq!(s.state, State::HalfOpen);
            assert_eq!(s.half_open_in_flight, 0, "dropped trials were returned");
            assert_eq!(s.abandoned, u64::from(permits));
        }
    }
}

#[test]
fn concurrent_trial_successes_close_exactly_once() {
    for _round in 0..50 {
        let clock = ManualClock::new();
        let b = on(&clock)
            .consecutive_failures(1)
            .half_open_permits(8)
            .build();
        trip(&b);
        clock.advance(secs(15));
        let trials: Vec<_> = (0..8).map(|_| b.try_acquire().unwrap()).collect();
        let start = Barrier::new(8);
        std::thread::scope(|s| {
            for p in trials {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    p.record(Outcome::Success);
                });
            }
        });
        let s = b.snapshot();
        assert_eq!((s.state, s.transitions, s.successes), (State::Closed, 3, 8));
    }
}

#[test]
fn max_half_open_wait_reopens_when_undecided() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(1).build();
    trip(&b);
    clock.advance(secs(15));
    let hung: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    clock.advance(secs(59));
    assert_eq!(b.try_acquire().unwrap_err().state, State::HalfOpen);
    clock.advance(secs(1));
    let r = b.try_acquire().unwrap_err();
    assert_eq!(
        r,
        Rejected {
            retry_after: secs(30),
            state: State::Open
        },
        "re-open backs off"
    );
    // The hung trials finally answer: stale, they change nothing.
    for p in hung {
        p.record(Outcome::Success);
    }
    assert_eq!(b.state(), State::Open);
    clock.advance(secs(30));
    assert!(b.try_acquire().unwrap().is_trial());
}

#[test]
fn dropped_trial_permit_releases_its_slot() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(1).build();
    trip(&b);
    clock.advance(secs(15));
    let a = b.try_acquire().unwrap();
    let _c = b.try_acquire().unwrap();
    let _d = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    drop(a); // a cancelled probe
    let e = b.try_acquire().unwrap();
    assert!(e.is_trial());
    assert!(b.try_acquire().is_err());
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.abandoned, s.half_open_in_flight),
        (State::HalfOpen, 1, 3)
    );
}

#[test]
fn ignored_records_nothing_and_returns_the_permit() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(1).build();
    calls(&b, Outcome::Ignored, 100); // a flood of invalid calls
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.ignored, s.window_calls, s.successes, s.failures),
        (State::Closed, 100, 0, 0, 0)
    );

    trip(&b);
    clock.advance(secs(15));
    let trials: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    assert!(b.try_acquire().is_err());
    for p in trials {
        p.record(Outcome::Ignored);
    }
    assert_eq!(b.snapshot().half_open_in_flight, 0);
    calls(&b, Outcome::Success, 3);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot().ignored, 103);
}

#[test]
fn stale_outcomes_cannot_flip_the_state() {
    let clock = ManualClock::new();
    let b = on(&clock)
        .consecutive_failures(1)
        .half_open_permits(2)
        .build();

    // Admitted while closed, answers while half-open: not a trial success.
    let closed_era = b.try_acquire().unwrap();
    let closed_era_2 = b.try_acquire().unwrap();
    trip(&b);
    clock.advance(secs(15));
    let t1 = b.try_acquire().unwrap();
    closed_era.record(Outcome::Success);
    assert_eq!(b.snapshot().half_open_succeeded, 0);
    // ... nor a trial failure.
    closed_era_2.record(Outcome::Failure);
    assert_eq!(b.state(), State::HalfOpen);

    // A trial of an earlier half-open period cannot decide a later one.
    let t2 = b.try_acquire().unwrap();
    t2.record(Outcome::Failure); // reopens
    clock.advance(secs(30));
    let t3 = b.try_acquire().unwrap();
    assert_eq!(b.state(), State::HalfOpen);
    t1.record(Outcome::Failure);
    assert_eq!(b.state(), State::HalfOpen);

    // Two successes of the current period close.
    let t4 = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err(), "out of permits");
    t3.record(Outcome::Success);
    assert_eq!(b.state(), State::HalfOpen);
    t4.record(Outcome::Success);
    assert_eq!(b.state(), State::Closed);

    // A permit admitted before a trip and recorded after reset: metrics only.
    let before = b.try_acquire().unwrap();
    b.isolate();
    b.reset();
    before.record(Outcome::Failure);
    assert_eq!(
        b.state(),
        State::Closed,
        "would have tripped at 1 consecutive failure"
    );
    assert_eq!(b.snapshot().consecutive_failures, 0);
    let s = b.snapshot();
    assert_eq!(s.failures, 5, "stale failures are still counted");
    assert_eq!(s.successes, 3);
}

#[test]
fn stale_trial_failure_after_close_does_not_reopen() {
    let clock = ManualClock::new();
    let b = on(&clock)
        .consecutive_failures(1)
        .half_open_permits(2)
        .build();
    trip(&b);
    clock.advance(secs(15));
    let hung = b.try_acquire().unwrap();
    clock.advance(secs(60));
    assert_eq!(b.try_acquire().unwrap_err().state, State::Open); // half-open timed out
    clock.advance(secs(30));
    calls(&b, Outcome::Success, 2);
    assert_eq!(b.state(), State::Closed);
    hung.record(Outcome::Failure);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot().consecutive_failures, 0);
}

// --- operator modes ----------------------------------------------------------------------

#[test]
fn isolate_rejects_until_reset() {
    let clock = ManualClock::new();
    let b = on(&clock).build();
    b.isolate();
    for _ in 0..3 {
        clock.advance(secs(3_600));
        assert_eq!(
            b.try_acquire().unwrap_err(),
            Rejected {
                retry_after: secs(15),
                state: State::Isolated
            }
        );
    }
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.retry_after, s.rejected),
        (State::Isolated, Some(secs(15)), 3)
    );
    b.reset();
    assert!(b.try_acquire().is_ok());
}

#[test]
fn disable_admits_everything_and_records_nothing() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(1).build();
    trip(&b);
    b.disable();
    for _ in 0..50 {
        call(&b, Outcome::Failure);
        drop(b.try_acquire().unwrap());
    }
    let s = b.snapshot();
    assert_eq!((s.state, s.failures, s.abandoned), (State::Disabled, 1, 0));
    assert_eq!(
        s.window_calls, 1,
        "the window that tripped is kept until the next close"
    );
    b.reset();
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn shadow_never_rejects_and_reports_would_open() {
    let clock = ManualClock::new();
    let capture = Capture::default();
    let b = on(&clock).consecutive_failures(3).build();
    let default = crate::test_log::set_default(capture.clone());
    {
        b.shadow();
        for _ in 0..9 {
            call(&b, Outcome::Failure);
        }
    }
    drop(default);
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.would_open, s.failures, s.rejected, s.opens),
        (State::Shadow, 3, 9, 0, 0)
    );
    let would: Vec<_> = capture
        .events()
        .into_iter()
        .filter(|e| e.contains("would_open=true"))
        .collect();
    assert_eq!(would.len(), 3);
    assert!(would[0].contains("breaker=dep") && would[0].contains("reason=consecutive_failures"));
    b.reset();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn shadow_evaluates_rates_too() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(0).build();
    b.shadow();
    for i in 0..10 {
        call(
            &b,
            if i % 2 == 0 {
                Outcome::Failure
            } else {
                Outcome::Success
            },
        );
    }
    assert_eq!(b.snapshot().would_open, 1);
    assert_eq!(
        b.snapshot().window_calls,
        0,
        "the evaluation restarts after a would-open"
    );
    assert!(b.try_acquire().is_ok());
}

#[test]
fn reset_clears_backoff_window_and_streak() {
    let clock = ManualClock::new();
    let b = on(&clock).consecutive_failures(2).build();
    calls(&b, Outcome::Failure, 2);
    for _ in 0..3 {
        let r = b.try_acquire().unwrap_err();
        clock.advance(r.retry_after);
        b.try_acquire().unwrap().record(Outcome::Failure);
    }
    assert_eq!(b.try_acquire().unwrap_err().retry_after, secs(120));
    b.reset();
    call(&b, Outcome::Failure);
    assert_eq!(b.snapshot().consecutive_failures, 1);
    assert_eq!(b.state(), State::Closed);
    call(&b, Outcome::Failure);
    assert_eq!(b.try_acquire().unwrap_err().retry_after, secs(15));
}

// --- observability ---------------------------------------------------------------------

#[test]
fn snapshot_counts_every_outcome() {
    let clock = ManualClock::new();
    let b = on(&clock)
        .slow_call_threshold(secs(1))
        .min_calls(100)
        .consecutive_failures(3)
        .build();
    calls(&b, Outcome::Success, 6);
    calls(&b, Outcome::Failure, 2);
    calls(&b, Outcome::Ignored, 4);
    let p = b.try_acquire().unwrap();
    clock.advance(secs(2));
    p.record(Outcome::Success); // slow success
    drop(b.try_acquire().unwrap());
    let s = b.snapshot();
    assert_eq!(
        (
            s.successes,
            s.failures,
            s.slow,
            s.ignored,
            s.abandoned,
            s.rejected
        ),
        (7, 2, 1, 4, 1, 0)
    );
    assert_eq!(s.window_calls, 9);
    assert!((s.failure_rate - 2.0 / 9.0).abs() < 1e-9);
    assert!((s.slow_rate - 1.0 / 9.0).abs() < 1e-9);
    assert_eq!(
        (s.transitions, s.opens, s.retry_after, s.generation),
        (0, 0, None, 0)
    );

    calls(&b, Outcome::Failure, 3);
    let _ = b.try_acquire().unwrap_err();
    clock.advance(secs(5));
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.opens, s.transitions, s.rejected),
        (State::Open, 1, 1, 1)
    );
    assert_eq!(s.retry_after, Some(secs(10)));
    assert_eq!(s.generation, 1);
    assert_eq!(s.failures, 5);
}

#[test]
fn every_transition_emits_a_tracing_event() {
    let clock = ManualClock::new();
    let capture = Capture::default();
    let b = on(&clock)
        .consecutive_failures(1)
        .half_open_permits(1)
        .build();
    let default = crate::test_log::set_default(capture.clone());
    {
        trip(&b); // closed -> open
        clock.advance(secs(15));
        b.try_acquire().unwrap().record(Outcome::Failure); // open -> half_open -> open
        clock.advance(secs(30));
        let p = b.try_acquire().unwrap(); // open -> half_open
        clock.advance(secs(60));
        assert!(b.try_acquire().is_err()); // half_open -> open (timeout)
        drop(p);
        clock.advance(secs(60));
        b.try_acquire().unwrap().record(Outcome::Success); // open -> half_open -> closed
        b.isolate();
        b.disable();
        b.shadow();
        b.reset();
    }
    drop(default);
    let events = capture.events();
    let expected = [
        ("closed", "open", "consecutive_failures"),
        ("open", "half_open", "open_elapsed"),
        ("half_open", "open", "trial_failed"),
        ("open", "half_open", "open_elapsed"),
        ("half_open", "open", "half_open_timeout"),
        ("open", "half_open", "open_elapsed"),
        ("half_open", "closed", "trials_succeeded"),
        ("closed", "isolated", "operator_isolate"),
        ("isolated", "disabled", "operator_disable"),
        ("disabled", "shadow", "operator_shadow"),
        ("shadow", "closed", "operator_reset"),
    ];
    assert_eq!(events.len(), expected.len(), "{events:#?}");
    for (e, (from, to, reason)) in events.iter().zip(expected) {
        assert!(e.contains("breaker=dep "), "{e}");
        assert!(e.contains(&format!("from={from} ")), "{e}");
        assert!(e.contains(&format!("to={to} ")), "{e}");
        assert!(e.contains(&format!("reason={reason} ")), "{e}");
    }
    assert!(events[0].starts_with("level=WARN") && events[0].contains("open_for_ms=15000"));
    assert!(events[1].starts_with("level=INFO"));
    // An isolation is a warning of its own, whatever the state before.
    assert!(
        events[7].starts_with("level=WARN") && events[7].contains("circuit breaker isolated"),
        "{}",
        events[7]
    );
    assert!(events[8].starts_with("level=INFO"), "{}", events[8]);
    assert_eq!(b.snapshot().transitions, 11);
    assert_eq!(b.snapshot().opens, 3);
}

#[test]
fn rejected_is_an_error_with_safe_text() {
    let r = Rejected {
        retry_after: millis(1_500),
        state: State::Open,
    };
    assert_eq!(
        r.to_string(),
        "dependency temporarily unavailable; retry after 2 s"
    );
    let tiny = Rejected {
        retry_after: Duration::from_nanos(1),
        state: State::HalfOpen,
    };
    assert_eq!(
        tiny.to_string(),
        "dependency temporarily unavailable; retry after 1 s"
    );
    // Whole seconds are not rounded up.
    let whole = Rejected {
        retry_after: secs(15),
        state: State::Open,
    };
    assert_eq!(
        whole.to_string(),
        "dependency temporarily unavailable; retry after 15 s"
    );
    let e: Box<dyn std::error::Error + Send + Sync> = Box::new(r);
    assert!(!e.to_string().contains("open"));
}

#[test]
fn explicit_instants_share_one_clock_read() {
    let clock = ManualClock::new();
    let b = on(&clock).slow_call_threshold(secs(1)).build();
    let t0 = clock.now();
    let p = b.try_acquire_at(t0).unwrap();
    p.record_at(Outcome::Success, t0 + secs(1));
    let p = b.try_acquire_at(t0).unwrap();
    p.record_at(Outcome::Success, t0 + millis(999));
    assert_eq!(b.snapshot().slow, 1);
    assert_eq!(b.snapshot().successes, 2);
}

#[test]
fn clones_share_state() {
    let clock = ManualClock::new();
    let a = on(&clock).consecutive_failures(1).build();
    let b = a.clone();
    trip(&a);
    assert_eq!(b.state(), State::Open);
    assert!(b.try_acquire().is_err());
    assert_eq!(a.snapshot().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn paused_tokio_time_drives_the_default_clock() {
    let b = CircuitBreaker::builder("dep")
        .consecutive_failures(1)
        .jitter(0.0)
        .build();
    let p = b.try_acquire().unwrap();
    tokio::time::advance(secs(25)).await;
    p.record(Outcome::Failure); // a 25 s timeout: failure and slow
    assert_eq!(b.snapshot().slow, 1);
    assert_eq!(b.try_acquire().unwrap_err().retry_after, secs(15));
    tokio::time::advance(secs(15)).await;
    let trials: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    for t in trials {
        t.record(Outcome::Success);
    }
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn many_tasks_race_for_half_open_permits() {
    let b = CircuitBreaker::builder("dep")
        .consecutive_failures(1)
        .jitter(0.0)
        .build();
    b.try_acquire().unwrap().record(Outcome::Failure);
    tokio::time::advance(secs(15)).await;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            match b.try_acquire() {
                Ok(p) => {
                    tokio::time::sleep(secs(1)).await; // the probe takes a while
                    p.record(Outcome::Success);
                    true
                }
                Err(r) => {
                    assert_eq!(r.state, State::HalfOpen);
                    false
                }
            }
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        admitted += usize::from(t.await.unwrap());
    }
    assert_eq!(admitted, 3);
    assert_eq!(b.state(), State::Closed);
}

// --- property-style test ----------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        crate::util::splitmix64(self.0) % n
    }
}

#[test]
fn random_sequences_keep_the_invariants() {
    const PERMITS: u32 = 2;
    let (mut trials, mut closes_after_trials, mut opened) = (0u64, 0u64, 0u64);
    for seed in 0..300u64 {
        let mut rng = Rng(seed);
        let clock = ManualClock::new();
        let window = if seed % 3 == 0 {
            on(&clock).count_window(8)
        } else {
            on(&clock).sliding_window(secs(10), 5)
        };
        let b = window
            .min_calls(4)
            .consecutive_failures(3)
            .slow_call_threshold(millis(800))
            .open_duration(secs(1))
            .max_open_duration(secs(8))
            .jitter(0.25)
            .jitter_seed(seed)
            .half_open_permits(PERMITS)
            .max_half_open_wait(secs(5))
            .build();
        let mut held: Vec<Permit<'_>> = Vec::new();
        let (mut admitted, mut rejected) = (0u64, 0u64);
        for _step in 0..600 {
            match rng.below(100) {
                0..=39 => {
                    let before = b.state();
                    match b.try_acquire() {
                        Ok(p) => {
                            if p.kind != Kind::Bypass {
                                admitted += 1;
                            }
                            trials += u64::from(p.is_trial());
                            held.push(p);
                        }
                        Err(r) => {
                            rejected += 1;
                            assert!(
                                matches!(before, State::Open | State::HalfOpen | State::Isolated),
                                "rejected while {before:?}"
                            );
                            assert!(matches!(
                                r.state,
                                State::Open | State::HalfOpen | State::Isolated
                            ));
                            assert!(r.retry_after > Duration::ZERO);
                            assert!(r.retry_after <= secs(10), "{r:?}");
                        }
                    }
                }
                40..=69 if !held.is_empty() => {
                    let p = held.swap_remove(rng.below(held.len() as u64) as usize);
                    let outcome = match rng.below(10) {
                        0..=5 => Outcome::Success,
                        6..=8 => Outcome::Failure,
                        _ => Outcome::Ignored,
                    };
                    let was_half_open = b.state() == State::HalfOpen;
                    p.record(outcome);
                    closes_after_trials += u64::from(was_half_open && b.state() == State::Closed);
                }
                70..=77 if !held.is_empty() => {
                    drop(held.swap_remove(rng.below(held.len() as u64) as usize));
                }
                78..=97 => clock.advance(millis(rng.below(1_500))),
                98 | 99 if rng.below(10) == 0 => match rng.below(4) {
                    0 => b.isolate(),
                    1 => b.disable(),
                    2 => b.shadow(),
                    _ => b.reset(),
                },
                _ => {}
            }
            // Invariants.
            let w = word(&b);
            let live_trials = held
                .iter()
                .filter(|p| p.kind == Kind::Trial && p.generation == w_gen(w))
                .count() as u32;
            if w_state(w) == ST_HALF_OPEN {
                assert!(w_in_flight(w) + w_succeeded(w) <= PERMITS, "seed {seed}");
                assert_eq!(w_in_flight(w), live_trials, "seed {seed}");
            } else {
                assert_eq!(w_in_flight(w) + w_succeeded(w), 0, "seed {seed}");
                assert_eq!(live_trials, 0, "seed {seed}");
            }
        }
        drop(held);
        let s = b.snapshot();
        assert_eq!(
            s.successes + s.failures + s.ignored + s.abandoned,
            admitted,
            "seed {seed}: {s:?}"
        );
        assert_eq!(s.rejected, rejected, "seed {seed}");
        assert!(s.slow <= s.successes + s.failures);
        opened += u64::from(s.opens > 0);
    }
    eprintln!("opened {opened}/300 seeds, {trials} trials, {closes_after_trials} closes");
    // The sequences do reach every part of the state machine.
    assert!(
        opened > 200 && trials > 1_000 && closes_after_trials > 100,
        "{opened} {trials} {closes_after_trials}"
    );
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<CircuitBreaker>();
    check::<Permit<'static>>();
    check::<Rejected>();
    check::<Snapshot>();
    check::<ManualClock>();
}

#[test]
fn the_cold_path_admits_closed_shadow_and_disabled_breakers_as_the_inline_one_does() {
    // A call can reach the cold path with any state: another thread may have closed,
    // shadowed or disabled the breaker since the caller read it open.
    let clock = ManualClock::new();
    let b = on(&clock).build();
    let admit = |b: &CircuitBreaker| {
        let now = b.inner.now();
        b.inner
            .acquire_slow(b.inner.load_word(), now)
            .map(|(_, kind)| kind)
    };
    assert_eq!(admit(&b), Ok(Kind::Normal));
    b.shadow();
    assert_eq!(admit(&b), Ok(Kind::Normal));
    b.disable();
    assert_eq!(admit(&b), Ok(Kind::Bypass));
    assert_eq!(b.snapshot().rejected, 0);
}

#[test]
fn an_isolated_breaker_rejects_for_its_base_open_duration() {
    let clock = ManualClock::new();
    let b = on(&clock).open_duration(secs(20)).build();
    assert_eq!(b.rejecting_for(), None);
    b.isolate();
    assert_eq!(b.rejecting_for(), Some(secs(20)));
}

#[test]
fn debug_shows_the_name_and_the_state() {
    let clock = ManualClock::new();
    let b = on(&clock).build();
    assert_eq!(
        format!("{b:?}"),
        r#"CircuitBreaker { name: "dep", state: Closed, .. }"#
    );
}

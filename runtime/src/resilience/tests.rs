//! `Limits::run` with tokio's paused clock: every path of the guard, and what each one
//! tells the breaker and the bulkhead.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::breaker::State;

fn dependency(name: &str) -> Dependency {
    Dependency::with_breaker(
        CircuitBreaker::builder(name)
            .count_window(10)
            .min_calls(4)
            .failure_rate_threshold(0.5)
            .consecutive_failures(100)
            .open_duration(Duration::from_secs(10))
            .jitter(0.0)
            .half_open_permits(1)
            .build(),
    )
    .max_concurrent(2)
}

fn io(kind: std::io::ErrorKind) -> ToolError {
    ToolError::from(std::io::Error::new(kind, "db.internal:5432 said no"))
}

#[tokio::test(start_paused = true)]
async fn a_call_past_its_deadline_is_a_timeout_and_a_failure() {
    let db = dependency("db");
    let limits = Limits::new(Duration::from_millis(500)).with_dependency(&db);
    let started = Instant::now();
    let error = limits
        .run(async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<(), ToolError>(())
        })
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_millis(500));
    assert_eq!(error.category(), ErrorCategory::Timeout);
    let deadline = error.source().unwrap().downcast_ref::<DeadlineExceeded>();
    assert_eq!(
        deadline,
        Some(&DeadlineExceeded {
            timeout: Duration::from_millis(500)
        })
    );
    let snapshot = db.breaker().snapshot();
    assert_eq!((snapshot.failures, snapshot.successes), (1, 0));
    assert_eq!(db.bulkhead().unwrap().in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_applies_without_a_dependency() {
    let error = Limits::new(Duration::from_secs(2))
        .run(std::future::pending::<Result<(), ToolError>>())
        .await
        .unwrap_err();
    assert_eq!(error.category(), ErrorCategory::Timeout);
}

#[tokio::test(start_paused = true)]
async fn dependency_failures_open_the_breaker_and_then_calls_fail_fast() {
    let db = dependency("db");
    let limits = Limits::new(Duration::from_secs(5)).with_dependency(&db);
    for kind in [
        std::io::ErrorKind::ConnectionRefused,
        std::io::ErrorKind::ConnectionReset,
    ] {
        for _ in 0..2 {
            let error = limits.run(async { Err::<(), _>(io(kind)) }).await;
            assert_eq!(error.unwrap_err().category(), ErrorCategory::Unavailable);
        }
    }
    assert_eq!(db.breaker().state(), State::Open);

    let reached = AtomicUsize::new(0);
    let error = limits
        .run(async {
            reached.fetch_add(1, Ordering::SeqCst);
            Ok::<(), ToolError>(())
        })
        .await
        .unwrap_err();
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "an open breaker must not call the dependency"
    );
    assert_eq!(error.category(), ErrorCategory::Unavailable);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(10)));
    assert!(error.source().unwrap().downcast_ref::<Rejected>().is_some());
    // The rejection itself is not an outcome of the dependency.
    assert_eq!(error.breaker_outcome(), Outcome::Ignored);

    // After the open period, one trial call closes it again.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(
        limits.run(async { Ok::<_, ToolError>(7) }).await.unwrap(),
        7
    );
    assert_eq!(db.breaker().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_callers_errors_never_open_the_breaker() {
    let db = dependency("db");
    let limits = Limits::new(Duration::from_secs(5)).with_dependency(&db);
    for _ in 0..20 {
        for error in [
            ToolError::invalid_input("`id` must be positive"),
            ToolError::not_found("no such note"),
            ToolError::conflict("already exists"),
            ToolError::unavailable(std::io::Error::other("quota of tenant 7"))
                .with_breaker_outcome(Outcome::Ignored),
        ] {
            let _ = limits.run(async { Err::<(), _>(error) }).await;
        }
    }
    let snapshot = db.breaker().snapshot();
    assert_eq!(snapshot.state, State::Closed);
    assert_eq!((snapshot.ignored, snapshot.failures), (80, 0));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_call_is_an_internal_failure_that_releases_its_slot() {
    let db = dependency("db");
    let limits = Limits::new(Duration::from_secs(5)).with_dependency(&db);
    let error = limits
        .run(async {
            if db.name() == "db" {
                panic!("row 7 of /var/lib/db is corrupt");
            }
            Ok::<(), ToolError>(())
        })
        .await
        .unwrap_err();
    assert_eq!(error.category(), ErrorCategory::Internal);
    let panicked = error.source().unwrap().downcast_ref::<Panicked>().unwrap();
    assert_eq!(panicked.message(), "row 7 of /var/lib/db is corrupt");
    assert_eq!(db.breaker().snapshot().failures, 1);
    assert_eq!(db.bulkhead().unwrap().in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_panics_after_waiting_is_caught() {
    let db = dependency("db");
    let limits = Limits::new(Duration::from_secs(5)).with_dependency(&db);
    let error = limits
        .run(async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if db.name() == "db" {
                panic!("lost the connection to 10.0.0.7");
            }
            Ok::<(), ToolError>(())
        })
        .await
        .unwrap_err();
    assert_eq!(error.category(), ErrorCategory::Internal);
    let panicked = error.source().unwrap().downcast_ref::<Panicked>().unwrap();
    assert_eq!(panicked.message(), "lost the connection to 10.0.0.7");
    assert_eq!(db.breaker().snapshot().failures, 1);
    assert_eq!(db.bulkhead().unwrap().in_flight(), 0);
}

/// A breaker on tokio's clock for which a call of a second or more is slow.
fn slow_after_a_second() -> CircuitBreaker {
    CircuitBreaker::builder("search")
        .slow_call_threshold(Duration::from_secs(1))
        .build()
}

#[tokio::test(start_paused = true)]
async fn the_deadline_and_the_slow_timer_count_from_started_at() {
    let breaker = slow_after_a_second();
    let arrived = Instant::now();
    // Time spent before the handler (authorization, parsing) is part of the call.
    tokio::time::advance(Duration::from_millis(1500)).await;
    let limits = Limits::new(Duration::from_secs(2))
        .started_at(arrived)
        .with_dependency(&breaker);
    limits
        .run(async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<(), ToolError>(())
        })
        .await
        .unwrap();
    assert_eq!(breaker.snapshot().slow, 1, "1.6 s since arrival is slow");
    let error = limits
        .run(async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<(), ToolError>(())
        })
        .await
        .unwrap_err();
    assert_eq!(error.category(), ErrorCategory::Timeout);
    assert_eq!(arrived.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_rejects_at_once_without_calling() {
    let db = dependency("db"); // at most 2 concurrent calls
    let limits = Limits::new(Duration::from_secs(60)).with_dependency(&db);
    let (release, hold) = tokio::sync::watch::channel(false);
    let hung = |mut hold: tokio::sync::watch::Receiver<bool>| async move {
        let _ = hold.wait_for(|released| *released).await;
        Ok::<(), ToolError>(())
    };
    let first = tokio::spawn({
        let db = db.clone();
        let hold = hold.clone();
        async move {
            Limits::new(Duration::from_secs(60))
                .with_dependency(&db)
                .run(hung(hold))
                .await
        }
    });
    let second = tokio::spawn({
        let db = db.clone();
        let hold = hold.clone();
        async move {
            Limits::new(Duration::from_secs(60))
                .with_dependency(&db)
                .run(hung(hold))
                .await
        }
    });
    while db.bulkhead().unwrap().in_flight() < 2 {
        tokio::task::yield_now().await;
    }

    let reached = AtomicUsize::new(0);
    let error = limits
        .run(async {
            reached.fetch_add(1, Ordering::SeqCst);
            Ok::<(), ToolError>(())
        })
        .await
        .unwrap_err();
    assert_eq!(error.category(), ErrorCategory::Overloaded);
    assert_eq!(reached.load(Ordering::SeqCst), 0);
    // Our own rejection says nothing about the dependency.
    assert_eq!(
        db.breaker().snapshot().ignored + db.breaker().snapshot().failures,
        0
    );

    release.send(true).unwrap();
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    assert_eq!(db.bulkhead().unwrap().in_flight(), 0);
    assert!(limits.run(async { Ok::<_, ToolError>(()) }).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_releases_its_trial_permit_and_its_slot() {
    let db = dependency("db"); // one half-open trial
    // Open it, then let the open period pass.
    let limits = Limits::new(Duration::from_secs(5)).with_dependency(&db);
    for _ in 0..4 {
        let _ = limits
            .run(async { Err::<(), _>(io(std::io::ErrorKind::ConnectionRefused)) })
            .await;
    }
    assert_eq!(db.breaker().state(), State::Open);
    tokio::time::advance(Duration::from_secs(10)).await;

    // The one trial hangs, and its caller goes away.
    let trial = tokio::spawn({
        let db = db.clone();
        async move {
            Limits::new(Duration::from_secs(60))
                .with_dependency(&db)
                .run(std::future::pending::<Result<(), ToolError>>())
                .await
        }
    });
    while db.breaker().snapshot().half_open_in_flight < 1 {
        tokio::task::yield_now().await;
    }
    // While it is out, other calls fail fast.
    let busy = limits
        .run(async { Ok::<(), ToolError>(()) })
        .await
        .unwrap_err();
    assert_eq!(busy.category(), ErrorCategory::Unavailable);

    trial.abort();
    let _ = trial.await;
    let snapshot = db.breaker().snapshot();
    assert_eq!(snapshot.half_open_in_flight, 0);
    assert_eq!(snapshot.abandoned, 1);
    assert_eq!(db.bulkhead().unwrap().in_flight(), 0);
    // The permit came back: the next call is the trial, and its success closes the circuit.
    limits.run(async { Ok::<(), ToolError>(()) }).await.unwrap();
    assert_eq!(db.breaker().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn slow_successes_count_as_slow_calls() {
    let breaker = slow_after_a_second();
    let limits = Limits::new(Duration::from_secs(5)).with_dependency(&breaker);
    limits
        .run(async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok::<(), ToolError>(())
        })
        .await
        .unwrap();
    limits.run(async { Ok::<(), ToolError>(()) }).await.unwrap();
    let snapshot = breaker.snapshot();
    assert_eq!((snapshot.successes, snapshot.slow), (2, 1));
}

/// A call done in its first poll is timed from its start to its end, as one that waited:
/// the time since [`Limits::started_at`] counts, and a call with none gone by is fast.
#[tokio::test(start_paused = true)]
async fn a_call_done_in_its_first_poll_is_timed_from_its_start() {
    let breaker = slow_after_a_second();
    let arrived = Instant::now();
    // Time spent before the handler (authorization, parsing) is part of the call.
    tokio::time::advance(Duration::from_millis(1500)).await;
    let limits = Limits::new(Duration::from_secs(5)).with_dependency(&breaker);
    limits
        .started_at(arrived)
        .run(async { Ok::<(), ToolError>(()) })
        .await
        .unwrap();
    limits.run(async { Ok::<(), ToolError>(()) }).await.unwrap();
    let snapshot = breaker.snapshot();
    assert_eq!((snapshot.successes, snapshot.slow), (2, 1));
}

/// A handler that holds its thread (a synchronous client) is slow when it is, though it
/// never waits; past its deadline, which cannot cut into a poll, it timed out for the
/// breaker (a failure, as a call that waited that long), and its result, made by then, is
/// returned.
#[cfg(feature = "testing")]
#[tokio::test(start_paused = true)]
async fn a_handler_that_holds_its_thread_is_timed() {
    let breaker = slow_after_a_second();
    let limits = Limits::new(Duration::from_secs(2)).with_dependency(&breaker);
    let held = |millis| async move {
        crate::testing::block_thread(Duration::from_millis(millis));
        Ok::<u64, ToolError>(millis)
    };
    assert_eq!(limits.run(held(1500)).await.unwrap(), 1500);
    assert_eq!(limits.run(held(10)).await.unwrap(), 10);
    let snapshot = breaker.snapshot();
    assert_eq!(
        (snapshot.successes, snapshot.slow, snapshot.failures),
        (2, 1, 0)
    );
    // Past the 2 s deadline: the value, and a slow failure.
    assert_eq!(limits.run(held(2500)).await.unwrap(), 2500);
    let snapshot = breaker.snapshot();
    assert_eq!(
        (snapshot.successes, snapshot.slow, snapshot.failures),
        (2, 2, 1)
    );
    // Exactly at the deadline is in time, as for a call that waited until then.
    assert_eq!(limits.run(held(2000)).await.unwrap(), 2000);
    assert_eq!(breaker.snapshot().failures, 1);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_with_its_own_clock_times_calls_with_it() {
    let clock = crate::breaker::ManualClock::new();
    let breaker = CircuitBreaker::builder("search")
        .slow_call_threshold(Duration::from_secs(1))
        .clock(clock.clone())
        .build();
    let limits = Limits::new(Duration::from_secs(5)).with_dependency(&breaker);
    limits
        .run(async {
            clock.advance(Duration::from_secs(3));
            Ok::<(), ToolError>(())
        })
        .await
        .unwrap();
    assert_eq!(breaker.snapshot().slow, 1);
}

/// A breaker with a clock of its own also records a result that came past the deadline
/// (tokio's) because the handler held its thread as a timeout, its value returned.
#[cfg(feature = "testing")]
#[tokio::test(start_paused = true)]
async fn a_breaker_with_its_own_clock_records_a_late_result_as_a_failure() {
    let breaker = CircuitBreaker::builder("search")
        .clock(crate::breaker::ManualClock::new())
        .build();
    let limits = Limits::new(Duration::from_secs(2)).with_dependency(&breaker);
    let held = |millis| async move {
        crate::testing::block_thread(Duration::from_millis(millis));
        Ok::<u64, ToolError>(millis)
    };
    assert_eq!(limits.run(held(2000)).await.unwrap(), 2000);
    assert_eq!(breaker.snapshot().failures, 0);
    assert_eq!(limits.run(held(2500)).await.unwrap(), 2500);
    assert_eq!(breaker.snapshot().failures, 1);
}

#[test]
fn dependencies_are_reached_through_every_kind_of_holder() {
    static STATIC: LazyLock<Dependency> = LazyLock::new(|| Dependency::new("static"));
    let arc = Arc::new(Dependency::new("arc"));
    let boxed: Box<CircuitBreaker> = Box::new(CircuitBreaker::builder("boxed").build());
    assert_eq!(STATIC.dependency().breaker.name(), "static");
    assert_eq!(arc.dependency().breaker.name(), "arc");
    assert!(arc.dependency().bulkhead.is_some());
    assert_eq!(boxed.dependency().breaker.name(), "boxed");
    assert!(boxed.dependency().bulkhead.is_none());
    assert_eq!((&&*arc).dependency().breaker.name(), "arc");
}

#[test]
fn limits_say_their_deadline_and_errors_say_what_happened() {
    assert_eq!(
        Limits::new(Duration::from_millis(1500)).timeout(),
        Duration::from_millis(1500)
    );
    let payload = std::panic::catch_unwind(|| panic!("index out of range")).unwrap_err();
    assert_eq!(
        Panicked::new(&*payload).to_string(),
        "the handler panicked: index out of range"
    );
    let late = DeadlineExceeded {
        timeout: Duration::from_millis(1500),
    };
    assert_eq!(
        late.to_string(),
        "the call did not finish within its 1.5s deadline"
    );
}

/// A timeout past the clock's range (`Duration::MAX`) is no deadline: the same far
/// instant tokio's own `sleep` and `timeout` take for it, and any other timeout counts
/// from the call's start.
#[tokio::test(start_paused = true)]
async fn no_deadline_is_as_far_away_as_tokios_own() {
    let start = Instant::now();
    let tokios = tokio::time::sleep(Duration::MAX).deadline();
    assert_eq!(deadline(start, Duration::MAX), tokios);
    assert_eq!(
        deadline(start, Duration::from_secs(5)),
        start + Duration::from_secs(5)
    );
}

#[test]
fn a_deadline_is_more_than_zero_and_at_most_a_day() {
    let refusal = |timeout: Duration| {
        std::panic::catch_unwind(|| check_timeout(timeout, "tool", "wait"))
            .err()
            .map(|panic| panic.downcast_ref::<String>().cloned().unwrap_or_default())
    };
    for timeout in [
        Duration::from_nanos(1),
        Duration::from_secs(30),
        MAX_TIMEOUT,
    ] {
        assert_eq!(refusal(timeout), None, "{timeout:?}");
    }
    let zero = refusal(Duration::ZERO).expect("a deadline of zero is refused");
    assert!(
        zero.contains("tool `wait` must be more than zero"),
        "{zero}"
    );
    for timeout in [MAX_TIMEOUT + Duration::from_nanos(1), Duration::MAX] {
        let long = refusal(timeout).expect("a deadline past a day is refused");
        assert!(long.contains("more than a day"), "{long}");
    }
}

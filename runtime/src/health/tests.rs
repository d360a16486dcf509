//! The health monitor on tokio's paused clock: probes with hysteresis, breakers, operators.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;

use super::*;

struct Flaky {
    failing: Arc<AtomicBool>,
    runs: Arc<AtomicUsize>,
}

fn write_probe(builder: HealthMonitorBuilder, flaky: &Flaky) -> HealthMonitorBuilder {
    let failing = flaky.failing.clone();
    let runs = flaky.runs.clone();
    builder.probe(
        ServicePath::Writes,
        "heartbeat write",
        Duration::from_secs(10),
        Duration::from_secs(2),
        move || {
            let failing = failing.load(Ordering::SeqCst);
            runs.fetch_add(1, Ordering::SeqCst);
            async move {
                if failing {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        "readonly database",
                    ))
                } else {
                    Ok(())
                }
            }
        },
    )
}

fn flaky() -> Flaky {
    Flaky {
        failing: Arc::default(),
        runs: Arc::default(),
    }
}

/// Lets the probe tasks run up to `runs` probes in total.
async fn until_runs(flaky: &Flaky, runs: usize) {
    tokio::time::timeout(Duration::from_secs(600), async {
        while flaky.runs.load(Ordering::SeqCst) < runs {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the probes stopped running");
    // Let the probe that just ran record its result.
    tokio::task::yield_now().await;
}

/// Lets the probes run (on the paused clock, for up to a minute) until the write path is
/// degraded.
async fn until_writes_degrade(monitor: &HealthMonitor) {
    let mut changes = monitor.changes();
    tokio::time::timeout(Duration::from_secs(60), async {
        while changes.borrow_and_update().writes != Status::Degraded {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("the write path degrades");
}

#[tokio::test(start_paused = true)]
async fn failing_probes_degrade_after_n_and_recover_after_m() {
    let flaky = flaky();
    let monitor = write_probe(HealthMonitor::builder(), &flaky)
        .unhealthy_after(3)
        .healthy_after(2)
        .build();
    let mut changes = monitor.changes();
    let _tasks = monitor.start();
    until_runs(&flaky, 1).await;
    assert_eq!(monitor.status(ServicePath::Writes), Status::Healthy);

    flaky.failing.store(true, Ordering::SeqCst);
    until_runs(&flaky, 3).await;
    assert_eq!(
        monitor.status(ServicePath::Writes),
        Status::Healthy,
        "2 failures are not enough"
    );
    until_runs(&flaky, 4).await;
    assert_eq!(
        monitor.status(ServicePath::Writes),
        Status::Degraded,
        "3 failures degrade"
    );
    assert_eq!(
        monitor.status(ServicePath::Reads),
        Status::Healthy,
        "reads are not affected"
    );
    assert!(changes.has_changed().unwrap());
    assert_eq!(changes.borrow_and_update().writes, Status::Degraded);

    flaky.failing.store(false, Ordering::SeqCst);
    until_runs(&flaky, 5).await;
    assert_eq!(
        monitor.status(ServicePath::Writes),
        Status::Degraded,
        "1 success is not enough"
    );
    until_runs(&flaky, 6).await;
    assert_eq!(
        monitor.status(ServicePath::Writes),
        Status::Healthy,
        "2 successes recover"
    );
    assert_eq!(changes.borrow_and_update().writes, Status::Healthy);
}

#[tokio::test(start_paused = true)]
async fn a_hung_or_panicking_probe_is_a_failure() {
    let monitor = HealthMonitor::builder()
        .probe(
            ServicePath::Reads,
            "hangs",
            Duration::from_secs(1),
            Duration::from_millis(200),
            std::future::pending::<Result<(), std::io::Error>>,
        )
        .probe(
            ServicePath::Writes,
            "panics",
            Duration::from_secs(1),
            Duration::from_millis(200),
            || async {
                if true {
                    panic!("probe bug");
                }
                Ok::<(), std::io::Error>(())
            },
        )
        .unhealthy_after(2)
        .build();
    let mut changes = monitor.changes();
    let _tasks = monitor.start();
    tokio::time::timeout(Duration::from_secs(60), async {
        while changes.borrow_and_update().reads != Status::Degraded
            || monitor.status(ServicePath::Writes) != Status::Degraded
        {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("both paths degrade");
}

/// A probe whose closure panics before it returns a future fails each run, as one whose
/// future panics: its path degrades instead of keeping the status it had.
#[tokio::test(start_paused = true)]
async fn a_probe_that_panics_before_its_future_is_a_failure() {
    let monitor = HealthMonitor::builder()
        .probe(
            ServicePath::Writes,
            "panics at once",
            Duration::from_secs(1),
            Duration::from_millis(200),
            || {
                if true {
                    panic!("probe bug");
                }
                std::future::ready(Ok::<(), std::io::Error>(()))
            },
        )
        .unhealthy_after(2)
        .build();
    let _tasks = monitor.start();
    until_writes_degrade(&monitor).await;
}

/// A probe that holds its thread past its timeout (a synchronous client), which no timer
/// can cut off, fails though it succeeds; one that holds it within its timeout does not.
#[cfg(feature = "testing")]
#[tokio::test(start_paused = true)]
async fn a_probe_that_answers_past_its_timeout_is_a_failure() {
    let held = |millis: u64| {
        move || async move {
            crate::testing::block_thread(Duration::from_millis(millis));
            Ok::<(), std::io::Error>(())
        }
    };
    let monitor = HealthMonitor::builder()
        .probe(
            ServicePath::Writes,
            "slow heartbeat",
            Duration::from_secs(1),
            Duration::from_millis(200),
            held(300),
        )
        .probe(
            ServicePath::Reads,
            "quick read",
            Duration::from_secs(1),
            Duration::from_millis(200),
            held(150),
        )
        .unhealthy_after(2)
        .build();
    let _tasks = monitor.start();
    until_writes_degrade(&monitor).await;
    // Ten more rounds of both probes.
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(monitor.status(ServicePath::Writes), Status::Degraded);
    assert_eq!(monitor.status(ServicePath::Reads), Status::Healthy);
}

/// A monitor watching a write breaker (open for 5 s) that two failures have just opened.
fn write_breaker_opened() -> (
    CircuitBreaker,
    HealthMonitor,
    watch::Receiver<Health>,
    ProbeTasks,
) {
    let breaker = CircuitBreaker::builder("db")
        .count_window(4)
        .min_calls(2)
        .open_duration(Duration::from_secs(5))
        .jitter(0.0)
        .build();
    let monitor = HealthMonitor::builder()
        .watch_breaker(ServicePath::Writes, &breaker)
        .build();
    let changes = monitor.changes();
    let tasks = monitor.start();
    for _ in 0..2 {
        breaker
            .try_acquire()
            .unwrap()
            .record(crate::breaker::Outcome::Failure);
    }
    (breaker, monitor, changes, tasks)
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_degrades_its_path_at_once_and_notifies() {
    let (breaker, monitor, mut changes, _tasks) = write_breaker_opened();
    assert_eq!(breaker.state(), State::Open);
    // The gate reads the breaker: degraded without waiting for any probe.
    assert_eq!(monitor.status(ServicePath::Writes), Status::Degraded);
    assert_eq!(
        monitor.retry_after(ServicePath::Writes),
        Duration::from_secs(5)
    );
    // And watchers hear of it.
    tokio::time::timeout(Duration::from_secs(1), changes.changed())
        .await
        .expect("a change is published")
        .unwrap();
    assert_eq!(changes.borrow_and_update().writes, Status::Degraded);

    breaker.reset();
    assert_eq!(monitor.status(ServicePath::Writes), Status::Healthy);
}

#[tokio::test(start_paused = true)]
async fn the_path_comes_back_when_the_open_period_ends_so_a_trial_can_run() {
    // Every write is gated while degraded, so nothing would ever reach the breaker to move
    // it to half-open: the monitor itself must give the path back when the open period
    // ends, and say so.
    let (breaker, monitor, mut changes, _tasks) = write_breaker_opened();
    changes.changed().await.unwrap();
    assert_eq!(changes.borrow_and_update().writes, Status::Degraded);
    let opened = tokio::time::Instant::now();

    // No call, no probe: only time passes.
    changes.changed().await.unwrap();
    assert_eq!(changes.borrow_and_update().writes, Status::Healthy);
    assert_eq!(opened.elapsed(), Duration::from_secs(5));
    assert_eq!(
        breaker.state(),
        State::Open,
        "still open until a call tries it"
    );

    // The next call is the trial; its failure re-opens the breaker and degrades again.
    let trial = breaker.try_acquire().unwrap();
    assert!(trial.is_trial());
    trial.record(crate::breaker::Outcome::Failure);
    changes.changed().await.unwrap();
    assert_eq!(changes.borrow_and_update().writes, Status::Degraded);
    assert_eq!(monitor.status(ServicePath::Writes), Status::Degraded);
}

#[tokio::test(start_paused = true)]
async fn operators_can_force_either_state() {
    let flaky = flaky();
    flaky.failing.store(true, Ordering::SeqCst);
    let monitor = write_probe(HealthMonitor::builder(), &flaky)
        .unhealthy_after(1)
        .build();
    let _tasks = monitor.start();
    until_runs(&flaky, 1).await;
    assert_eq!(monitor.status(ServicePath::Writes), Status::Degraded);
    monitor.force(ServicePath::Writes, Some(Status::Healthy));
    assert_eq!(monitor.status(ServicePath::Writes), Status::Healthy);
    monitor.force(ServicePath::Reads, Some(Status::Degraded));
    assert_eq!(
        monitor.health(),
        Health {
            reads: Status::Degraded,
            writes: Status::Healthy
        }
    );
    monitor.force(ServicePath::Writes, None);
    monitor.force(ServicePath::Reads, None);
    assert_eq!(
        monitor.health(),
        Health {
            reads: Status::Healthy,
            writes: Status::Degraded
        }
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_tasks_stops_the_probes() {
    let flaky = flaky();
    let monitor = write_probe(HealthMonitor::builder(), &flaky).build();
    let tasks = monitor.start();
    until_runs(&flaky, 2).await;
    drop(tasks);
    let runs = flaky.runs.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(flaky.runs.load(Ordering::SeqCst), runs);
}

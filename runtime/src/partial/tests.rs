//! `Sources::settle` on tokio's paused clock: every mix of success, failure and timeout
//! per criticality.

use std::time::Duration;

use super::*;
use crate::breaker::{CircuitBreaker, State};

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Answers,
    Fails,
    Hangs,
}

const ALL: [Behaviour; 3] = [Behaviour::Answers, Behaviour::Fails, Behaviour::Hangs];

fn source<'a>(
    kind: Criticality,
    label: &'static str,
    behaviour: Behaviour,
    value: u32,
) -> Source<'a, u32> {
    let future = async move {
        match behaviour {
            Behaviour::Answers => Ok(value),
            Behaviour::Fails => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "10.1.2.3:9000 refused; token=s3cr3t",
            )),
            Behaviour::Hangs => std::future::pending().await,
        }
    };
    let source = match kind {
        Criticality::Critical => Source::critical(label, future),
        Criticality::Optional => Source::optional(label, future),
        Criticality::Cache => Source::cache(label, future),
    };
    source.timeout(Duration::from_secs(1))
}

#[tokio::test(start_paused = true)]
async fn every_mix_of_outcomes_per_criticality() {
    for critical in ALL {
        for optional in ALL {
            for cache in ALL {
                let case = format!("critical {critical:?}, optional {optional:?}, cache {cache:?}");
                let started = tokio::time::Instant::now();
                let mut sources = Sources::new();
                let a = sources.add(source(Criticality::Critical, "Notes", critical, 1));
                let b = sources.add(source(Criticality::Optional, "Statistics", optional, 2));
                let c = sources.add(source(Criticality::Cache, "Recent", cache, 3));
                let settled = sources.settle().await;
                // Concurrent, each bounded by its own deadline: never more than one.
                assert!(started.elapsed() <= Duration::from_secs(1), "{case}");

                let Behaviour::Answers = critical else {
                    let error = settled.expect_err(&case);
                    let expected = match critical {
                        Behaviour::Hangs => ErrorCategory::Timeout,
                        _ => ErrorCategory::Unavailable,
                    };
                    assert_eq!(error.category(), expected, "{case}");
                    continue;
                };
                let mut settled = settled.expect(&case);
                assert_eq!(settled.take(a), Some(1), "{case}");
                let expect_b = matches!(optional, Behaviour::Answers).then_some(2);
                let expect_c = matches!(cache, Behaviour::Answers).then_some(3);
                assert_eq!(settled.take(b), expect_b, "{case}");
                assert_eq!(settled.take(c), expect_c, "{case}");
                // Only the optional source can produce a warning: the cache is silent.
                let warnings: Vec<_> = settled
                    .warnings()
                    .iter()
                    .map(|w| w.message.as_str())
                    .collect();
                let expected: &[&str] = match optional {
                    Behaviour::Answers => &[],
                    Behaviour::Fails => &["Statistics temporarily unavailable"],
                    Behaviour::Hangs => &["Statistics did not answer in time"],
                };
                assert_eq!(warnings, expected, "{case}");
                assert_eq!(settled.is_complete(), expected.is_empty(), "{case}");
                for warning in settled.warnings() {
                    assert!(!warning.message.contains("10.1.2.3"), "{case}");
                    assert!(!warning.message.contains("s3cr3t"), "{case}");
                }
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn one_critical_source_left_is_enough() {
    let mut sources = Sources::new();
    let primary = sources.add(source(
        Criticality::Critical,
        "Primary",
        Behaviour::Fails,
        1,
    ));
    let replica = sources.add(source(
        Criticality::Critical,
        "Replica",
        Behaviour::Answers,
        2,
    ));
    let mut settled = sources.settle().await.unwrap();
    assert_eq!(settled.take(primary), None);
    assert_eq!(settled.take(replica), Some(2));
    let warning = &settled.warnings()[0];
    assert_eq!(warning.source, "Primary");
    assert_eq!(warning.criticality, Criticality::Critical);
    assert_eq!(warning.reason, WarningReason::Unavailable);
}

#[tokio::test(start_paused = true)]
async fn without_critical_sources_it_always_answers() {
    let mut sources = Sources::new();
    let only = sources.add(source(
        Criticality::Optional,
        "Statistics",
        Behaviour::Hangs,
        1,
    ));
    let mut settled = sources.settle().await.unwrap();
    assert_eq!(settled.take(only), None);
    let partial = settled.into_partial(());
    assert_eq!(partial.warnings.len(), 1);
    assert_eq!(partial.warnings[0].reason, WarningReason::Timeout);
}

#[tokio::test(start_paused = true)]
async fn a_source_behind_an_open_breaker_is_not_called() {
    let breaker = CircuitBreaker::builder("stats").build();
    breaker.isolate();
    let called = std::sync::atomic::AtomicBool::new(false);
    let mut sources = Sources::new();
    let stats = sources.add(
        Source::optional("Statistics", async {
            called.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, ToolError>(7)
        })
        .dependency(&breaker),
    );
    let mut settled = sources.settle().await.unwrap();
    assert_eq!(settled.take(stats), None);
    assert!(!called.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(
        settled.warnings()[0].message,
        "Statistics temporarily unavailable"
    );
    assert_eq!(breaker.state(), State::Isolated);
}

#[test]
fn the_schema_and_the_text_carry_the_warnings() {
    #[derive(Serialize, JsonSchema)]
    struct Overview {
        notes: u32,
    }
    let schema = schemars::schema_for!(Partial<Overview>);
    let schema = schema.as_value();
    assert_eq!(schema["type"], "object");
    assert!(schema["properties"]["notes"].is_object(), "{schema}");
    assert!(schema["properties"]["warnings"].is_object(), "{schema}");

    let answer = Partial {
        value: Overview { notes: 2 },
        warnings: vec![Warning::new(
            "Statistics".into(),
            Criticality::Optional,
            &ToolError::timeout(std::io::Error::other("slow")),
        )],
    };
    let value = serde_json::to_value(&answer).unwrap();
    assert_eq!(value["notes"], 2);
    assert_eq!(
        warnings_text(&value).as_deref(),
        Some("Partial result. Warnings: Statistics did not answer in time.")
    );
    let complete = serde_json::json!({"notes": 2, "warnings": []});
    assert_eq!(warnings_text(&complete), None);
}

#[test]
fn a_partial_is_known_by_its_type() {
    #[derive(Serialize, JsonSchema)]
    struct Count {
        notes: u32,
    }
    /// The user's own type of the same name and shape.
    #[derive(Serialize, JsonSchema)]
    #[allow(dead_code)]
    struct Partial {
        notes: u32,
        warnings: Vec<Warning>,
    }
    type Answer = super::Partial<Count>;
    assert!(is_partial::<super::Partial<Count>>());
    assert!(is_partial::<Answer>());
    assert!(is_partial::<super::Partial<super::Partial<Count>>>());
    assert!(!is_partial::<Count>());
    assert!(!is_partial::<Partial>());
}

use std::time::Duration;

use super::*;
use crate::sanitize::ToolError;

fn counts(pairs: impl Iterator<Item = (&'static str, u64)>) -> Vec<(&'static str, u64)> {
    pairs.filter(|(_, n)| *n > 0).collect()
}

#[test]
fn each_verdict_is_counted_under_its_outcome_and_breakdown() {
    let metrics = CallMetrics::default();
    let error = ToolError::unavailable("the store is down");
    let ms = Duration::from_millis(1);
    metrics.record(&Verdict::Ok, ms);
    metrics.record(&Verdict::Ok, ms);
    metrics.record(&Verdict::Denied(&DenialCause::Anonymous), ms);
    metrics.record(&Verdict::Denied(&DenialCause::PolicyError("x".into())), ms);
    metrics.record(&Verdict::InvalidArguments, ms);
    metrics.record(&Verdict::Failed(&error), ms);
    metrics.record(&Verdict::Panicked("boom"), ms);
    metrics.record(&Verdict::Degraded, ms);
    metrics.record(&Verdict::NotConfirmed("declined"), ms);
    metrics.record(&Verdict::ConfirmationAsked, ms);
    metrics.record(&Verdict::RateLimited("server"), ms);
    metrics.record(&Verdict::RateLimited("tool"), ms);
    metrics.record(&Verdict::RateLimited("server"), ms);

    assert_eq!(
        counts(metrics.outcomes()),
        [
            ("ok", 2),
            ("denied", 2),
            ("invalid_arguments", 1),
            ("error", 1),
            ("panic", 1),
            ("degraded", 1),
            ("not_confirmed", 1),
            ("confirmation_asked", 1),
            ("rate_limited", 3),
        ]
    );
    assert_eq!(counts(metrics.errors()), [("unavailable", 1)]);
    assert_eq!(
        counts(metrics.denials()),
        [("anonymous", 1), ("policy_error", 1)]
    );
    assert_eq!(counts(metrics.limited()), [("tool", 1), ("server", 2)]);
}

#[test]
fn every_category_and_cause_has_its_own_counter() {
    for (i, category) in CATEGORIES.iter().enumerate() {
        assert_eq!(category_index(*category), i, "{category:?}");
    }
    let causes = [
        DenialCause::Anonymous,
        DenialCause::Denied,
        DenialCause::Abstained,
        DenialCause::PolicyError(String::new()),
        DenialCause::DeadlineExceeded(Duration::ZERO),
        DenialCause::PolicyPanicked(String::new()),
        DenialCause::LateAnswer {
            deadline: Duration::ZERO,
            elapsed: Duration::ZERO,
        },
        DenialCause::EmptyRequirement,
        DenialCause::RequestState(String::new()),
        DenialCause::InsufficientScope(Vec::new()),
        DenialCause::Cedar(String::new()),
    ];
    let labels: Vec<_> = causes.iter().map(|c| CAUSES[cause_index(c)]).collect();
    assert_eq!(labels, CAUSES);
}

#[test]
fn latencies_fall_in_the_bucket_whose_bound_they_do_not_exceed() {
    let metrics = CallMetrics::default();
    for micros in [
        0,
        1_000,
        1_001,
        59_999_999,
        60_000_000,
        60_000_001,
        3_600_000_000,
    ] {
        metrics.record(&Verdict::Ok, Duration::from_micros(micros));
    }
    let (sum, count, buckets) = metrics.latency();
    assert_eq!(count, 7);
    assert!((sum - 3_780.002_001).abs() < 1e-6, "{sum}");
    let at = |bound: f64| buckets.iter().find(|(b, _)| *b == bound).unwrap().1;
    assert_eq!(at(0.001), 2, "0 and exactly 1 ms");
    assert_eq!(at(0.0025), 1, "just over 1 ms");
    assert_eq!(at(60.0), 2, "just under and exactly 60 s");
    assert_eq!(at(f64::INFINITY), 2, "over 60 s");
    assert_eq!(buckets.len(), BOUNDS_MICROS.len() + 1);
}

#[test]
fn the_switch_is_off_until_turned_on() {
    let switch = Switch::default();
    assert!(!switch.on());
    switch.turn_on();
    assert!(switch.on());
}

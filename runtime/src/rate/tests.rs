use std::time::Duration;

use super::*;

#[test]
fn rates_are_read_in_every_written_form() {
    for (text, rate) in [
        ("30/min", Rate::per_minute(30)),
        ("30/m", Rate::per_minute(30)),
        ("30/minute", Rate::per_minute(30)),
        (" 30 / min ", Rate::per_minute(30)),
        ("5/s", Rate::per_second(5)),
        ("5/sec", Rate::per_second(5)),
        ("5/second", Rate::per_second(5)),
        ("1000/h", Rate::per_hour(1000)),
        ("1000/hour", Rate::per_hour(1000)),
        ("5/s burst 20", Rate::per_second(5).with_burst(20)),
        ("30/min burst 1", Rate::per_minute(30).with_burst(1)),
        ("1000000/s", Rate::per_second(1_000_000)),
    ] {
        assert_eq!(text.parse::<Rate>(), Ok(rate), "{text}");
        // What a rate shows reads back as the same rate.
        assert_eq!(rate.to_string().parse::<Rate>(), Ok(rate), "{text}");
    }
}

#[test]
fn malformed_rates_are_refused_with_why() {
    for (text, error) in [
        ("", RateError::NoCount),
        ("min", RateError::NoCount),
        ("/min", RateError::NoCount),
        ("30", RateError::NoCount),
        ("30 min", RateError::NoCount),
        ("-1/min", RateError::NoCount),
        ("0/min", RateError::Zero),
        ("30/min burst 0", RateError::Zero),
        ("1000001/s", RateError::TooLarge),
        ("99999999999999999999/s", RateError::TooLarge),
        ("5/s burst 1000001", RateError::TooLarge),
        ("30/", RateError::Unit),
        ("30/fortnight", RateError::Unit),
        ("30/MIN", RateError::Unit),
        ("30/mins", RateError::Unit),
        ("30/min,", RateError::Trailing),
        ("30/min burst", RateError::Trailing),
        ("30/min burst x", RateError::Trailing),
        ("30/min burst10", RateError::Trailing),
        ("30/min burst 10 more", RateError::Trailing),
        ("30/min bursts 10", RateError::Trailing),
        // Another word of the same length, and the word cut short at the end.
        ("30/min brust 10", RateError::Trailing),
        ("30/min burs", RateError::Trailing),
        ("30/min b", RateError::Trailing),
    ] {
        assert_eq!(Rate::parse(text), Err(error), "{text:?}");
    }
}

#[test]
fn a_rate_shows_its_burst_only_when_it_has_its_own() {
    assert_eq!(Rate::per_minute(30).to_string(), "30/min");
    assert_eq!(Rate::per_minute(30).with_burst(30).to_string(), "30/min");
    assert_eq!(
        Rate::per_second(5).with_burst(20).to_string(),
        "5/s burst 20"
    );
    assert_eq!(format!("{:?}", Rate::per_hour(2)), "Rate(2/h)");
    // Without a burst of its own, a rate lets its calls of a period through at once.
    let rate = Rate::per_minute(30);
    assert_eq!((rate.calls(), rate.burst()), (30, 30));
    let rate = Rate::per_second(5).with_burst(20);
    assert_eq!((rate.calls(), rate.burst()), (5, 20));
    assert_eq!(Rate::per_minute(30).interval(), Duration::from_secs(2));
    assert_eq!(Rate::per_second(4).interval(), Duration::from_millis(250));
    assert_eq!(Rate::per_minute(30).period(), Duration::from_secs(60));
}

#[test]
#[should_panic(expected = "a rate of zero calls")]
fn a_rate_of_zero_calls_is_refused() {
    let _ = Rate::per_second(0);
}

#[test]
#[should_panic(expected = "at most 1000000 calls")]
fn a_burst_over_the_largest_is_refused() {
    let _ = Rate::per_second(1).with_burst(MAX_CALLS + 1);
}

/// A burst of `burst` calls, then one more each interval; the refusal says how long to
/// wait, and waiting that long is enough.
#[tokio::test(start_paused = true)]
async fn a_caller_gets_its_burst_then_one_call_each_interval() {
    let limiter = Limiter::new(Rate::per_minute(30).with_burst(3), "notes");
    let ada = Principal::new("ada");
    for call in 0..3 {
        assert_eq!(limiter.check(&ada), Ok(()), "call {call} of the burst");
    }
    let limited = limiter.check(&ada).unwrap_err();
    assert_eq!(limited.retry_after, Duration::from_secs(2));

    tokio::time::advance(Duration::from_millis(1_999)).await;
    let limited = limiter.check(&ada).unwrap_err();
    assert_eq!(limited.retry_after, Duration::from_millis(1));
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(limiter.check(&ada), Ok(()));
    assert!(limiter.check(&ada).is_err(), "one call back per interval");

    // A full bucket again after burst × interval.
    tokio::time::advance(Duration::from_secs(6)).await;
    for call in 0..3 {
        assert_eq!(limiter.check(&ada), Ok(()), "call {call} of the new burst");
    }
    assert!(limiter.check(&ada).is_err());
}

#[tokio::test(start_paused = true)]
async fn callers_are_told_apart_by_subject_and_anonymous_callers_share_one_bucket() {
    let limiter = Limiter::new(Rate::per_hour(2), "notes");
    let ada = Principal::new("ada").with_scopes(["notes:read"]);
    let ada_writing = Principal::new("ada").with_scopes(["notes:write"]);
    let bob = Principal::new("bob");
    assert_eq!(limiter.check(&ada), Ok(()));
    assert_eq!(limiter.check(&ada_writing), Ok(()));
    assert!(
        limiter.check(&ada).is_err(),
        "other scopes, the same caller"
    );
    assert_eq!(limiter.check(&bob), Ok(()), "bob has his own bucket");

    let anonymous = Principal::anonymous();
    assert_eq!(limiter.check(&anonymous), Ok(()));
    assert_eq!(limiter.check(&Principal::anonymous()), Ok(()));
    assert!(
        limiter.check(&Principal::anonymous()).is_err(),
        "every anonymous caller takes from one bucket"
    );
    assert_eq!(limiter.rate(), Rate::per_hour(2));
}

/// Many callers, each with a bucket of its own: no caller ever takes from another's, however
/// their subjects hash (a table of a thousand has subjects whose hashes share bits).
#[tokio::test(start_paused = true)]
async fn a_thousand_callers_each_have_a_bucket_of_their_own() {
    let limiter = Limiter::new(Rate::per_hour(1), "notes");
    let callers: Vec<_> = (0..1_000)
        .map(|n| Principal::new(format!("caller-{n}")))
        .collect();
    for caller in &callers {
        assert_eq!(
            limiter.check(caller),
            Ok(()),
            "{}",
            caller.subject().unwrap()
        );
    }
    for caller in &callers {
        assert!(
            limiter.check(caller).is_err(),
            "{}",
            caller.subject().unwrap()
        );
    }
    assert_eq!(limiter.buckets.table.lock().unwrap().times.len(), 1_000);
}

/// A caller hashes as its subject, the same whatever its scopes: callers spread over the
/// table (all hashed alike, a full table would be one long chain searched under its lock).
#[test]
fn a_caller_hashes_as_its_subject() {
    fn hash_of(value: impl Hash) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }
    let ada = hash_of(Caller(Principal::new("ada").with_scopes(["notes:read"])));
    assert_eq!(ada, hash_of(Some("ada")));
    let ada_writing = Principal::new("ada").with_scopes(["notes:write"]);
    assert_eq!(ada, hash_of(Caller(ada_writing)));
    assert_ne!(ada, hash_of(Caller(Principal::new("bob"))));
}

/// The table of buckets is bounded: callers whose buckets refilled are forgotten when room
/// is needed; while every tracked caller is still limited, a new caller is refused until
/// the earliest bucket refills, and told how long that is.
#[tokio::test(start_paused = true)]
async fn the_callers_tracked_are_bounded_and_a_full_table_refuses_new_callers() {
    let log = crate::test_log::Log::default();
    let _default = crate::test_log::set_default(log.subscriber());
    let warnings = || {
        log.text()
            .matches("every tracked caller is being limited")
            .count()
    };
    let tracked = |limiter: &Limiter| limiter.buckets.table.lock().unwrap().times.len();
    let limiter = Limiter::with_capacity(Rate::per_second(1), "notes", 2);
    assert_eq!(limiter.check(&Principal::new("a")), Ok(()));
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(limiter.check(&Principal::new("b")), Ok(()));
    tokio::time::advance(Duration::from_millis(100)).await;
    // a's bucket refills at 1 s, b's at 1.5 s: a new caller may come in at 1 s.
    let refused = limiter.check(&Principal::new("c")).unwrap_err();
    assert_eq!(refused.retry_after, Duration::from_millis(400));
    // A tracked caller is still served from its own bucket, and does not reset the warning.
    assert_eq!(
        limiter.check(&Principal::new("a")).unwrap_err().retry_after,
        Duration::from_millis(400)
    );
    let refused = limiter.check(&Principal::new("d")).unwrap_err();
    assert_eq!(refused.retry_after, Duration::from_millis(400));
    assert_eq!(warnings(), 1, "one warning while the table stays full");
    assert!(log.text().contains("limit=notes"), "{}", log.text());
    assert_eq!(tracked(&limiter), 2);

    // At 1 s, a is forgotten and c takes its place; d waits for b's bucket.
    tokio::time::advance(Duration::from_millis(400)).await;
    assert_eq!(limiter.check(&Principal::new("c")), Ok(()));
    assert_eq!(tracked(&limiter), 2);
    let refused = limiter.check(&Principal::new("d")).unwrap_err();
    assert_eq!(refused.retry_after, Duration::from_millis(500));
    assert_eq!(warnings(), 2, "told again once the table had had room");
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(limiter.check(&Principal::new("d")), Ok(()));
}

/// While the table has room, nobody is forgotten, not even a caller whose bucket refilled:
/// the table is swept only when it is full.
#[tokio::test(start_paused = true)]
async fn the_table_is_swept_only_when_full() {
    let limiter = Limiter::with_capacity(Rate::per_second(1), "notes", 3);
    assert_eq!(limiter.check(&Principal::new("a")), Ok(()));
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(limiter.check(&Principal::new("b")), Ok(()));
    assert_eq!(limiter.buckets.table.lock().unwrap().times.len(), 2);
}

/// A caller let in once the full table reopens is tracked like any other: its next call
/// comes from its own bucket, and is refused when that is empty.
#[tokio::test(start_paused = true)]
async fn a_caller_let_in_when_the_table_reopens_is_tracked() {
    let limiter = Limiter::with_capacity(Rate::per_second(1), "notes", 2);
    assert_eq!(limiter.check(&Principal::new("a")), Ok(()));
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(limiter.check(&Principal::new("b")), Ok(()));
    tokio::time::advance(Duration::from_millis(100)).await;
    assert!(
        limiter.check(&Principal::new("c")).is_err(),
        "full until 1 s"
    );
    // Past the reopening, with no call in between.
    tokio::time::advance(Duration::from_millis(600)).await;
    assert_eq!(limiter.check(&Principal::new("c")), Ok(()));
    assert_eq!(
        limiter.check(&Principal::new("c")).unwrap_err().retry_after,
        Duration::from_secs(1),
        "c's own bucket"
    );
}

#[test]
fn a_limiter_shows_what_it_limits() {
    let limiter = Limiter::new(Rate::per_minute(30), "create_note");
    assert_eq!(
        format!("{limiter:?}"),
        "Limiter { of: \"create_note\", rate: Rate(30/min), .. }"
    );
}

//! Policies decide fail-closed: only an explicit, timely allow lets a call through.

use std::sync::Arc;
use std::time::Duration;

use super::*;

/// A custom policy that answers at once with what it holds.
pub(crate) struct Answer(pub(crate) Result<Decision, &'static str>);
impl Authorize for Answer {
    fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
        let answer = self.0.map_err(PolicyError::from);
        Box::pin(async move { answer })
    }
}
struct Hang;
impl Authorize for Hang {
    fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
        Box::pin(std::future::pending())
    }
}
struct Panics {
    early: bool,
}
impl Authorize for Panics {
    fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
        assert!(!self.early, "early policy panic");
        Box::pin(async { panic!("late policy panic") })
    }
}

fn alice() -> Principal {
    Principal::new("alice")
        .with_scopes(["notes:read", "notes:write"])
        .with_roles(["editor"])
}

async fn decide(policy: Policy, principal: &Principal) -> Result<(), DenialCause> {
    policy
        .evaluate(
            AccessRequest::new("t", Mode::Read, principal),
            Duration::from_millis(50),
        )
        .await
}

#[tokio::test(start_paused = true)]
async fn only_an_explicit_allow_runs() {
    let p = alice();
    assert_eq!(
        decide(custom(Answer(Ok(Decision::Allow))), &p).await,
        Ok(())
    );
    assert_eq!(
        decide(custom(Answer(Ok(Decision::Deny))), &p).await,
        Err(DenialCause::Denied)
    );
    assert_eq!(
        decide(custom(Answer(Ok(Decision::Abstain))), &p).await,
        Err(DenialCause::Abstained)
    );
    assert_eq!(
        decide(custom(Answer(Err("ldap down"))), &p).await,
        Err(DenialCause::PolicyError("ldap down".into()))
    );
    assert_eq!(
        decide(custom(Hang), &p).await,
        Err(DenialCause::DeadlineExceeded(Duration::from_millis(50)))
    );
    assert_eq!(
        decide(custom(Panics { early: true }), &p).await,
        Err(DenialCause::PolicyPanicked("early policy panic".into()))
    );
    assert_eq!(
        decide(custom(Panics { early: false }), &p).await,
        Err(DenialCause::PolicyPanicked("late policy panic".into()))
    );
}

#[tokio::test]
async fn anonymous_callers_need_public() {
    let anon = Principal::anonymous();
    assert_eq!(decide(public(), &anon).await, Ok(()));
    for policy in [
        authenticated(),
        scopes("notes:read"),
        roles("editor"),
        custom(Answer(Ok(Decision::Allow))),
        all_of([]),
        any_of([scopes("x"), custom(Answer(Ok(Decision::Allow)))]),
    ] {
        assert_eq!(
            decide(policy.clone(), &anon).await,
            Err(DenialCause::Anonymous),
            "{policy}"
        );
    }
    assert_eq!(decide(any_of([scopes("x"), public()]), &anon).await, Ok(()));
}

#[tokio::test]
async fn combinators() {
    let p = alice();
    assert_eq!(
        decide(scopes(["notes:read", "notes:write"]), &p).await,
        Ok(())
    );
    assert!(decide(scopes(["notes:read", "admin"]), &p).await.is_err());
    assert_eq!(decide(roles("editor"), &p).await, Ok(()));
    assert!(decide(roles("admin"), &p).await.is_err());
    assert_eq!(
        decide(all_of([scopes("notes:read"), roles("editor")]), &p).await,
        Ok(())
    );
    assert!(
        decide(all_of([scopes("notes:read"), roles("admin")]), &p)
            .await
            .is_err()
    );
    assert!(decide(all_of([]), &p).await.is_err());
    assert!(decide(any_of([]), &p).await.is_err());
    assert_eq!(
        decide(any_of([roles("admin"), roles("editor")]), &p).await,
        Ok(())
    );
    // A custom part that fails inside a combinator still denies.
    assert!(
        decide(
            all_of([scopes("notes:read"), custom(Answer(Err("boom")))]),
            &p
        )
        .await
        .is_err()
    );
    assert_eq!(
        decide(any_of([custom(Answer(Err("boom"))), roles("editor")]), &p).await,
        Ok(())
    );
}

#[test]
fn describes_itself() {
    let policy = any_of([all_of([scopes(["b", "a"]), roles("x")]), public()]);
    assert_eq!(
        policy.to_string(),
        "any of (all of (scopes: a, b; roles: x); public)"
    );
}

/// Where a policy holds its thread (a synchronous LDAP or HTTP client) before it answers.
#[derive(Clone, Copy, Debug)]
pub(super) enum Block {
    /// In `authorize()` itself, before it returns a future.
    InAuthorize,
    /// Inside the returned future, on its first poll.
    InFuture,
    /// Inside the returned future, after a yield (the deadline's timer is registered by
    /// then, and still cannot fire while the thread is held).
    AfterYield,
}

/// A policy that holds its thread for `duration` at `at`, then answers `answer`.
pub(super) struct Blocks {
    pub(super) at: Block,
    pub(super) duration: Duration,
    pub(super) answer: Decision,
    /// How many times it was asked.
    pub(super) asked: Arc<std::sync::atomic::AtomicUsize>,
}

impl Blocks {
    pub(super) fn new(at: Block, duration: Duration, answer: Decision) -> Self {
        Self {
            at,
            duration,
            answer,
            asked: Arc::default(),
        }
    }
}

impl Authorize for Blocks {
    fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Block::InAuthorize = self.at {
            hold(self.duration);
        }
        Box::pin(async move {
            match self.at {
                Block::InAuthorize => {}
                Block::InFuture => hold(self.duration),
                Block::AfterYield => {
                    tokio::task::yield_now().await;
                    hold(self.duration);
                }
            }
            Ok(self.answer)
        })
    }
}

/// Holds the thread: under paused time, moves the clock without yielding.
#[cfg(feature = "testing")]
fn hold(duration: Duration) {
    crate::testing::block_thread(duration);
}

/// Without the `testing` feature, only the real-time test below uses `Blocks`.
#[cfg(not(feature = "testing"))]
fn hold(duration: Duration) {
    std::thread::sleep(duration);
}

const DEADLINE: Duration = Duration::from_millis(50);
const BLOCKED: Duration = Duration::from_millis(150);

fn late() -> Result<(), DenialCause> {
    Err(DenialCause::LateAnswer {
        deadline: DEADLINE,
        elapsed: BLOCKED,
    })
}

#[cfg(feature = "testing")]
#[tokio::test(start_paused = true)]
async fn an_allow_after_a_blocked_thread_is_late_wherever_it_blocked() {
    let p = alice();
    for at in [Block::InAuthorize, Block::InFuture, Block::AfterYield] {
        let blocked = custom(Blocks::new(at, BLOCKED, Decision::Allow));
        assert_eq!(decide(blocked, &p).await, late(), "{at:?}");
        // The same policy, blocking for less than its deadline, is let in: the denial is
        // the clock's doing, not the blocking's.
        let quick = custom(Blocks::new(at, DEADLINE / 2, Decision::Allow));
        assert_eq!(decide(quick, &p).await, Ok(()), "{at:?}");
    }
}

#[cfg(feature = "testing")]
#[tokio::test(start_paused = true)]
async fn a_late_answer_nested_in_a_combinator_denies() {
    let p = alice();
    for at in [Block::InAuthorize, Block::InFuture, Block::AfterYield] {
        let allow = || custom(Blocks::new(at, BLOCKED, Decision::Allow));
        assert_eq!(
            decide(all_of([scopes("notes:read"), allow()]), &p).await,
            late(),
            "{at:?}"
        );
        assert_eq!(
            decide(any_of([roles("admin"), allow()]), &p).await,
            late(),
            "{at:?}"
        );
        assert_eq!(
            decide(any_of([all_of([allow(), roles("editor")])]), &p).await,
            late(),
            "{at:?}"
        );
        // A part that blocked and then denied: the built-in part after it would allow,
        // but only after the deadline.
        let deny = custom(Blocks::new(at, BLOCKED, Decision::Deny));
        assert_eq!(
            decide(any_of([deny, roles("editor")]), &p).await,
            late(),
            "{at:?}"
        );
    }
}

#[cfg(feature = "testing")]
#[tokio::test(start_paused = true)]
async fn once_the_deadline_has_passed_no_further_part_is_asked() {
    let p = alice();
    let next = Blocks::new(Block::InFuture, Duration::ZERO, Decision::Allow);
    let asked = next.asked.clone();
    let first = custom(Blocks::new(Block::InFuture, BLOCKED, Decision::Allow));
    assert_eq!(decide(all_of([first, custom(next)]), &p).await, late());
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 0);

    let next = Blocks::new(Block::InFuture, Duration::ZERO, Decision::Allow);
    let asked = next.asked.clone();
    let first = custom(Blocks::new(Block::InFuture, BLOCKED, Decision::Deny));
    assert_eq!(decide(any_of([first, custom(next)]), &p).await, late());
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// The fault itself, without a simulated clock: a real `std::thread::sleep` in a policy,
/// on a runtime in real time.
#[tokio::test]
async fn a_policy_that_really_sleeps_its_thread_is_late() {
    struct Sleeps;
    impl Authorize for Sleeps {
        fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
            std::thread::sleep(BLOCKED);
            Box::pin(async { Ok(Decision::Allow) })
        }
    }
    match decide(custom(Sleeps), &alice()).await {
        Err(DenialCause::LateAnswer { deadline, elapsed }) => {
            assert_eq!(deadline, DEADLINE);
            assert!(elapsed >= BLOCKED, "{elapsed:?}");
        }
        other => panic!("a late allow was not denied as late: {other:?}"),
    }
}

#[test]
fn a_late_answer_says_so_in_the_log() {
    let cause = late().unwrap_err();
    assert_eq!(
        cause.to_string(),
        "late answer: the policy answered after 150 ms, past its deadline of 50 ms \
         (a policy that blocks its thread keeps the deadline's timer from firing)"
    );
}

/// Every way to write a requirement that no caller meets.
pub(super) fn empty_requirements() -> Vec<(Policy, &'static str)> {
    let none: Vec<String> = Vec::new();
    vec![
        (scopes(none.clone()), "deny: empty scope list"),
        (roles(none), "deny: empty role list"),
        (scopes(Vec::<&str>::new()), "deny: empty scope list"),
        (scopes(""), "deny: blank scope name"),
        (scopes(String::new()), "deny: blank scope name"),
        (scopes([""]), "deny: blank scope name"),
        (scopes([" \t"]), "deny: blank scope name"),
        (scopes(["notes:read", ""]), "deny: blank scope name"),
        (roles(""), "deny: blank role name"),
        (roles(["editor", "  "]), "deny: blank role name"),
        (all_of([]), "deny: empty all_of list"),
        (any_of([]), "deny: empty any_of list"),
        (all_of(Vec::new()), "deny: empty all_of list"),
    ]
}

#[tokio::test(start_paused = true)]
async fn an_empty_requirement_denies_even_a_caller_who_holds_everything() {
    // A caller who holds every name, blank ones included (a token whose scope claim had
    // stray spaces).
    let holds_everything = Principal::new("root")
        .with_scopes(["", " \t", "notes:read", "notes:write"])
        .with_roles(["", "  ", "admin", "editor"]);
    for (policy, text) in empty_requirements() {
        assert_eq!(
            decide(policy.clone(), &holds_everything).await,
            Err(DenialCause::EmptyRequirement),
            "{policy}"
        );
        assert!(!policy.allows_locally(&holds_everything), "{policy}");
        assert_eq!(policy.to_string(), text);
        assert!(!policy.empty_requirements().is_empty(), "{policy}");
        // Nothing to advertise: no token can meet it.
        assert!(
            policy.scopes().is_empty(),
            "{policy}: {:?}",
            policy.scopes()
        );
        assert!(policy.roles().is_empty(), "{policy}: {:?}", policy.roles());
        // Anonymous callers are denied as before.
        assert_eq!(
            decide(policy.clone(), &Principal::anonymous()).await,
            Err(DenialCause::Anonymous)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_empty_requirement_nested_in_a_combinator_denies() {
    let p = alice();
    let none = || scopes(Vec::<String>::new());
    assert!(decide(all_of([authenticated(), none()]), &p).await.is_err());
    assert!(
        decide(all_of([roles("editor"), roles("")]), &p)
            .await
            .is_err()
    );
    assert!(decide(any_of([none(), roles("admin")]), &p).await.is_err());
    // Beside a part that allows, it changes nothing.
    assert_eq!(decide(any_of([none(), roles("editor")]), &p).await, Ok(()));
    let policy = any_of([none(), roles("editor"), all_of([])]);
    assert_eq!(
        policy.to_string(),
        "any of (deny: empty scope list; roles: editor; deny: empty all_of list)"
    );
    assert_eq!(
        policy.empty_requirements(),
        ["empty scope list", "empty all_of list"]
    );
    assert!(roles("editor").empty_requirements().is_empty());
    // A custom part beside it is still asked, and an empty part never allows.
    let with_custom = all_of([custom(Answer(Ok(Decision::Allow))), none()]);
    assert_eq!(
        decide(with_custom, &p).await,
        Err(DenialCause::EmptyRequirement)
    );
}

mod gaps;
mod public_writes;
mod session;

/// What a step-up challenge names: every scope of the requirement the caller would meet,
/// and nothing when scopes cannot help.
mod scope_challenge {
    use super::*;

    fn ada(scopes: &[&str], roles: &[&str]) -> Principal {
        Principal::new("ada")
            .with_scopes(scopes.iter().copied())
            .with_roles(roles.iter().copied())
    }

    fn challenge(policy: &Policy, principal: &Principal) -> Option<Vec<String>> {
        policy
            .scope_challenge(principal)
            .map(|scopes| scopes.into_iter().map(str::to_owned).collect())
    }

    #[test]
    fn a_missing_scope_is_named_with_every_other_of_the_requirement() {
        let policy = all_of([scopes("b"), scopes(["c", "a"])]);
        assert_eq!(
            challenge(&policy, &ada(&["a"], &[])),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(challenge(&policy, &ada(&["a", "b", "c"], &[])), None);
    }

    #[test]
    fn nothing_is_asked_of_an_anonymous_caller() {
        assert_eq!(challenge(&scopes("a"), &Principal::anonymous()), None);
        assert_eq!(
            challenge(&any_of([public(), scopes("a")]), &Principal::anonymous()),
            None
        );
    }

    #[test]
    fn roles_empty_requirements_and_custom_parts_are_no_scope_matter() {
        let nobody = ada(&[], &[]);
        assert_eq!(
            challenge(&all_of([roles("admin"), scopes("a")]), &nobody),
            None
        );
        assert_eq!(challenge(&scopes(Vec::<String>::new()), &nobody), None);
        assert_eq!(challenge(&all_of(Vec::<Policy>::new()), &nobody), None);
        assert_eq!(challenge(&any_of(Vec::<Policy>::new()), &nobody), None);
        let ask = custom(Answer(Ok(Decision::Allow)));
        assert_eq!(
            challenge(&all_of([scopes("a"), ask.clone()]), &nobody),
            None
        );
        assert_eq!(
            challenge(&any_of([scopes("a"), ask.clone()]), &nobody),
            None
        );
        assert_eq!(challenge(&ask, &nobody), None);
        // With the role, only the scope is missing.
        assert_eq!(
            challenge(
                &all_of([roles("admin"), scopes("a")]),
                &ada(&[], &["admin"])
            ),
            Some(vec!["a".into()])
        );
        assert_eq!(
            challenge(&all_of([authenticated(), scopes("a")]), &nobody),
            Some(vec!["a".into()])
        );
    }

    #[test]
    fn an_alternative_met_needs_nothing_and_otherwise_the_first_that_scopes_meet_is_named() {
        let policy = any_of([roles("admin"), scopes("b"), scopes("a")]);
        assert_eq!(challenge(&policy, &ada(&[], &["admin"])), None);
        assert_eq!(challenge(&policy, &ada(&[], &[])), Some(vec!["b".into()]));
        // An alternative met with scopes names them: a token asked for them keeps them.
        let policy = any_of([scopes("a"), all_of([roles("admin"), scopes("c")])]);
        assert_eq!(
            challenge(&all_of([policy, scopes("b")]), &ada(&["a"], &[])),
            Some(vec!["a".into(), "b".into()])
        );
        let policy = any_of([all_of([roles("ops"), scopes("x")]), scopes("y")]);
        assert_eq!(challenge(&policy, &ada(&[], &[])), Some(vec!["y".into()]));
        assert_eq!(
            challenge(&policy, &ada(&[], &["ops"])),
            Some(vec!["x".into()])
        );
    }
}

/// A custom policy given no deadline (`Duration::MAX`, past the clock's range) may take
/// its time: the timer is set thirty years away, as tokio sets it, not at once.
#[tokio::test(start_paused = true)]
async fn a_policy_without_a_deadline_may_answer_late() {
    struct AfterAnHour;
    impl Authorize for AfterAnHour {
        fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(Decision::Allow)
            })
        }
    }
    let p = alice();
    let verdict = custom(AfterAnHour)
        .evaluate(AccessRequest::new("t", Mode::Read, &p), Duration::MAX)
        .await;
    assert_eq!(verdict, Ok(()));
}

/// Built-in policies are decided at once, with neither a runtime nor a timer: their
/// futures are ready at the first poll outside any tokio runtime. A custom part must be
/// asked, unless the caller is anonymous and the policy cannot let one in whatever it
/// answers.
#[test]
fn built_in_policies_are_decided_at_once_and_custom_ones_are_asked() {
    let ada = alice();
    let nobody = Principal::anonymous();
    let ask = |p| AccessRequest::new("t", Mode::Read, p);
    let built_in = [
        (scopes("x"), Err(DenialCause::Denied)),
        (
            all_of([authenticated(), roles("r")]),
            Err(DenialCause::Denied),
        ),
        (any_of([public(), scopes("x")]), Ok(())),
        (authenticated(), Ok(())),
    ];
    for (policy, expected) in built_in {
        assert_eq!(policy.decide_now(ask(&ada)), Some(expected.clone()));
        // Polled once, outside a runtime: a timer would panic.
        let decided = futures::FutureExt::now_or_never(policy.evaluate(ask(&ada), Duration::MAX));
        assert_eq!(decided, Some(expected));
    }
    let custom_part = any_of([scopes("x"), custom(Answer(Ok(Decision::Allow)))]);
    assert_eq!(custom_part.decide_now(ask(&ada)), None);
    assert_eq!(
        custom_part.decide_now(ask(&nobody)),
        Some(Err(DenialCause::Anonymous))
    );
    // A policy that may let the anonymous caller in is decided by asking.
    assert_eq!(
        any_of([public(), custom(Answer(Ok(Decision::Allow)))]).decide_now(ask(&nobody)),
        None
    );
}

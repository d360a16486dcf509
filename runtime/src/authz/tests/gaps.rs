//! What a mutation run found untested: custom parts decided inside `all_of` / `any_of`,
//! an anonymous caller on a combinator with a custom part, and the plain answers other
//! modules rely on (`allows_locally`, `Decision::is_allow`, `Principal::subject`, the
//! texts of principals and denial causes, the names a policy lists).

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A custom part that answers `decision` and counts how often it was asked.
#[derive(Clone)]
struct Counted(Decision, Arc<AtomicUsize>);

impl Authorize for Counted {
    fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
        self.1.fetch_add(1, Ordering::SeqCst);
        let decision = self.0;
        Box::pin(async move { Ok(decision) })
    }
}

fn counted(decision: Decision) -> (Policy, Arc<AtomicUsize>) {
    let asked = Arc::new(AtomicUsize::new(0));
    (custom(Counted(decision, asked.clone())), asked)
}

async fn decide(policy: &Policy, principal: &Principal) -> Result<(), DenialCause> {
    let request = AccessRequest::new("tool", Mode::Read, principal);
    policy.evaluate(request, Duration::from_secs(2)).await
}

fn ada() -> Principal {
    Principal::new("ada").with_scopes(["notes:read"])
}

#[tokio::test]
async fn only_the_custom_part_of_an_any_of_lets_the_caller_in() {
    let (allow, asked) = counted(Decision::Allow);
    let policy = any_of([scopes("notes:write"), allow]);
    assert_eq!(decide(&policy, &ada()).await, Ok(()));
    assert_eq!(asked.load(Ordering::SeqCst), 1);

    let (deny, _) = counted(Decision::Deny);
    let policy = any_of([scopes("notes:write"), deny]);
    assert_eq!(decide(&policy, &ada()).await, Err(DenialCause::Denied));

    let (deny, _) = counted(Decision::Deny);
    let (allow, _) = counted(Decision::Allow);
    assert_eq!(decide(&any_of([deny, allow]), &ada()).await, Ok(()));
}

#[tokio::test]
async fn an_all_of_needs_its_custom_part_to_allow_too() {
    let (allow, asked) = counted(Decision::Allow);
    assert_eq!(
        decide(&all_of([scopes("notes:read"), allow]), &ada()).await,
        Ok(())
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);

    let (deny, _) = counted(Decision::Deny);
    assert_eq!(
        decide(&all_of([scopes("notes:read"), deny]), &ada()).await,
        Err(DenialCause::Denied)
    );
    // A built-in part that denies decides before the custom part is asked.
    let (allow, asked) = counted(Decision::Allow);
    assert_eq!(
        decide(&all_of([scopes("notes:write"), allow]), &ada()).await,
        Err(DenialCause::Denied)
    );
    assert_eq!(asked.load(Ordering::SeqCst), 0);
    // Empty combinators around custom parts deny too.
    let (allow, _) = counted(Decision::Allow);
    let nested = any_of([all_of([]), all_of([allow])]);
    assert_eq!(decide(&nested, &ada()).await, Ok(()));
    assert_eq!(
        decide(&all_of([all_of([]), scopes("notes:read")]), &ada()).await,
        Err(DenialCause::EmptyRequirement)
    );
}

#[tokio::test]
async fn an_anonymous_caller_gets_in_only_through_a_public_part() {
    let (deny, asked) = counted(Decision::Deny);
    let open = any_of([public(), deny]);
    assert_eq!(decide(&open, &Principal::anonymous()).await, Ok(()));

    let (allow, asked_too) = counted(Decision::Allow);
    let closed = any_of([scopes("notes:read"), allow]);
    assert_eq!(
        decide(&closed, &Principal::anonymous()).await,
        Err(DenialCause::Anonymous)
    );
    // No custom part is asked about an anonymous caller.
    assert_eq!(
        asked.load(Ordering::SeqCst) + asked_too.load(Ordering::SeqCst),
        0
    );
}

#[test]
fn the_plain_answers_other_modules_rely_on() {
    assert!(scopes("notes:read").allows_locally(&ada()));
    assert!(!scopes("notes:write").allows_locally(&ada()));
    assert!(!custom(Counted(Decision::Allow, Arc::default())).allows_locally(&ada()));

    assert!(Decision::Allow.is_allow());
    assert!(!Decision::Deny.is_allow());
    assert!(!Decision::Abstain.is_allow());

    assert_eq!(ada().subject(), Some("ada"));
    assert_eq!(Principal::anonymous().subject(), None);
    assert_eq!(ada().to_string(), "ada");
    assert_eq!(Principal::anonymous().to_string(), "anonymous");

    let policy = all_of([scopes(["b", "a"]), any_of([roles("admin"), scopes("c")])]);
    assert_eq!(policy.scopes(), ["a", "b", "c"]);
    assert_eq!(policy.roles(), ["admin"]);
}

#[test]
fn every_denial_cause_says_what_happened_in_its_own_words() {
    let causes = [
        DenialCause::Anonymous,
        DenialCause::Denied,
        DenialCause::Abstained,
        DenialCause::PolicyError("connection refused".into()),
        DenialCause::DeadlineExceeded(Duration::from_secs(2)),
        DenialCause::PolicyPanicked("boom".into()),
        DenialCause::LateAnswer {
            deadline: Duration::from_secs(2),
            elapsed: Duration::from_secs(3),
        },
        DenialCause::EmptyRequirement,
    ];
    let texts: Vec<String> = causes.iter().map(ToString::to_string).collect();
    for text in &texts {
        assert!(text.len() > 8, "{texts:?}");
    }
    let distinct: std::collections::BTreeSet<&String> = texts.iter().collect();
    assert_eq!(distinct.len(), texts.len(), "{texts:?}");
    assert!(texts[3].contains("connection refused") && texts[5].contains("boom"));
}

/// What a caller-specific tool list shows: a policy with a custom part is visible to a
/// caller whose built-in parts allow it, whatever the custom part would say; never to an
/// anonymous caller unless a `public` part lets one in.
#[test]
fn may_admit_asks_no_custom_part_and_keeps_its_tools_visible() {
    let (allow, asked) = counted(Decision::Deny);
    assert!(allow.may_admit(&ada()), "a custom part alone could say yes");
    assert!(
        !allow.may_admit(&Principal::anonymous()),
        "not to an anonymous caller"
    );
    assert!(any_of([public(), allow.clone()]).may_admit(&Principal::anonymous()));

    assert!(all_of([scopes("notes:read"), allow.clone()]).may_admit(&ada()));
    assert!(!all_of([scopes("notes:write"), allow.clone()]).may_admit(&ada()));
    assert!(any_of([scopes("notes:write"), allow.clone()]).may_admit(&ada()));
    assert!(!any_of([all_of([scopes("notes:write"), allow.clone()])]).may_admit(&ada()));
    assert!(!any_of([scopes("notes:write"), allow]).may_admit(&Principal::anonymous()));
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "deciding visibility asks no custom part"
    );
}

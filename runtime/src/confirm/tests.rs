//! Tests of [`confirm`](super).

use super::*;

fn arguments(value: serde_json::Value) -> JsonObject {
    value.as_object().cloned().unwrap()
}

#[test]
fn templates_parse_and_render_values_quoted_and_cut() {
    let question = Confirmation::new("Delete {id}? {{not a field}}").unwrap();
    assert_eq!(question.fields().collect::<Vec<_>>(), ["id"]);
    assert_eq!(question.to_string(), "Delete {id}? {{not a field}}");
    let long = "x".repeat(500);
    let rendered = question.render(&arguments(serde_json::json!({ "id": long })));
    assert_eq!(
        rendered.chars().count(),
        "Delete ? {not a field}".len() + MAX_VALUE_CHARS + 1
    );
    assert!(rendered.starts_with("Delete \"xxx"), "{rendered}");
    assert_eq!(
        question.render(&arguments(serde_json::json!({}))),
        "Delete (none)? {not a field}"
    );
    for (bad, says) in [
        ("{", "must be an argument's name"),
        ("}", "closes no placeholder"),
        ("{}", "names no argument"),
        ("{a b}", "must be an argument's name"),
        ("{id", "must be an argument's name"),
        ("", "blank"),
    ] {
        let error = Confirmation::new(bad).unwrap_err().to_string();
        assert!(error.contains(says), "{bad}: {error}");
    }
}

#[test]
fn the_binding_does_not_depend_on_the_order_of_keys() {
    let one: JsonObject =
        serde_json::from_str(r#"{"a": 1, "b": {"x": [1, {"p": 1, "q": 2}], "y": "z"}}"#).unwrap();
    let other: JsonObject =
        serde_json::from_str(r#"{"b": {"y": "z", "x": [1, {"q": 2, "p": 1}]}, "a": 1}"#).unwrap();
    assert_eq!(binding(&ada(), "t", &one), binding(&ada(), "t", &other));
    let changed: JsonObject =
        serde_json::from_str(r#"{"b": {"y": "z", "x": [{"q": 2, "p": 1}, 1]}, "a": 1}"#).unwrap();
    assert_ne!(binding(&ada(), "t", &one), binding(&ada(), "t", &changed));
}

#[test]
fn refusals_say_why_for_the_log_and_the_key_is_never_printed() {
    for (refused, says) in [
        (StateRefused::Forged, "forged, altered, or another call's"),
        (StateRefused::Expired, "expired"),
        (StateRefused::Replayed, "already redeemed"),
        (StateRefused::Missing, "without its request state"),
    ] {
        assert!(refused.to_string().contains(says), "{refused:?}");
    }
    let key = b"k3y-material-that-must-stay-secret";
    let printed = format!("{:?}", Confirmations::new(key.to_vec()).unwrap());
    assert!(printed.starts_with("Confirmations"), "{printed}");
    assert!(!printed.contains("k3y"), "{printed}");
}

/// The bytes of JSON around an answer's text in [`answers_of`]: `{"<key>":"…"}`.
const AROUND: usize = INPUT_KEY.len() + 7;

/// An answer to the confirmation question whose JSON takes exactly `bytes` bytes.
fn answers_of(bytes: usize) -> InputResponses {
    let mut answers = InputResponses::new();
    answers.insert(
        INPUT_KEY.to_owned(),
        serde_json::json!("x".repeat(bytes - AROUND)),
    );
    assert_eq!(serde_json::to_vec(&answers).unwrap().len(), bytes);
    answers
}

/// The state of a first round asking "Go?", bound to `bound`.
fn asked(confirmations: &Confirmations, bound: &[u8]) -> String {
    confirmations
        .ask("Go?".to_owned(), bound)
        .request_state
        .unwrap()
}

#[test]
fn a_state_carries_answers_up_to_its_limit() {
    let confirmations = Confirmations::with_random_key();
    let bound = binding(&ada(), "t", &JsonObject::new());
    for (bytes, fits) in [
        (2 * 1024, true),
        (MAX_ANSWERS_BYTES, true),
        (MAX_ANSWERS_BYTES + 1, false),
    ] {
        let state = asked(&confirmations, &bound);
        let opened = confirmations.open(Some(&state), Some(&answers_of(bytes)), &bound, &ada());
        match opened {
            Ok(carried) => {
                assert!(fits, "{bytes} bytes");
                assert_eq!(
                    carried.answers[INPUT_KEY].as_str().unwrap().len(),
                    bytes - AROUND
                );
            }
            Err(refusal) => {
                assert!(!fits, "{bytes} bytes: {refusal:?}");
                assert_eq!(refusal, Refusal::TooLarge);
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn redemptions_are_forgotten_once_their_states_expire() {
    let confirmations = Confirmations::with_random_key();
    let bound = binding(&ada(), "t", &JsonObject::new());
    let redeem = |confirmations: &Confirmations| {
        let state = asked(confirmations, &bound);
        confirmations.redeem(Some(&state), Some(&accepted(true)), &bound, &ada())
    };
    for _ in 0..1000 {
        assert!(matches!(redeem(&confirmations), Ok(Confirmed::Yes)));
    }
    tokio::time::advance(Duration::from_secs(200)).await;
    for _ in 0..24 {
        assert!(matches!(redeem(&confirmations), Ok(Confirmed::Yes)));
    }
    assert!(matches!(redeem(&confirmations), Err(Refusal::Busy)));
    // The first 1,000 are past their lifetime: forgotten, and ada may redeem 1,000 more,
    // not one beyond.
    tokio::time::advance(CONFIRMATION_TTL - Duration::from_secs(100)).await;
    for _ in 0..1000 {
        assert!(matches!(redeem(&confirmations), Ok(Confirmed::Yes)));
    }
    assert!(matches!(redeem(&confirmations), Err(Refusal::Busy)));
}

#[test]
fn invisible_characters_in_a_value_are_escaped() {
    let question = Confirmation::new("Delete {title}?").unwrap();
    let title = "notes\u{202e}txt.exe\u{200b}";
    let rendered = question.render(&arguments(serde_json::json!({ "title": title })));
    assert_eq!(rendered, r#"Delete "notes\u202etxt.exe\u200b"?"#);
}

#[test]
fn one_principal_cannot_make_confirmations_busy_for_everyone() {
    let confirmations = Confirmations::with_random_key();
    let bound = binding(&ada(), "t", &JsonObject::new());
    for _ in 0..MAX_REDEEMED_PER_PRINCIPAL {
        let state = asked(&confirmations, &bound);
        assert!(matches!(
            confirmations.redeem(Some(&state), Some(&accepted(true)), &bound, &ada()),
            Ok(Confirmed::Yes)
        ));
    }
    let state = asked(&confirmations, &bound);
    assert!(matches!(
        confirmations.redeem(Some(&state), Some(&accepted(true)), &bound, &ada()),
        Err(Refusal::Busy)
    ));
    // Another caller is not held up.
    let bob = Principal::new("bob");
    let theirs = binding(&bob, "t", &JsonObject::new());
    let state = asked(&confirmations, &theirs);
    assert!(matches!(
        confirmations.redeem(Some(&state), Some(&accepted(true)), &theirs, &bob),
        Ok(Confirmed::Yes)
    ));
}

fn ada() -> Principal {
    Principal::new("ada")
}

fn accepted(ticked: bool) -> InputResponses {
    let mut responses = InputResponses::new();
    responses.insert(
        INPUT_KEY.to_owned(),
        serde_json::json!({ "action": "accept", "content": { "confirm": ticked } }),
    );
    responses
}

#[test]
fn a_sealed_state_is_redeemed_once_for_its_own_call_only() {
    let confirmations = Confirmations::with_random_key();
    let args = arguments(serde_json::json!({ "id": 1 }));
    let bound = binding(&ada(), "delete_note", &args);
    let asked = confirmations.ask("Delete 1?".to_owned(), &bound);
    let state = asked.request_state.clone().unwrap();
    assert!(asked.input_requests.unwrap().contains_key(INPUT_KEY));

    // Another principal, tool or arguments: denied, and the state stays unredeemed.
    for other in [
        binding(&Principal::new("eve"), "delete_note", &args),
        binding(&ada(), "delete_all", &args),
        binding(
            &ada(),
            "delete_note",
            &arguments(serde_json::json!({ "id": 2 })),
        ),
    ] {
        assert!(matches!(
            confirmations.redeem(Some(&state), Some(&accepted(true)), &other, &ada()),
            Err(Refusal::Denied(StateRefused::Forged))
        ));
    }
    // Altered: denied.
    let mut forged = state.clone();
    forged.pop();
    forged.push(if state.ends_with('A') { 'B' } else { 'A' });
    assert!(matches!(
        confirmations.redeem(Some(&forged), Some(&accepted(true)), &bound, &ada()),
        Err(Refusal::Denied(StateRefused::Forged))
    ));
    // Another server's key: denied.
    let elsewhere = Confirmations::with_random_key().ask("Delete 1?".to_owned(), &bound);
    assert!(matches!(
        confirmations.redeem(
            elsewhere.request_state.as_deref(),
            Some(&accepted(true)),
            &bound,
            &ada()
        ),
        Err(Refusal::Denied(StateRefused::Forged))
    ));
    // No state: denied.
    assert!(matches!(
        confirmations.redeem(None, Some(&accepted(true)), &bound, &ada()),
        Err(Refusal::Denied(StateRefused::Missing))
    ));

    assert!(matches!(
        confirmations.redeem(Some(&state), Some(&accepted(true)), &bound, &ada()),
        Ok(Confirmed::Yes)
    ));
    assert!(matches!(
        confirmations.redeem(Some(&state), Some(&accepted(true)), &bound, &ada()),
        Err(Refusal::Denied(StateRefused::Replayed))
    ));
}

#[test]
fn only_a_ticked_acceptance_confirms() {
    let confirmations = Confirmations::with_random_key();
    let bound = binding(&ada(), "t", &JsonObject::new());
    let mut declined = InputResponses::new();
    declined.insert(
        INPUT_KEY.to_owned(),
        serde_json::json!({ "action": "decline" }),
    );
    for (responses, expected) in [
        (Some(accepted(false)), Unconfirmed::Declined),
        (Some(declined), Unconfirmed::Declined),
        (None, Unconfirmed::Cancelled),
    ] {
        let state = asked(&confirmations, &bound);
        match confirmations.redeem(Some(&state), responses.as_ref(), &bound, &ada()) {
            Ok(Confirmed::No(why)) => assert_eq!(why, expected),
            _ => panic!("expected {expected:?}"),
        }
    }
}

#[test]
fn a_state_past_its_expiry_is_denied() {
    fn later() -> SystemTime {
        SystemTime::now() + CONFIRMATION_TTL + Duration::from_secs(1)
    }
    let asking = Confirmations::new(b"k".repeat(32)).unwrap();
    let bound = binding(&ada(), "t", &JsonObject::new());
    let state = asked(&asking, &bound);
    let redeeming = Confirmations::new(b"k".repeat(32))
        .unwrap()
        .with_clock(later);
    assert!(matches!(
        redeeming.redeem(Some(&state), Some(&accepted(true)), &bound, &ada()),
        Err(Refusal::Denied(StateRefused::Expired))
    ));
    // The same state, redeemed in time, goes through.
    assert!(matches!(
        asking.redeem(Some(&state), Some(&accepted(true)), &bound, &ada()),
        Ok(Confirmed::Yes)
    ));
}

#[test]
fn one_principal_cannot_make_questions_busy_for_everyone() {
    let confirmations = Confirmations::with_random_key();
    let mallory = Principal::new("mallory");
    let mut held: Vec<PendingSlot> = (0..MAX_PENDING_QUESTIONS_PER_PRINCIPAL)
        .map(|_| {
            confirmations
                .pending_slot(&mallory)
                .expect("within its share")
        })
        .collect();
    assert!(
        confirmations.pending_slot(&mallory).is_none(),
        "past its share"
    );
    // Another caller is still asked.
    let ada = confirmations.pending_slot(&Principal::new("ada"));
    assert!(ada.is_some());
    // A question answered gives its place back.
    held.pop();
    assert!(confirmations.pending_slot(&mallory).is_some());
    // The server's own cap still holds over every principal.
    let many: Vec<PendingSlot> = (0..MAX_PENDING_QUESTIONS)
        .filter_map(|i| confirmations.pending_slot(&Principal::new(format!("p{i}"))))
        .collect();
    assert_eq!(many.len() + held.len() + 1, MAX_PENDING_QUESTIONS);
}

//! Completions under the guard of what they complete, end to end through an rmcp client.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::{ArgumentInfo, CompleteRequestParams, CompletionInfo, Reference};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};

use super::StoreError;
use super::serve_built;
use crate::authz::{Principal, scopes};
use crate::completion::CompletionRequest;
use crate::prelude::*;
use crate::prompt::{PromptReply, PromptRoute, PromptSpec};
use crate::resource::{ResourceBody, ResourceRoute, ResourceSpec};
use crate::route::{ArgumentsType, ErrorType, SecureToolRouter};

#[derive(Clone, Default)]
struct Notes {
    completed: Arc<AtomicUsize>,
}

/// Completes anything it is asked, as a state's own code may (only ever reached with
/// completions forwarded).
impl rmcp::ServerHandler for Notes {
    async fn complete(
        &self,
        _: CompleteRequestParams,
        _: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CompleteResult, rmcp::ErrorData> {
        Ok(rmcp::model::CompleteResult::new(
            CompletionInfo::with_all_values(vec!["from the state".into()]).unwrap(),
        ))
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoteUri {
    id: u64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Summary {
    topic: String,
}

async fn note(
    _: &Notes,
    uri: NoteUri,
    _: crate::context::Grant<'_>,
) -> Result<ResourceBody, ToolError> {
    Ok(ResourceBody::text(uri.id.to_string()))
}

async fn summarise(
    _: &Notes,
    args: Summary,
    _: crate::context::Grant<'_>,
) -> Result<PromptReply, ToolError> {
    Ok(PromptReply::new().user(args.topic))
}

/// Ids 1 to 250 that start with what is typed.
async fn note_ids(notes: &Notes, typed: CompletionRequest) -> Result<Vec<String>, ToolError> {
    notes.completed.fetch_add(1, Ordering::SeqCst);
    Ok((1..=250)
        .map(|id: u32| id.to_string())
        .filter(|id| id.starts_with(typed.value()))
        .collect())
}

async fn topics(notes: &Notes, typed: CompletionRequest) -> Result<Vec<String>, StoreError> {
    notes.completed.fetch_add(1, Ordering::SeqCst);
    if typed.value() == "fail" {
        return Err(StoreError(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
    }
    Ok(vec![
        "SECRET-TOPIC plans".into(),
        "SECRET-TOPIC groceries".into(),
    ])
}

fn router() -> SecureToolRouter<Notes> {
    SecureToolRouter::new()
        .with_resource(
            ResourceRoute::new(
                ResourceSpec::new("note", "notes://{id}", scopes("notes:read")),
                ArgumentsType::new(),
                ErrorType::<ToolError>::new(),
                note,
            )
            .with_completion("id", ErrorType::new(), note_ids),
        )
        .with_prompt(
            PromptRoute::new(
                PromptSpec::new("summarise", scopes("notes:read")),
                ArgumentsType::new(),
                ErrorType::<ToolError>::new(),
                summarise,
            )
            .with_completion("topic", ErrorType::<StoreError>::new(), topics),
        )
}

async fn connect(notes: Notes, principal: Principal) -> RunningService<RoleClient, ()> {
    let server = crate::SecureServerBuilder::with_router(notes, router())
        .local_principal(principal)
        .build();
    ().serve(serve_built(server))
        .await
        .expect("client connects")
}

async fn complete(
    client: &RunningService<RoleClient, ()>,
    reference: Reference,
    argument: &str,
    value: &str,
) -> Result<CompletionInfo, rmcp::ServiceError> {
    client
        .complete(CompleteRequestParams::new(
            reference,
            ArgumentInfo::new(argument, value),
        ))
        .await
        .map(|result| result.completion)
}

fn reader() -> Principal {
    Principal::new("alice").with_scopes(["notes:read"])
}

#[tokio::test]
async fn a_reader_gets_suggestions_capped_at_the_protocols_limit() {
    let client = connect(Notes::default(), reader()).await;
    assert!(
        client
            .peer_info()
            .unwrap()
            .capabilities
            .completions
            .is_some()
    );
    let ids = Reference::for_resource("notes://{id}");
    let shown = complete(&client, ids.clone(), "id", "24").await.unwrap();
    assert_eq!(
        shown.values,
        [
            "24", "240", "241", "242", "243", "244", "245", "246", "247", "248", "249"
        ]
    );
    assert_eq!((shown.total, shown.has_more), (Some(11), Some(false)));

    let many = complete(&client, ids, "id", "").await.unwrap();
    assert_eq!(many.values.len(), 100);
    assert_eq!((many.total, many.has_more), (Some(250), Some(true)));

    let topics = complete(&client, Reference::for_prompt("summarise"), "topic", "p")
        .await
        .unwrap();
    assert_eq!(topics.values.len(), 2);
}

#[tokio::test]
async fn a_caller_who_may_not_read_gets_what_a_missing_completion_gets() {
    let notes = Notes::default();
    let anonymous = connect(notes.clone(), Principal::anonymous()).await;
    let reader = connect(notes.clone(), reader()).await;
    let denied = [
        complete(
            &anonymous,
            Reference::for_resource("notes://{id}"),
            "id",
            "4",
        )
        .await,
        complete(&anonymous, Reference::for_prompt("summarise"), "topic", "p").await,
    ];
    let missing = [
        complete(
            &reader,
            Reference::for_resource("nothing://{id}"),
            "id",
            "4",
        )
        .await,
        complete(&reader, Reference::for_prompt("nothing"), "topic", "p").await,
        complete(&reader, Reference::for_prompt("summarise"), "other", "p").await,
    ];
    let empty = serde_json::to_value(CompletionInfo::with_all_values(vec![]).unwrap()).unwrap();
    for answer in denied.iter().chain(&missing) {
        let answer = serde_json::to_value(answer.as_ref().unwrap()).unwrap();
        assert_eq!(answer, empty);
    }
    assert_eq!(
        notes.completed.load(Ordering::SeqCst),
        0,
        "no denied completer ran"
    );
}

#[tokio::test]
async fn a_failing_completer_answers_a_sanitized_error() {
    let client = connect(Notes::default(), reader()).await;
    let failed = complete(&client, Reference::for_prompt("summarise"), "topic", "fail")
        .await
        .unwrap_err()
        .to_string();
    assert!(failed.contains("incident"), "{failed}");
    assert!(!failed.contains("SELECT"), "{failed}");
    assert!(!failed.contains("SECRET-TOPIC"), "{failed}");
}

#[test]
#[should_panic(expected = "has no variable `title` to complete")]
fn completing_a_variable_the_uri_lacks_is_refused() {
    let _ = ResourceRoute::new(
        ResourceSpec::new("note", "notes://{id}", public()),
        ArgumentsType::<NoteUri>::new(),
        ErrorType::<ToolError>::new(),
        note,
    )
    .with_completion("title", ErrorType::<ToolError>::new(), note_ids);
}

/// Allows only what names the note `public`, judged by the request's `value` argument when
/// it has one: a URI variable named as the completion request's own fields.
struct PublicOnly;

impl crate::authz::Authorize for PublicOnly {
    fn authorize<'a>(
        &'a self,
        request: crate::authz::AccessRequest<'a>,
    ) -> crate::authz::PolicyFuture<'a> {
        let value = request
            .arguments
            .and_then(|arguments| arguments.get("value"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let shelf = request
            .arguments
            .and_then(|arguments| arguments.get("shelf"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        Box::pin(async move {
            Ok(
                if value.as_deref() == Some("public")
                    || shelf
                        .as_deref()
                        .is_some_and(|shelf| shelf.starts_with("open"))
                {
                    crate::authz::Decision::Allow
                } else {
                    crate::authz::Decision::Deny
                },
            )
        })
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Keyed {
    shelf: String,
    value: String,
}

async fn keyed(
    _: &Notes,
    uri: Keyed,
    _: crate::context::Grant<'_>,
) -> Result<ResourceBody, ToolError> {
    Ok(ResourceBody::text(format!("{}/{}", uri.shelf, uri.value)))
}

async fn every_key(notes: &Notes, _: CompletionRequest) -> Result<Vec<String>, ToolError> {
    notes.completed.fetch_add(1, Ordering::SeqCst);
    Ok(vec!["public".into(), "SECRET-KEY-1".into()])
}

#[tokio::test]
async fn a_completion_is_decided_on_the_other_arguments_never_on_the_typed_prefix() {
    let notes = Notes::default();
    let router = SecureToolRouter::new().with_resource(
        ResourceRoute::new(
            ResourceSpec::new(
                "keyed",
                "kv://{shelf}/{value}",
                crate::authz::custom(PublicOnly),
            ),
            ArgumentsType::new(),
            ErrorType::<ToolError>::new(),
            keyed,
        )
        .with_completion("value", ErrorType::new(), every_key),
    );
    let server = crate::SecureServerBuilder::with_router(notes.clone(), router).build();
    let reference = Reference::for_resource("kv://{shelf}/{value}");
    // The typed prefix names what the policy allows: it decides nothing.
    let typed = server
        .complete(
            &reference,
            CompletionRequest::new("value", "public"),
            reader(),
        )
        .await
        .unwrap();
    assert!(typed.values.is_empty(), "{:?}", typed.values);
    // Nor does a value for it in the context.
    let forged = CompletionRequest::new("value", "p").with_context("value", "public");
    let forged = server.complete(&reference, forged, reader()).await.unwrap();
    assert!(forged.values.is_empty(), "{:?}", forged.values);
    assert_eq!(notes.completed.load(Ordering::SeqCst), 0);
    // Nor a value the URI's variable could not take (a read of it is refused).
    let odd = CompletionRequest::new("value", "p").with_context("shelf", "open/../secret");
    let odd = server.complete(&reference, odd, reader()).await.unwrap();
    assert!(odd.values.is_empty(), "{:?}", odd.values);
    assert_eq!(notes.completed.load(Ordering::SeqCst), 0);
    // The other arguments, given in the context, are what a read would be asked about.
    let open = CompletionRequest::new("value", "p").with_context("shelf", "open");
    let open = server.complete(&reference, open, reader()).await.unwrap();
    assert_eq!(open.values.len(), 2);
}

/// What the last completion's completer was given.
static GIVEN: std::sync::Mutex<Option<CompletionRequest>> = std::sync::Mutex::new(None);

async fn recorded(notes: &Notes, request: CompletionRequest) -> Result<Vec<String>, ToolError> {
    notes.completed.fetch_add(1, Ordering::SeqCst);
    *GIVEN.lock().unwrap() = Some(request);
    Ok(vec!["one".into()])
}

#[tokio::test]
async fn a_completer_is_given_no_more_than_its_policy_is_asked_about() {
    let notes = Notes::default();
    let router = SecureToolRouter::new().with_resource(
        ResourceRoute::new(
            ResourceSpec::new("keyed", "kv://{shelf}/{value}", crate::authz::public()),
            ArgumentsType::new(),
            ErrorType::<ToolError>::new(),
            keyed,
        )
        .with_completion("value", ErrorType::new(), recorded),
    );
    let server = crate::SecureServerBuilder::with_router(notes.clone(), router).build();
    let reference = Reference::for_resource("kv://{shelf}/{value}");
    // Context a read could not take (not one path segment, past a string's cap, not a
    // parameter at all): the completer never sees it.
    let odd = CompletionRequest::new("value", "p")
        .with_context("shelf", "../x\u{0}")
        .with_context("undeclared", "anything");
    let completed = server.complete(&reference, odd, reader()).await.unwrap();
    assert_eq!(completed.values, ["one"]);
    let given = GIVEN.lock().unwrap().take().unwrap();
    assert_eq!(
        (given.context("shelf"), given.context("undeclared")),
        (None, None)
    );
    let long = CompletionRequest::new("value", "p").with_context("shelf", "s".repeat(40_000));
    server.complete(&reference, long, reader()).await.unwrap();
    let given = GIVEN.lock().unwrap().take().unwrap();
    assert_eq!(given.context("shelf"), None);
    // A value it could take is given as sent.
    let fine = CompletionRequest::new("value", "p").with_context("shelf", "open");
    server.complete(&reference, fine, reader()).await.unwrap();
    let given = GIVEN.lock().unwrap().take().unwrap();
    assert_eq!(given.context("shelf"), Some("open"));
    // A prefix past a string's cap completes to nothing, without the completer.
    let before = notes.completed.load(Ordering::SeqCst);
    let prefix = CompletionRequest::new("value", "p".repeat(40_000));
    let none = server.complete(&reference, prefix, reader()).await.unwrap();
    assert!(none.values.is_empty());
    assert_eq!(notes.completed.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn a_secure_template_in_any_spelling_is_never_the_states_to_complete() {
    let server = crate::SecureServerBuilder::with_router(Notes::default(), router())
        .with_unguarded(crate::server::Unguarded::Completions, "the test says so")
        .local_principal(Principal::anonymous())
        .build();
    let client = ().serve(serve_built(server)).await.unwrap();
    for spelling in [
        "notes://{id}",
        "NOTES://{id}",
        "notes://%7Bid%7D",
        "Notes://7",
    ] {
        let answer = complete(&client, Reference::for_resource(spelling), "id", "")
            .await
            .unwrap();
        assert!(answer.values.is_empty(), "{spelling}: {answer:?}");
    }
    // The state's own templates are its to complete.
    let answer = complete(&client, Reference::for_resource("other://{id}"), "id", "")
        .await
        .unwrap();
    assert_eq!(answer.values, ["from the state"]);
}

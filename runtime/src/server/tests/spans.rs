//! The span around each guarded call (`secure_tool.call` on `secure_tool::trace`): one per
//! call, whatever the surface and the outcome, named for OpenTelemetry, ending with the
//! outcome, the error category and the incident id; never the caller or the arguments.

use serde_json::json;

use super::{Notes, reader};
use crate::prelude::*;
use crate::test_log::{self, Log};

/// The close lines of the calls' spans in `log`.
fn closed(log: &Log) -> Vec<String> {
    log.text()
        .lines()
        .filter(|line| line.contains("secure_tool.call{") && line.contains(": close time.busy="))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn each_call_is_one_span_that_ends_with_its_outcome() {
    let log = Log::default();
    let _default = test_log::set_default(log.span_subscriber());
    let server = SecureServer::new(Notes::default());
    let secret = "secret-argument-4f1e";
    let principal = Principal::new("subject-7c2a").with_scopes(["notes:read"]);
    let args = |value: serde_json::Value| value.as_object().cloned();
    server
        .call("get_note", args(json!({"id": 1})), principal.clone())
        .await
        .unwrap();
    let missing = server
        .call("get_note", args(json!({"id": 2})), principal.clone())
        .await
        .unwrap();
    server
        .call("get_note", args(json!({"id": secret})), principal.clone())
        .await
        .unwrap();
    server
        .call("get_note", args(json!({"id": 1})), Principal::anonymous())
        .await
        .unwrap();
    server.call("sync", None, reader()).await.unwrap();

    let spans = closed(&log);
    assert_eq!(spans.len(), 5, "one span per call: {spans:#?}");
    let expected = [
        ("ok", None),
        ("error", Some("not_found")),
        ("invalid_arguments", Some("invalid_arguments")),
        ("denied", Some("denied")),
        ("error", Some("unavailable")),
    ];
    for (span, (outcome, error)) in spans.iter().zip(expected) {
        assert!(span.contains("otel.kind=\"server\""), "{span}");
        assert!(span.contains("mcp.method.name=\"tools/call\""), "{span}");
        assert!(
            span.contains(&format!("secure_tool.outcome=\"{outcome}\"")),
            "{outcome}: {span}"
        );
        match error {
            Some(error) => assert!(span.contains(&format!("error.type=\"{error}\"")), "{span}"),
            None => assert!(!span.contains("error.type"), "{span}"),
        }
        // A server span fails for the server's failures, not for the caller's.
        assert_eq!(
            span.contains("otel.status_code=\"ERROR\""),
            error == Some("unavailable"),
            "{span}"
        );
        assert!(
            !span.contains(secret) && !span.contains("subject-7c2a"),
            "{span}"
        );
    }
    assert!(
        spans[0].contains("otel.name=tools/call get_note"),
        "{}",
        spans[0]
    );
    assert!(!spans[0].contains("incident_id"), "{}", spans[0]);
    // The incident id the caller was given is the span's.
    let incident = crate::sanitize::error_facts(&missing).unwrap()["incident_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        spans[1].contains(&format!("secure_tool.incident_id={incident}")),
        "{}",
        spans[1]
    );
}

#[tokio::test]
async fn without_a_layer_that_wants_them_no_span_is_made() {
    let log = Log::default();
    let _default = test_log::set_default(log.subscriber());
    let server = SecureServer::new(Notes::default());
    server
        .call("get_note", json!({"id": 1}).as_object().cloned(), reader())
        .await
        .unwrap();
    let text = log.text();
    assert!(text.contains("tool call succeeded"), "{text}");
    assert!(!text.contains("secure_tool.call"), "{text}");
}

/// The span each `Purge` was dropped in (by name), in the order they were dropped.
static PURGES_DROPPED_IN: std::sync::Mutex<Vec<Option<&'static str>>> =
    std::sync::Mutex::new(Vec::new());

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Purge {
    id: u64,
}

impl Drop for Purge {
    fn drop(&mut self) {
        let span = tracing::Span::current().metadata().map(|span| span.name());
        PURGES_DROPPED_IN.lock().unwrap().push(span);
    }
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Purged {
    id: u64,
}

#[derive(Clone)]
struct Jobs;

#[secure_tool_router]
impl Jobs {
    /// Purges a job, once the user says yes.
    #[secure_tool(authz = scopes("jobs"), mode = write, confirm = "Purge {id}?")]
    async fn purge(&self, args: Purge, _access: WriteAccess<'_>) -> Result<Purged, ToolError> {
        Ok(Purged { id: args.id })
    }
}

impl rmcp::ServerHandler for Jobs {}

/// A call refused once its arguments are parsed (here: a confirmed tool called in process,
/// where no one can say yes) lets go of them within its span, like every other value of
/// the call, not after it.
#[tokio::test]
async fn the_arguments_of_a_call_refused_after_parsing_go_within_its_span() {
    let log = Log::default();
    let _default = test_log::set_default(log.span_subscriber());
    let server = SecureServer::new(Jobs);
    let principal = Principal::new("ada").with_scopes(["jobs"]);
    let refused = server
        .call("purge", json!({"id": 7}).as_object().cloned(), principal)
        .await
        .unwrap();
    assert_eq!(refused.is_error, Some(true));
    assert_eq!(closed(&log).len(), 1, "{}", log.text());
    assert!(closed(&log)[0].contains("secure_tool.outcome=\"not_confirmed\""));
    assert_eq!(
        *PURGES_DROPPED_IN.lock().unwrap(),
        [Some("secure_tool.call")],
        "the parsed arguments were dropped outside the call's span"
    );
}

//! What the audit trail writes of what the caller controls: nothing verbatim.

use serde_json::json;

use crate::prelude::*;
use crate::test_log::Log;

#[derive(Clone)]
struct Notes;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoteId {
    id: i64,
}

#[secure_tool_router]
impl Notes {
    /// Reads a note: there is none, and the message says which id was asked for.
    #[secure_tool(authz = public, mode = read)]
    async fn get_note(&self, args: NoteId) -> Result<String, ToolError> {
        Err(ToolError::not_found(format!("no note with id {}", args.id)))
    }

    /// Reads the pinned note: there is none, in the code's own words.
    #[secure_tool(authz = public, mode = read)]
    async fn pinned(&self) -> Result<String, ToolError> {
        Err(ToolError::not_found("no note is pinned"))
    }

    /// Fails inside, with a cause whose text has a line break.
    #[secure_tool(authz = public, mode = read)]
    async fn sync(&self) -> Result<String, ToolError> {
        Err(ToolError::internal(std::io::Error::other(
            "replica lag\nINFO forged line",
        )))
    }
}
impl rmcp::ServerHandler for Notes {}

/// The audit lines of `log`: every line of the log that is one.
fn audit_lines(log: &Log) -> Vec<String> {
    log.text()
        .lines()
        .filter(|line| line.contains("secure_tool::audit"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_subject_cannot_forge_an_audit_line_nor_restyle_the_terminal() {
    let log = Log::default();
    let _default = crate::test_log::set_default(log.subscriber());
    let server = SecureServer::new(Notes);
    let forged = "mallory\n2026-12-02T10:00:00.000000Z  INFO secure_tool::audit: tool=\"drop_all\" \
                  decision=\"allow\" \u{1b}[2J\u{202e}";
    let caller = Principal::new(forged);
    let _ = server.call("pinned", None, caller).await.unwrap();

    let text = log.text();
    assert_eq!(text.lines().count(), 1, "one event, one line:\n{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    assert!(text.contains(r"mallory\n2026-12-02"), "{text}");
}

#[tokio::test]
async fn an_argument_name_cannot_forge_an_audit_line() {
    let log = Log::default();
    let _default = crate::test_log::set_default(log.subscriber());
    let server = SecureServer::new(Notes);
    let arguments = json!({"id": 1, "x\nINFO secure_tool::audit: forged": 1});
    let _ = server
        .call(
            "get_note",
            arguments.as_object().cloned(),
            Principal::anonymous(),
        )
        .await
        .unwrap();
    let text = log.text();
    assert_eq!(text.lines().count(), 1, "one event, one line:\n{text}");
    // Escaped by us, then quoted by the subscriber.
    assert!(text.contains(r"x\\nINFO"), "{text}");
}

#[tokio::test]
async fn a_message_built_from_the_callers_data_is_logged_as_a_digest() {
    let log = Log::default();
    let _default = crate::test_log::set_default(log.subscriber());
    let server = SecureServer::new(Notes);
    for _ in 0..2 {
        let arguments = json!({"id": 987654321});
        let answer = server
            .call(
                "get_note",
                arguments.as_object().cloned(),
                Principal::anonymous(),
            )
            .await
            .unwrap();
        // The caller is told, in the handler's words.
        let facts = crate::sanitize::error_facts(&answer).unwrap();
        assert_eq!(facts["category"], "not_found");
    }
    let _ = server
        .call("pinned", None, Principal::anonymous())
        .await
        .unwrap();

    let lines = audit_lines(&log);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for line in &lines[..2] {
        assert!(
            !line.contains("987654321"),
            "the caller's id reached the log: {line}"
        );
        assert!(line.contains("public_message_digest="), "{line}");
        assert!(!line.contains(" public_message="), "{line}");
    }
    // Equal messages have equal digests, so that an operator can count them.
    let digest = |line: &str| {
        let start = line.find("public_message_digest=").unwrap() + "public_message_digest=".len();
        line[start..start + 16].to_owned()
    };
    assert_eq!(digest(&lines[0]), digest(&lines[1]));
    // A literal of the code is the handler's own words: logged as written.
    assert!(
        lines[2].contains("public_message=no note is pinned"),
        "{}",
        lines[2]
    );
}

#[tokio::test]
async fn an_internal_cause_is_logged_escaped_on_one_line() {
    let log = Log::default();
    let _default = crate::test_log::set_default(log.subscriber());
    let server = SecureServer::new(Notes);
    let _ = server
        .call("sync", None, Principal::anonymous())
        .await
        .unwrap();
    let text = log.text();
    assert_eq!(text.lines().count(), 1, "one event, one line:\n{text}");
    assert!(text.contains(r"replica lag\nINFO forged line"), "{text}");
}

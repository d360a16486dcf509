//! A write tool open to anonymous callers says why, however its policy is built. The
//! macro refuses the `public` it can see in `authz`; a policy built elsewhere (a `fn`, a
//! value read from configuration) is refused when its route is built, naming the tool, so
//! that the server is never built. One that says why is served to anonymous callers
//! through a real MCP session, and logged once when the server is built.

use std::panic::AssertUnwindSafe;

use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;

use crate::authz::{Policy, all_of, any_of, public, public_because, scopes};
use crate::prelude::*;
use crate::test_log::Log;
use crate::{SecureServerBuilder, SecureToolRouter};

#[derive(Clone)]
struct Guest;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Signed {
    ok: bool,
}

/// The built-in `public`, out of the macro's sight.
fn open() -> Policy {
    public()
}

/// As open as `public`: editors, or anyone.
fn editors_or_anyone() -> Policy {
    any_of([scopes("notes:write"), public()])
}

/// Public parts only.
fn public_parts() -> Policy {
    all_of([public(), any_of([public(), scopes("x")])])
}

/// A reason read from configuration, which came back blank.
fn configured_reason() -> String {
    "   ".to_owned()
}

/// Says why.
fn guest_book() -> Policy {
    public_because("the guest book is open to every visitor")
}

#[secure_tool_router(router = open_router)]
impl Guest {
    /// Signs the guest book.
    #[secure_tool(authz = open(), mode = write)]
    async fn sign_open(&self) -> Result<Signed, ToolError> {
        Ok(Signed { ok: true })
    }
}

#[secure_tool_router(router = any_of_router)]
impl Guest {
    /// Signs the guest book.
    #[secure_tool(authz = editors_or_anyone(), mode = write)]
    async fn sign_any_of(&self) -> Result<Signed, ToolError> {
        Ok(Signed { ok: true })
    }
}

#[secure_tool_router(router = all_of_router)]
impl Guest {
    /// Signs the guest book.
    #[secure_tool(authz = public_parts(), mode = write)]
    async fn sign_all_of(&self) -> Result<Signed, ToolError> {
        Ok(Signed { ok: true })
    }
}

#[secure_tool_router(router = blank_router)]
impl Guest {
    /// Signs the guest book.
    #[secure_tool(authz = public_because(configured_reason()), mode = write)]
    async fn sign_blank(&self) -> Result<Signed, ToolError> {
        Ok(Signed { ok: true })
    }
}

#[secure_tool_router(router = explained_router)]
impl Guest {
    /// Signs the guest book.
    #[secure_tool(authz = guest_book(), mode = write)]
    async fn sign(&self) -> Result<Signed, ToolError> {
        Ok(Signed { ok: true })
    }

    /// Edits a note: a `public()` that cannot let anyone in alone needs no reason.
    #[secure_tool(authz = all_of([open(), scopes("notes:write")]), mode = write)]
    async fn edit(&self) -> Result<Signed, ToolError> {
        Ok(Signed { ok: true })
    }

    /// Reads the guest book: a read tool's `public` needs no reason.
    #[secure_tool(authz = open(), mode = read)]
    async fn read(&self) -> Result<Signed, ToolError> {
        Ok(Signed { ok: true })
    }
}

impl rmcp::ServerHandler for Guest {}

/// The panic message of building `router`, if it panicked.
fn refusal(router: fn() -> SecureToolRouter<Guest>) -> Option<String> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        SecureServerBuilder::with_router(Guest, router()).build()
    }))
    .err()
    .map(|panic| crate::util::panic_message(&*panic))
}

#[test]
fn a_write_tool_open_to_anyone_without_a_reason_is_not_built() {
    for (tool, router) in [
        (
            "sign_open",
            Guest::open_router as fn() -> SecureToolRouter<Guest>,
        ),
        ("sign_any_of", Guest::any_of_router),
        ("sign_all_of", Guest::all_of_router),
        ("sign_blank", Guest::blank_router),
    ] {
        let message = refusal(router).unwrap_or_else(|| panic!("`{tool}` was built"));
        assert!(
            message.contains(&format!(
                "write tool `{tool}` lets anonymous callers change state"
            )),
            "{message}"
        );
        assert!(message.contains("public_because"), "{message}");
    }
    assert_eq!(refusal(Guest::explained_router), None);
}

#[tokio::test]
async fn a_write_tool_that_says_why_is_open_to_anonymous_callers() {
    let server = SecureServerBuilder::with_router(Guest, Guest::explained_router()).build();
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        // Not a trusted transport: every caller is anonymous.
        let running = server.serve(server_io).await.expect("server starts");
        let _ = running.waiting().await;
    });
    let client = ().serve(client_io).await.expect("client connects");
    let call = |tool: &'static str| client.call_tool(CallToolRequestParams::new(tool));
    let signed = call("sign").await.expect("a tool result");
    assert_eq!(signed.is_error, Some(false), "{signed:?}");
    assert_eq!(signed.structured_content.unwrap()["ok"], true);
    let edited = call("edit").await.expect("a tool result");
    assert_eq!(edited.is_error, Some(true), "{edited:?}");
}

#[test]
fn the_manifest_and_the_startup_log_give_the_reason() {
    let log = Log::default();
    let server = {
        let _default = crate::test_log::set_default(log.subscriber());
        SecureServerBuilder::with_router(Guest, Guest::explained_router()).build()
    };
    let manifest = serde_json::to_value(server.manifest()).unwrap();
    let sign = manifest["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tool| tool["name"] == "sign")
        .unwrap();
    assert_eq!(
        sign["authz"]["policy"],
        "public (reason: the guest book is open to every visitor)"
    );
    assert_eq!(sign["authz"]["public"], true);

    let text = log.text();
    let warnings: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("write tool open to anonymous callers"))
        .collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(warnings[0].contains("WARN"), "{text}");
    assert!(warnings[0].contains("tool=sign "), "{text}");
    assert!(
        warnings[0].contains("reason=the guest book is open to every visitor"),
        "{text}"
    );
}

/// Texts that show nothing on a screen: fillers, a blank braille pattern, bidirectional
/// controls, joiners, variation selectors, tags, and mixes of them with whitespace.
const SHOWING_NOTHING: [&str; 10] = [
    "\u{2800}",
    "\u{3164}",
    "\u{115F}\u{1160}",
    "\u{FFA0}",
    "\u{2066}\u{2069}",
    "\u{202E}",
    "\u{034F}\u{061C}",
    "\u{FE0F}",
    "\u{E0041}\u{E007F}",
    " \u{200B}\t\u{2060}\u{0007}",
];

#[test]
fn a_reason_or_a_question_that_shows_nothing_says_nothing() {
    for text in SHOWING_NOTHING {
        assert!(
            public_because(text).admits_anonymous_without_reason(),
            "{text:?} was taken as a reason"
        );
        assert!(
            crate::confirm::Confirmation::new(text).is_err(),
            "{text:?} was taken as a question"
        );
        let forwarded = std::panic::catch_unwind(|| {
            SecureServerBuilder::with_router(Guest, SecureToolRouter::new())
                .with_unguarded(crate::server::Unguarded::Logging, text)
        });
        assert!(
            forwarded.is_err(),
            "{text:?} was taken as a reason to forward"
        );
    }
    // A reason in any script, or a single visible sign, is one.
    for text in ["匿名で報告できる", "✓", "a"] {
        assert!(
            !public_because(text).admits_anonymous_without_reason(),
            "{text:?}"
        );
        assert!(crate::confirm::Confirmation::new(text).is_ok(), "{text:?}");
    }
}

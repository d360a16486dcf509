//! Late answers and empty requirements through a real MCP session: an rmcp client on one
//! end of an in-memory pipe, a `SecureServer` on the other, the tool's own policy deciding.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};

use super::{BLOCKED, Block, Blocks, DEADLINE};
use crate::authz::{Decision, Policy, Principal, all_of, any_of, custom, roles, scopes};
use crate::prelude::*;
#[cfg(feature = "testing")]
use crate::test_log::Log;

#[derive(Clone, Default)]
struct Guarded {
    runs: Arc<AtomicUsize>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Done {
    ok: bool,
}

fn blocks_then(at: Block, answer: Decision) -> Policy {
    custom(Blocks::new(at, BLOCKED, answer))
}

fn late_in_all_of() -> Policy {
    all_of([
        scopes("notes:read"),
        blocks_then(Block::InFuture, Decision::Allow),
    ])
}

fn late_in_any_of() -> Policy {
    any_of([
        roles("admin"),
        blocks_then(Block::AfterYield, Decision::Allow),
    ])
}

fn late_deny_then_allow() -> Policy {
    any_of([
        blocks_then(Block::InFuture, Decision::Deny),
        scopes("notes:read"),
    ])
}

fn in_time() -> Policy {
    custom(Blocks::new(Block::InFuture, DEADLINE / 2, Decision::Allow))
}

/// Scopes read from configuration, which came back empty.
fn configured_scopes() -> Vec<String> {
    Vec::new()
}

/// Roles read from configuration: one entry, blank.
fn configured_roles() -> Vec<String> {
    vec![" ".to_owned()]
}

#[secure_tool_router]
impl Guarded {
    /// Blocks in `authorize()`.
    #[secure_tool(authz = blocks_then(Block::InAuthorize, Decision::Allow), mode = read)]
    async fn in_authorize(&self) -> Result<Done, ToolError> {
        self.ran()
    }

    /// Blocks in the future.
    #[secure_tool(authz = blocks_then(Block::InFuture, Decision::Allow), mode = read)]
    async fn in_future(&self) -> Result<Done, ToolError> {
        self.ran()
    }

    /// Blocks after a yield.
    #[secure_tool(authz = blocks_then(Block::AfterYield, Decision::Allow), mode = write)]
    async fn after_yield(&self) -> Result<Done, ToolError> {
        self.ran()
    }

    /// Blocks inside `all_of`.
    #[secure_tool(authz = late_in_all_of(), mode = read)]
    async fn in_all_of(&self) -> Result<Done, ToolError> {
        self.ran()
    }

    /// Blocks inside `any_of`.
    #[secure_tool(authz = late_in_any_of(), mode = read)]
    async fn in_any_of(&self) -> Result<Done, ToolError> {
        self.ran()
    }

    /// A part blocks and denies, the next would allow.
    #[secure_tool(authz = late_deny_then_allow(), mode = read)]
    async fn late_deny(&self) -> Result<Done, ToolError> {
        self.ran()
    }

    /// Blocks, but for less than the deadline.
    #[secure_tool(authz = in_time(), mode = read)]
    async fn quick(&self) -> Result<Done, ToolError> {
        self.ran()
    }

    /// Requires the configured scopes.
    #[secure_tool(authz = scopes(configured_scopes()), mode = read)]
    async fn configured(&self) -> Result<Done, ToolError> {
        self.ran()
    }

    /// Requires the configured roles.
    #[secure_tool(authz = roles(configured_roles()), mode = write)]
    async fn configured_role(&self) -> Result<Done, ToolError> {
        self.ran()
    }
}

impl Guarded {
    fn ran(&self) -> Result<Done, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Done { ok: true })
    }
}

impl rmcp::ServerHandler for Guarded {}

/// A reader who holds every name, blank ones included.
fn caller() -> Principal {
    Principal::new("alice")
        .with_scopes(["", " ", "notes:read"])
        .with_roles(["", " ", "editor"])
}

async fn connect(guarded: Guarded) -> RunningService<RoleClient, ()> {
    let server = SecureServer::builder(guarded)
        .local_principal(caller())
        .authz_timeout(DEADLINE)
        .build();
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = server
            .serve_trusted(server_io)
            .await
            .expect("server starts");
        let _ = running.waiting().await;
    });
    ().serve(client_io).await.expect("client connects")
}

async fn call(client: &RunningService<RoleClient, ()>, tool: &str) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()))
        .await
        .expect("a tool result")
}

fn is_denial(result: &CallToolResult) -> bool {
    result.structured_content.is_none()
        && crate::sanitize::error_facts(result).is_some_and(|facts| facts["category"] == "denied")
}

#[cfg(feature = "testing")]
#[tokio::test(start_paused = true)]
async fn a_policy_that_blocks_its_thread_and_then_allows_is_denied() {
    let guarded = Guarded::default();
    let client = connect(guarded.clone()).await;
    for tool in [
        "in_authorize",
        "in_future",
        "after_yield",
        "in_all_of",
        "in_any_of",
        "late_deny",
    ] {
        let result = call(&client, tool).await;
        assert!(is_denial(&result), "{tool}: {result:?}");
    }
    assert_eq!(guarded.runs.load(Ordering::SeqCst), 0, "a handler ran");
    // The same session, a policy that blocks for less than the deadline: allowed.
    let result = call(&client, "quick").await;
    assert_eq!(result.is_error, Some(false), "{result:?}");
    assert_eq!(guarded.runs.load(Ordering::SeqCst), 1);
}

/// The same with a real `std::thread::sleep` in the policy, in real time, through
/// `SecureServer::call`: 150 ms of blocking against a 50 ms deadline.
#[tokio::test]
async fn a_policy_that_really_sleeps_is_denied_through_the_server() {
    struct Sleeps;
    impl crate::authz::Authorize for Sleeps {
        fn authorize<'a>(
            &'a self,
            _: crate::authz::AccessRequest<'a>,
        ) -> crate::authz::PolicyFuture<'a> {
            Box::pin(async {
                std::thread::sleep(BLOCKED);
                Ok(Decision::Allow)
            })
        }
    }
    let guarded = Guarded::default();
    let server = SecureServer::builder(guarded.clone())
        .server_policy(Sleeps)
        .authz_timeout(DEADLINE)
        .build();
    let result = server.call("quick", None, caller()).await.unwrap();
    assert!(is_denial(&result), "{result:?}");
    assert_eq!(guarded.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn an_empty_requirement_from_configuration_denies_every_caller() {
    let guarded = Guarded::default();
    let client = connect(guarded.clone()).await;
    for tool in ["configured", "configured_role"] {
        let result = call(&client, tool).await;
        assert!(is_denial(&result), "{tool}: {result:?}");
    }
    assert_eq!(guarded.runs.load(Ordering::SeqCst), 0, "a handler ran");
}

#[test]
fn the_manifest_says_an_empty_requirement_denies() {
    let server = SecureServer::new(Guarded::default());
    let manifest = serde_json::to_value(server.manifest()).unwrap();
    let authz = |name: &str| {
        manifest["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|tool| tool["name"] == name)
            .unwrap()["authz"]
            .clone()
    };
    assert_eq!(
        authz("configured"),
        serde_json::json!({
            "policy": "deny: empty scope list", "scopes": [], "roles": [],
            "public": false, "custom": false, "cedar_action": null
        })
    );
    assert_eq!(authz("configured_role")["policy"], "deny: blank role name");
    assert_eq!(authz("configured_role")["roles"], serde_json::json!([]));
    // `scopes_supported` advertises no blank scope.
    assert_eq!(server.scopes(), ["notes:read"]);
}

/// The log says why: a late answer, an empty requirement (once, when the server is built).
#[cfg(feature = "testing")]
#[tokio::test(start_paused = true)]
async fn the_log_names_the_late_answer_and_the_empty_requirement() {
    let log = Log::default();
    let _default = crate::test_log::set_default(log.subscriber());
    let server = SecureServer::builder(Guarded::default())
        .authz_timeout(DEADLINE)
        .build();
    let built = log.text();
    for tool in ["configured", "configured_role"] {
        let warning = built
            .lines()
            .find(|line| line.contains(&format!("tool=\"{tool}\"")))
            .unwrap_or_else(|| panic!("no warning for {tool}: {built}"));
        assert!(
            warning.contains("WARN")
                && warning.contains("the policy has an empty requirement: it denies every caller"),
            "{warning}"
        );
    }
    assert_eq!(built.lines().count(), 2, "{built}");
    for tool in ["in_future", "configured"] {
        let result = server.call(tool, None, caller()).await.unwrap();
        assert!(is_denial(&result), "{result:?}");
    }
    let calls = log.text();
    assert!(
        calls.contains(
            "cause=late answer: the policy answered after 150 ms, past its deadline of 50 ms"
        ),
        "{calls}"
    );
    assert!(
        calls.contains("cause=empty requirement: the policy denies every caller"),
        "{calls}"
    );
}

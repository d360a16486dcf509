//! The guarded call path end to end, in process: an rmcp client on one end of a duplex
//! pipe, a `SecureServer` on the other.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::authz::{AccessRequest, Authorize, PolicyFuture, Principal};
use crate::prelude::*;

#[derive(Clone, Default)]
struct Notes {
    runs: Arc<AtomicUsize>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct GetNote {
    id: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Note {
    id: u64,
    title: String,
}

#[derive(Debug)]
struct StoreError(std::io::Error);
impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("query `SELECT * FROM notes` against /var/lib/notes/secret.db failed")
    }
}
impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A policy that never answers.
struct Hangs;
impl Authorize for Hangs {
    fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
        Box::pin(std::future::pending())
    }
}

fn hangs() -> Hangs {
    Hangs
}

#[secure_tool_router]
impl Notes {
    /// Anyone may ping.
    #[secure_tool(authz = public, mode = read)]
    async fn ping(&self) -> Result<String, std::convert::Infallible> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok("pong".into())
    }

    /// Reads a note.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn get_note(&self, args: GetNote) -> Result<Note, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        match args.id {
            1 => Ok(Note {
                id: 1,
                title: "first".into(),
            }),
            _ => Err(ToolError::not_found("no note with this id")),
        }
    }

    /// Deletes a note.
    #[secure_tool(authz = roles("admin"), mode = write, title = "Delete a note")]
    async fn delete_note(&self, args: GetNote) -> Result<Note, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let _ = args;
        Ok(Note {
            id: 0,
            title: String::new(),
        })
    }

    /// Fails like a database that went away.
    #[secure_tool(authz = scopes("notes:read"), mode = read, name = "sync")]
    async fn sync_notes(&self) -> Result<Note, StoreError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Err(StoreError(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )))
    }

    /// Panics.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn explode(&self) -> Result<Note, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        panic!("invariant broken at /src/secret/path.rs")
    }

    /// Guarded by a policy that never answers.
    #[secure_tool(authz = hangs(), mode = read)]
    async fn slow_policy(&self) -> Result<Note, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        unreachable!("the policy never allows")
    }
}

impl rmcp::ServerHandler for Notes {}

async fn connect(notes: Notes, principal: Option<Principal>) -> RunningService<RoleClient, ()> {
    connect_with(notes, principal).await
}

async fn connect_with<S>(state: S, principal: Option<Principal>) -> RunningService<RoleClient, ()>
where
    S: SecureTools + rmcp::ServerHandler + Clone,
{
    let mut builder = SecureServer::builder(state);
    if let Some(principal) = principal {
        builder = builder.local_principal(principal);
    }
    ().serve(serve_built(builder.build()))
        .await
        .expect("client connects")
}

/// `server`, served as trusted over an in-memory pipe: the client's end of it.
fn serve_built<S: rmcp::ServerHandler>(server: SecureServer<S>) -> tokio::io::DuplexStream {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = server
            .serve_trusted(server_io)
            .await
            .expect("server starts");
        let _ = running.waiting().await;
    });
    client_io
}

/// A client on `io` that shakes hands (2025-06-18), sends `then`, reads the answers up to
/// the one with id `until` (which must be a result), and from then on never reads again:
/// its client stopped reading (a hung process, a full socket).
async fn stalled(
    io: tokio::io::DuplexStream,
    then: &[Value],
    until: i64,
) -> tokio::io::DuplexStream {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let mut io = tokio::io::BufReader::new(io);
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "stalled", "version": "1"}}});
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    for message in [&initialize, &initialized].into_iter().chain(then) {
        let line = format!("{message}\n");
        io.get_mut().write_all(line.as_bytes()).await.unwrap();
    }
    let mut line = String::new();
    loop {
        line.clear();
        io.read_line(&mut line).await.unwrap();
        let answer: Value = serde_json::from_str(&line).unwrap();
        if answer["id"] == until {
            assert!(answer.get("result").is_some(), "{answer}");
            break;
        }
    }
    io.into_inner()
}

fn reader() -> Principal {
    Principal::new("alice").with_scopes(["notes:read"])
}

async fn call<C: rmcp::ClientHandler>(
    client: &RunningService<RoleClient, C>,
    name: &str,
    args: Value,
) -> CallToolResult {
    let args: JsonObject = serde_json::from_value(args).unwrap();
    client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args))
        .await
        .expect("a tool result")
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

fn category(result: &CallToolResult) -> Option<String> {
    crate::sanitize::error_facts(result)?["category"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test]
async fn lists_schemas_and_annotations() {
    let client = connect(Notes::default(), Some(reader())).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(
        names,
        [
            "delete_note",
            "explode",
            "get_note",
            "ping",
            "slow_policy",
            "sync"
        ]
    );
    let get = tools.iter().find(|t| t.name == "get_note").unwrap();
    assert_eq!(get.description.as_deref(), Some("Reads a note."));
    assert_eq!(get.input_schema["properties"]["id"]["type"], "integer");
    assert_eq!(get.output_schema.as_ref().unwrap()["type"], "object");
    let annotations = get.annotations.as_ref().unwrap();
    assert_eq!(annotations.read_only_hint, Some(true));
    let delete = tools.iter().find(|t| t.name == "delete_note").unwrap();
    let annotations = delete.annotations.as_ref().unwrap();
    assert_eq!(annotations.read_only_hint, Some(false));
    assert_eq!(annotations.destructive_hint, Some(true));
    assert_eq!(delete.title.as_deref(), Some("Delete a note"));
    // A string result is not structured: no output schema.
    let ping = tools.iter().find(|t| t.name == "ping").unwrap();
    assert!(ping.output_schema.is_none());
}

#[tokio::test]
async fn allowed_calls_run_and_return_structured_content() {
    let notes = Notes::default();
    let client = connect(notes.clone(), Some(reader())).await;
    let result = call(&client, "get_note", json!({"id": 1})).await;
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert_eq!(
        result.structured_content,
        Some(json!({"id": 1, "title": "first"}))
    );
    assert_eq!(text(&result), r#"{"id":1,"title":"first"}"#);
    let result = call(&client, "ping", json!({})).await;
    assert_eq!(text(&result), "pong");
    assert_eq!(notes.runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn denials_are_identical_whatever_the_cause() {
    let notes = Notes::default();
    let anonymous = connect(notes.clone(), None).await;
    let alice = connect(notes.clone(), Some(reader())).await;
    let denials = [
        call(&alice, "delete_note", json!({"id": 1})).await,
        // Invalid arguments from an unauthorized caller: still the denial, not a parse error.
        call(&alice, "delete_note", json!({"id": "DROP TABLE"})).await,
        call(&alice, "delete_note", json!({})).await,
        call(&anonymous, "get_note", json!({"id": 1})).await,
        call(&anonymous, "get_note", json!({"nope": true})).await,
    ];
    for denial in &denials {
        assert_eq!(denial.is_error, Some(true));
        assert_eq!(category(denial).as_deref(), Some("denied"));
        let without_id = text(denial).split(" (category").next().unwrap().to_owned();
        assert_eq!(
            without_id,
            "Access denied: the caller is not allowed to use this tool. Do not retry; this caller lacks permission."
        );
    }
    // Anonymous callers may use public tools.
    assert_eq!(text(&call(&anonymous, "ping", json!({})).await), "pong");
    assert_eq!(
        notes.runs.load(Ordering::SeqCst),
        1,
        "no denied handler ran"
    );
}

#[tokio::test(start_paused = true)]
async fn a_policy_that_never_answers_denies_after_its_deadline() {
    let notes = Notes::default();
    let client = connect(notes.clone(), Some(reader())).await;
    let result = call(&client, "slow_policy", json!({})).await;
    assert_eq!(category(&result).as_deref(), Some("denied"));
    assert_eq!(notes.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn bad_arguments_name_the_field_and_the_expectation_never_the_value() {
    let notes = Notes::default();
    let client = connect(notes.clone(), Some(reader())).await;
    let result = call(&client, "get_note", json!({"id": "seven"})).await;
    assert_eq!(category(&result).as_deref(), Some("invalid_input"));
    let message = text(&result);
    assert!(
        message.starts_with("Invalid arguments: `id`: expected an integer"),
        "{message}"
    );
    assert!(
        !message.contains("seven") && !message.contains("GetNote") && !message.contains("::"),
        "{message}"
    );
    let result = call(&client, "get_note", json!({})).await;
    assert!(
        text(&result).starts_with("Invalid arguments: `id`: required"),
        "{}",
        text(&result)
    );
    // Past `u64`: the published schema says so (`maximum`), and refuses it.
    let result = call(&client, "get_note", json!({"id": 1e30})).await;
    assert!(
        text(&result).starts_with("Invalid arguments: `id`: at most 18446744073709551615"),
        "{}",
        text(&result)
    );
    assert_eq!(notes.runs.load(Ordering::SeqCst), 0, "no refused call ran");
    // `1.0` is an integer to JSON Schema: the handler gets it as `1`.
    let result = call(&client, "get_note", json!({"id": 1.0})).await;
    assert_eq!(
        result.structured_content,
        Some(json!({"id": 1, "title": "first"}))
    );
}

/// Arguments whose own `Deserialize` fails with a message that must not reach the caller.
#[derive(Debug)]
struct Checked;

impl<'de> serde::Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let _ = serde::de::IgnoredAny::deserialize(deserializer)?;
        Err(serde::de::Error::custom(
            "lookup in /srv/secret/index.db failed: SELECT key FROM secrets",
        ))
    }
}

impl schemars::JsonSchema for Checked {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Checked".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "object"})
    }
}

#[derive(Clone, Default)]
struct Validating;

#[secure_tool_router]
impl Validating {
    /// Validates its arguments while parsing them.
    #[secure_tool(authz = public, mode = read)]
    async fn check(&self, args: Checked) -> Result<String, ToolError> {
        Ok(format!("{args:?}"))
    }
}

impl rmcp::ServerHandler for Validating {}

#[tokio::test]
async fn a_custom_deserializers_message_is_not_shown() {
    let client = connect_with(Validating, None).await;
    let result = call(&client, "check", json!({"anything": 1})).await;
    assert_eq!(category(&result).as_deref(), Some("invalid_input"));
    let wire = serde_json::to_string(&result).unwrap();
    assert!(
        !wire.contains("/srv/secret") && !wire.contains("SELECT"),
        "{wire}"
    );
    assert!(text(&result).contains("the value is not valid"), "{wire}");
}

#[tokio::test]
async fn failures_are_sanitized_with_an_incident_id() {
    let client = connect(Notes::default(), Some(reader())).await;
    let result = call(&client, "sync", json!({})).await;
    assert_eq!(result.is_error, Some(true));
    let error = crate::sanitize::error_facts(&result).unwrap();
    assert!(result.structured_content.is_none());
    assert_eq!(error["category"], "unavailable");
    assert_eq!(error["retryable"], true);
    assert_eq!(error["caller_fault"], false);
    let incident = error["incident_id"].as_str().unwrap();
    assert_eq!(incident.len(), 36);
    let wire = serde_json::to_string(&result).unwrap();
    assert!(wire.contains(incident));
    for secret in ["SELECT", "/var/lib", "secret.db", "refused"] {
        assert!(!wire.contains(secret), "{secret} leaked: {wire}");
    }
    let result = call(&client, "get_note", json!({"id": 2})).await;
    assert_eq!(category(&result).as_deref(), Some("not_found"));
    assert!(
        text(&result).starts_with("no note with this id."),
        "{}",
        text(&result)
    );
}

#[tokio::test]
async fn a_panicking_handler_is_an_internal_error_and_the_server_goes_on() {
    let client = connect(Notes::default(), Some(reader())).await;
    let result = call(&client, "explode", json!({})).await;
    assert_eq!(category(&result).as_deref(), Some("internal"));
    let wire = serde_json::to_string(&result).unwrap();
    assert!(
        !wire.contains("invariant") && !wire.contains("/src/secret"),
        "{wire}"
    );
    assert_eq!(text(&call(&client, "ping", json!({})).await), "pong");
}

#[tokio::test]
async fn unknown_tools_stay_protocol_errors() {
    let client = connect(Notes::default(), Some(reader())).await;
    let error = client
        .call_tool(CallToolRequestParams::new("nope"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("tool not found"), "{error}");
}

#[cfg(feature = "metrics")]
mod metrics;
mod rate;
mod resilience;
mod spans;

mod boundary;
mod completions;
mod context;
mod degradation;
mod future_sizes;
mod listen;
mod notifications;
mod panics;
mod prompt_macro;
mod prompts;
mod resource_macro;
mod resources;
mod rich;
mod subscriptions;

#[test]
fn the_manifest_states_every_tools_posture() {
    use rmcp::{tool, tool_router};

    #[derive(Clone, Default)]
    struct Plain;
    #[tool_router(router = plain_tools)]
    impl Plain {
        #[tool(description = "Liveness probe")]
        fn healthz(&self) -> String {
            "ok".into()
        }
    }
    impl rmcp::ServerHandler for Plain {}

    let server = SecureServer::builder(Notes::default())
        .authz_timeout(std::time::Duration::from_millis(750))
        .build();
    let manifest = serde_json::to_value(server.manifest()).unwrap();
    assert_eq!(manifest["format"], "secure-tool-manifest/7");
    assert_eq!(manifest["authz_timeout_ms"], 750);
    assert_eq!(manifest["server_policy"], Value::Null);
    assert_eq!(manifest["write_degradation"], false);
    let names: Vec<&str> = manifest["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "delete_note",
            "explode",
            "get_note",
            "ping",
            "slow_policy",
            "sync"
        ]
    );
    let tool = |name: &str| {
        manifest["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()
            .clone()
    };
    let delete = tool("delete_note");
    assert_eq!(delete["mode"], "write");
    assert_eq!(delete["max_concurrent_calls"], 64);
    assert_eq!(delete["title"], "Delete a note");
    assert_eq!(
        delete["authz"],
        json!({"policy": "roles: admin", "scopes": [], "roles": ["admin"], "public": false, "custom": false, "cedar_action": null})
    );
    assert_eq!(delete["annotations"]["destructiveHint"], true);
    assert_eq!(delete["deadline_ms"], 30_000);
    assert_eq!(delete["breaker"], Value::Null);
    assert_eq!(
        delete["argument_limits"],
        json!({
            "max_bytes": 262_144,
            "max_string_chars": 32_768,
            "max_array_items": 1024,
            "max_depth": 32,
            "max_properties": 256,
        })
    );
    assert_eq!(
        delete["input_schema"]["properties"]["id"]["type"],
        "integer"
    );
    assert_eq!(tool("ping")["authz"]["public"], true);
    assert_eq!(tool("slow_policy")["authz"]["custom"], true);
    assert_eq!(tool("get_note")["output_schema"]["type"], "object");
    assert_eq!(tool("get_note")["annotations"]["readOnlyHint"], true);
    assert_eq!(manifest["unguarded_tools"], json!([]));

    // The escape hatch shows, with its reason.
    let router = crate::SecureToolRouter::<Plain>::new()
        .with_unguarded_tools(Plain::plain_tools(), "constant answer, exposes nothing");
    let plain = crate::SecureServerBuilder::with_router(Plain, router).build();
    assert_eq!(
        serde_json::to_value(plain.manifest()).unwrap()["unguarded_tools"],
        json!([{"name": "healthz", "description": "Liveness probe", "reason": "constant answer, exposes nothing"}])
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_server_policy_denies_every_tool_before_its_own_policy() {
    let notes = Notes::default();
    let server = SecureServer::builder(notes.clone())
        .server_policy(crate::authz::custom(Hangs))
        .authz_timeout(std::time::Duration::from_millis(100))
        .build();
    let admin = Principal::new("root")
        .with_scopes(["notes:read"])
        .with_roles(["admin"]);
    for tool in ["ping", "get_note", "delete_note", "sync", "explode"] {
        let arguments = json!({"id": 1}).as_object().cloned();
        let result = server.call(tool, arguments, admin.clone()).await.unwrap();
        assert_eq!(result.is_error, Some(true), "{tool}");
        assert_eq!(
            crate::sanitize::error_facts(&result).unwrap()["category"],
            "denied",
            "{tool}"
        );
    }
    assert_eq!(notes.runs.load(Ordering::SeqCst), 0);
    assert_eq!(
        serde_json::to_value(server.manifest()).unwrap()["server_policy"],
        "custom: custom policy"
    );
}

/// A network client on a raw TCP socket, served with rmcp's plain `serve`, is anonymous
/// even though a local principal is configured: before, it got the local administrator's
/// rights. The same server served as trusted hands the local principal out.
#[tokio::test]
async fn a_tcp_client_is_anonymous_unless_the_transport_is_served_as_trusted() {
    let admin = Principal::new("local-admin")
        .with_scopes(["notes:read"])
        .with_roles(["admin"]);
    for trusted in [false, true] {
        let notes = Notes::default();
        let runs = notes.runs.clone();
        let server = SecureServer::builder(notes)
            .local_principal(admin.clone())
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let running = if trusted {
                server.serve_trusted(socket).await
            } else {
                server.serve(socket).await
            };
            let _ = running.expect("server starts").waiting().await;
        });
        let socket = tokio::net::TcpStream::connect(address).await.unwrap();
        let client = ().serve(socket).await.expect("client connects");
        for tool in ["get_note", "delete_note"] {
            let result = call(&client, tool, json!({"id": 1})).await;
            let expected = if trusted { None } else { Some("denied") };
            assert_eq!(
                category(&result).as_deref(),
                expected,
                "{tool}, trusted: {trusted}"
            );
        }
        assert_eq!(runs.load(Ordering::SeqCst), if trusted { 2 } else { 0 });
    }
}

/// The "Partial result" sentence is said for `Partial<T>` (through an alias too), and
/// never for a tool's own output that happens to have a `warnings: [{message}]` field.
#[tokio::test]
async fn only_a_partial_output_gets_the_partial_result_sentence() {
    use crate::partial::{Criticality, Partial, Warning};

    #[derive(serde::Serialize, schemars::JsonSchema)]
    struct Count {
        notes: u32,
    }
    #[derive(serde::Serialize, schemars::JsonSchema)]
    struct Lint {
        message: String,
    }
    /// A linter's answer: its warnings are its data, not missing parts.
    #[derive(serde::Serialize, schemars::JsonSchema)]
    struct Report {
        warnings: Vec<Lint>,
    }
    type Answer = Partial<Count>;

    #[derive(Clone)]
    struct Shapes;

    #[secure_tool_router]
    impl Shapes {
        /// An answer with a missing part.
        #[secure_tool(authz = public, mode = read)]
        async fn partial(&self) -> Result<Answer, ToolError> {
            let missing = ToolError::unavailable(std::io::Error::other("down"));
            Ok(Partial {
                value: Count { notes: 2 },
                warnings: vec![Warning::new(
                    "Statistics".into(),
                    Criticality::Optional,
                    &missing,
                )],
            })
        }

        /// A report whose warnings are its data.
        #[secure_tool(authz = public, mode = read)]
        async fn lint(&self) -> Result<Report, ToolError> {
            Ok(Report {
                warnings: vec![Lint {
                    message: "line 3 is long".into(),
                }],
            })
        }
    }
    impl rmcp::ServerHandler for Shapes {}

    let server = SecureServer::new(Shapes);
    let texts = |result: CallToolResult| -> Vec<String> {
        result
            .content
            .iter()
            .filter_map(|block| block.as_text().map(|text| text.text.clone()))
            .collect()
    };
    let partial = texts(
        server
            .call("partial", None, Principal::anonymous())
            .await
            .unwrap(),
    );
    assert_eq!(partial.len(), 2, "{partial:?}");
    assert!(
        partial[1].starts_with("Partial result. Warnings: "),
        "{partial:?}"
    );

    let lint = texts(
        server
            .call("lint", None, Principal::anonymous())
            .await
            .unwrap(),
    );
    assert_eq!(lint.len(), 1, "{lint:?}");
    assert!(
        !lint.iter().any(|text| text.contains("Partial result")),
        "{lint:?}"
    );
}

/// A client of a server with per-caller tool lists, calling as `principal`.
async fn connect_per_caller(principal: Principal) -> RunningService<RoleClient, ()> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = SecureServer::builder(Notes::default())
        .local_principal(principal)
        .tool_lists(crate::server::ToolLists::PerCaller)
        .build();
    tokio::spawn(async move {
        let running = server.serve_trusted(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    ().serve(client_io).await.unwrap()
}

#[tokio::test]
async fn per_caller_lists_show_what_the_caller_can_use_and_hide_the_rest_as_missing() {
    let client = connect_per_caller(reader()).await;
    let listed = client.list_tools(None).await.unwrap();
    let names: Vec<&str> = listed.tools.iter().map(|t| t.name.as_ref()).collect();
    // `hangs()` is a custom policy: it could let the reader in, so it stays visible.
    assert_eq!(
        names,
        ["explode", "get_note", "ping", "slow_policy", "sync"]
    );
    assert_eq!(listed.cache_scope, Some(rmcp::model::CacheScope::Private));

    // The admin's tool, hidden, is answered as a tool that does not exist: same error.
    let call = |name: &str| {
        let args: JsonObject = serde_json::from_value(json!({"id": 1})).unwrap();
        client.call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args))
    };
    let hidden = call("delete_note").await.unwrap_err();
    let missing = call("no_such_tool").await.unwrap_err();
    assert_eq!(hidden.to_string(), missing.to_string());
    assert!(!hidden.to_string().contains("delete_note"), "{hidden}");

    let admin = connect_per_caller(Principal::new("root").with_roles(["admin"])).await;
    let listed = admin.list_tools(None).await.unwrap();
    assert!(listed.tools.iter().any(|t| t.name == "delete_note"));
    // Without per-caller lists, everyone sees every tool and the list may be shared.
    let shared = connect(Notes::default(), Some(reader())).await;
    let listed = shared.list_tools(None).await.unwrap();
    assert!(listed.tools.iter().any(|t| t.name == "delete_note"));
    assert_eq!(listed.cache_scope, None);
}

/// rmcp's HTTP transport looks tools up by name without a caller, to check `Mcp-Param-*`
/// headers: with per-caller lists it finds only the tools everyone sees, so that a hidden
/// tool and a missing one are checked alike.
#[test]
fn a_tool_looked_up_without_a_caller_is_found_only_if_everyone_sees_it() {
    use rmcp::ServerHandler as _;
    let per_caller = SecureServer::builder(Notes::default())
        .tool_lists(crate::server::ToolLists::PerCaller)
        .build();
    assert!(per_caller.get_tool("ping").is_some(), "a public tool");
    assert!(
        per_caller.get_tool("get_note").is_none(),
        "a tool that needs a scope"
    );
    assert!(per_caller.get_tool("no_such_tool").is_none());
    let shared = SecureServer::new(Notes::default());
    assert!(shared.get_tool("get_note").is_some());
}

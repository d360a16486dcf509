//! Step-up through rmcp's streamable HTTP server behind axum: which calls get
//! `403 insufficient_scope`, with which scopes, and which keep the generic denial.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use http::{Request, StatusCode};
use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::authz::{AccessRequest, Authorize, Decision, PolicyFuture};
use crate::oauth::{Algorithm, BearerAuth, StepUpBody};
use crate::prelude::*;
use crate::server::ToolLists;

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "https://mcp.example.com/mcp";
const SECRET: &[u8] = b"a test-only secret of 32+ bytes!";
const METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

/// Allows everyone: a custom policy, whose answer is not known before it is asked.
struct Allows;

impl Authorize for Allows {
    fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
        Box::pin(async { Ok(Decision::Allow) })
    }
}

fn allows() -> crate::authz::Policy {
    crate::authz::custom(Allows)
}

#[derive(Clone, Default)]
struct Notes;

/// The parameter of `archive://{id}`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Id {
    id: u32,
}

#[secure_tool_router]
impl Notes {
    /// Lists the notes.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn list_notes(&self) -> Result<String, ToolError> {
        Ok("two notes".into())
    }

    /// Needs two scopes.
    #[secure_tool(authz = all_of([scopes("notes:read"), scopes("notes:export")]), mode = read)]
    async fn export_notes(&self) -> Result<String, ToolError> {
        Ok("exported".into())
    }

    /// Needs a role.
    #[secure_tool(authz = all_of([roles("admin"), scopes("notes:read")]), mode = read)]
    async fn audit_notes(&self) -> Result<String, ToolError> {
        Ok("audited".into())
    }

    /// A scope, or the policy service.
    #[secure_tool(authz = any_of([scopes("notes:purge"), allows()]), mode = read)]
    async fn purge_notes(&self) -> Result<String, ToolError> {
        Ok("purged".into())
    }

    /// One archived note.
    #[secure_resource(uri = "archive://{id}", name = "archived", authz = scopes("notes:archive"))]
    async fn archived(&self, uri: Id) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(uri.id.to_string()))
    }

    /// A summary prompt.
    #[secure_prompt(authz = scopes("notes:summarize"), name = "summary", description = "Summarize.")]
    async fn summary(&self) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user("Summarize the notes."))
    }

    /// Asks for a refresh token's scope too (a mistake the challenge does not repeat).
    #[secure_tool(authz = scopes(["notes:sync", "offline_access"]), mode = read)]
    async fn sync_notes(&self) -> Result<String, ToolError> {
        Ok("synced".into())
    }
}

impl rmcp::ServerHandler for Notes {}

fn app(tool_lists: ToolLists) -> Router {
    app_with(tool_lists, None)
}

fn app_with(tool_lists: ToolLists, server_policy: Option<crate::authz::Policy>) -> Router {
    let auth = BearerAuth::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret(SECRET)
        .algorithms([Algorithm::HS256])
        .roles_claim("roles")
        // A hierarchy with a cycle: `notes` ⊃ `notes:all` ⊃ {`notes:read`, `notes:export`, `notes`}.
        .scope_implies("notes", ["notes:all"])
        .scope_implies("notes:all", ["notes:read", "notes:export", "notes"])
        .scopes_supported(["notes:read", "offline_access"])
        .build()
        .unwrap();
    let mut server = SecureServer::builder(Notes).tool_lists(tool_lists);
    if let Some(policy) = server_policy {
        server = server.server_policy(policy);
    }
    let server = server.build();
    let scopes = server.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true),
    );
    let mut app = Router::new().route_service("/mcp", auth.layer(auth.step_up(mcp, scopes)));
    for path in auth.metadata_paths() {
        app = app.route_service(path, auth.metadata_service());
    }
    app
}

/// The bearer layer's configuration, with nothing but what a token is checked against.
fn bearer() -> BearerAuth {
    BearerAuth::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret(SECRET)
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap()
}

fn token(scope: &str, roles: &[&str]) -> String {
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "ada", "scope": scope, "roles": roles,
        "exp": get_current_timestamp() + 300,
    });
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap()
}

/// A request of `method` with `params`, as a 2025-11-25 client sends it (no headers naming
/// it).
fn request(method: &str, params: Value, token: &str) -> Request<Body> {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    post(body.to_string(), token)
}

/// A 2025-11-25 POST of `body` as a client sends it, with `token`.
fn post(body: impl Into<Body>, token: &str) -> Request<Body> {
    Request::post("http://localhost/mcp")
        .header("host", "localhost")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-11-25")
        .header("authorization", format!("Bearer {token}"))
        .body(body.into())
        .unwrap()
}

/// A `tools/call` of `tool`; with the 2026-07-28 headers naming it when `headers` is set
/// (the name as it is, or base64-encoded as the SDKs may send it).
fn call(tool: &str, token: &str, headers: Option<&str>) -> Request<Body> {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": {}},
    });
    let mut request = Request::post("http://localhost/mcp")
        .header("host", "localhost")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-11-25")
        .header("authorization", format!("Bearer {token}"));
    if let Some(name) = headers {
        request = request
            .header("mcp-method", "tools/call")
            .header("mcp-name", name);
    }
    request.body(Body::from(body.to_string())).unwrap()
}

/// The status, the `WWW-Authenticate` challenge, and the call's result when it got one.
async fn answer(app: Router, request: Request<Body>) -> (StatusCode, String, Value) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let result =
        serde_json::from_slice::<Value>(&bytes).map_or(Value::Null, |m| m["result"].clone());
    (status, challenge, result)
}

fn step_up(scope: &str) -> String {
    format!(
        "Bearer error=\"insufficient_scope\", scope=\"{scope}\", resource_metadata=\"{METADATA}\", \
         error_description=\"The access token lacks a scope this operation requires\""
    )
}

fn denied(result: &Value) -> bool {
    result["isError"] == true
        && result["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("denied"))
}

#[tokio::test]
async fn a_token_without_the_tool_s_scope_is_asked_to_step_up() {
    let log = crate::test_log::Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    let reader = token("notes:read", &[]);
    let (status, challenge, _) =
        answer(app(ToolLists::All), call("export_notes", &reader, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Every scope the call needs, in one challenge.
    assert_eq!(challenge, step_up("notes:export notes:read"));

    let nothing = token("profile", &[]);
    let (status, challenge, _) =
        answer(app(ToolLists::All), call("list_notes", &nothing, None)).await;
    assert_eq!(
        (status, challenge),
        (StatusCode::FORBIDDEN, step_up("notes:read"))
    );
    // Each challenge is a denial in the audit trail, with what was asked for.
    let log = log.text();
    let denials: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("secure_tool::audit") && line.contains("outcome=\"denied\""))
        .collect();
    assert_eq!(denials.len(), 2, "{log}");
    assert!(denials[0].contains("tool=\"export_notes\""), "{log}");
    assert!(
        denials[0]
            .contains("insufficient scope: asked the client to step up to notes:export notes:read"),
        "{log}"
    );
    assert!(denials[1].contains("tool=\"list_notes\""), "{log}");
}

#[tokio::test]
async fn a_tool_named_with_escapes_in_the_body_is_still_asked_for() {
    // `export\u005fnotes` is `export_notes`, written as JSON allows.
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"export\u005fnotes","arguments":{"deep":[{"a":1},"x"]}}}"#;
    let reader = token("notes:read", &[]);
    let (status, challenge, _) = answer(app(ToolLists::All), post(body, &reader)).await;
    assert_eq!(
        (status, challenge),
        (StatusCode::FORBIDDEN, step_up("notes:export notes:read"))
    );
}

#[tokio::test]
async fn the_2026_headers_name_the_tool_without_the_body_being_read() {
    let reader = token("notes:read", &[]);
    let encoded = format!(
        "=?base64?{}?=",
        base64::engine::general_purpose::STANDARD.encode("export_notes")
    );
    // The body names a tool the reader may call: only the headers tell of export_notes
    // (rmcp refuses such a mismatch; the challenge comes first).
    for name in ["export_notes", encoded.as_str()] {
        let (status, challenge, _) =
            answer(app(ToolLists::All), call("list_notes", &reader, Some(name))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        assert_eq!(challenge, step_up("notes:export notes:read"), "{name}");
    }
}

#[tokio::test]
async fn a_token_with_the_scopes_is_served() {
    let exporter = token("notes:read notes:export", &[]);
    let (status, _, result) =
        answer(app(ToolLists::All), call("export_notes", &exporter, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(result["content"][0]["text"], "exported", "{result}");
}

#[tokio::test]
async fn roles_and_custom_policies_keep_the_generic_denial() {
    let reader = token("notes:read", &[]);
    let (status, challenge, result) =
        answer(app(ToolLists::All), call("audit_notes", &reader, None)).await;
    assert_eq!((status, challenge.as_str()), (StatusCode::OK, ""));
    assert!(denied(&result), "{result}");
    // The custom part is asked (and allows): no challenge for the scope alternative.
    let (status, challenge, result) =
        answer(app(ToolLists::All), call("purge_notes", &reader, None)).await;
    assert_eq!((status, challenge.as_str()), (StatusCode::OK, ""));
    assert_eq!(result["content"][0]["text"], "purged", "{result}");
    // An administrator without the scope is asked for the scope.
    let admin = token("profile", &["admin"]);
    let (status, challenge, _) =
        answer(app(ToolLists::All), call("audit_notes", &admin, None)).await;
    assert_eq!(
        (status, challenge),
        (StatusCode::FORBIDDEN, step_up("notes:read"))
    );
}

#[tokio::test]
async fn offline_access_is_never_asked_for_nor_advertised() {
    let reader = token("notes:read", &[]);
    let (status, challenge, _) =
        answer(app(ToolLists::All), call("sync_notes", &reader, None)).await;
    assert_eq!(
        (status, challenge),
        (StatusCode::FORBIDDEN, step_up("notes:sync"))
    );
    let metadata = Request::get(METADATA).body(Body::empty()).unwrap();
    let response = app(ToolLists::All).oneshot(metadata).await.unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let document: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(document["scopes_supported"], json!(["notes:read"]));
}

#[tokio::test]
async fn a_hidden_or_unknown_tool_is_no_reason_for_a_challenge() {
    let nothing = token("profile", &[]);
    // With per-caller tool lists the caller does not see list_notes: a challenge would
    // tell it the tool exists.
    let (status, challenge, result) = answer(
        app(ToolLists::PerCaller),
        call("list_notes", &nothing, None),
    )
    .await;
    assert_eq!(
        (status, challenge.as_str()),
        (StatusCode::OK, ""),
        "{result}"
    );
    let (status, challenge, _) =
        answer(app(ToolLists::All), call("no_such_tool", &nothing, None)).await;
    assert_eq!((status, challenge.as_str()), (StatusCode::OK, ""));
}

/// A prompt or resource the caller may not use is "not found", as one that does not exist:
/// no challenge tells it otherwise.
#[tokio::test]
async fn prompts_and_resources_are_no_reason_for_a_challenge() {
    let reader = token("notes:read", &[]);
    let read = request("resources/read", json!({"uri": "archive://7"}), &reader);
    let (status, challenge, _) = answer(app(ToolLists::All), read).await;
    assert_eq!((status, challenge.as_str()), (StatusCode::OK, ""));
    let get = request("prompts/get", json!({"name": "summary"}), &reader);
    let (status, challenge, _) = answer(app(ToolLists::All), get).await;
    assert_eq!((status, challenge.as_str()), (StatusCode::OK, ""));
    let allowed = token("notes:archive", &[]);
    let read = request("resources/read", json!({"uri": "archive://7"}), &allowed);
    let (status, _, result) = answer(app(ToolLists::All), read).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(result["contents"][0]["text"], "7", "{result}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_it_is_parsed() {
    let reader = token("notes:read", &[]);
    let huge = format!("{{\"pad\": \"{}\"}}", " ".repeat(super::MAX_BODY));
    let request = Request::post("http://localhost/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {reader}"))
        .body(Body::from(huge))
        .unwrap();
    assert_eq!(
        answer(app(ToolLists::All), request).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn a_broader_scope_grants_the_narrower_ones_it_implies() {
    for broad in ["notes", "notes:all"] {
        let (status, challenge, result) = answer(
            app(ToolLists::All),
            call("export_notes", &token(broad, &[]), None),
        )
        .await;
        assert_eq!(
            (status, challenge.as_str()),
            (StatusCode::OK, ""),
            "{broad}"
        );
        assert_eq!(
            result["content"][0]["text"], "exported",
            "{broad}: {result}"
        );
    }
    // Implied scopes are not a way around the others.
    let (status, challenge, _) = answer(
        app(ToolLists::All),
        call("sync_notes", &token("notes", &[]), None),
    )
    .await;
    assert_eq!(
        (status, challenge),
        (StatusCode::FORBIDDEN, step_up("notes:sync"))
    );
}

/// The challenge names every scope the call needs, those the token holds included (the
/// server's policy's, an alternative met already): a client that asks for exactly these
/// keeps what it had.
#[tokio::test]
async fn the_challenge_names_the_scopes_held_that_the_call_still_needs() {
    let server_policy = Some(crate::authz::scopes("mcp:use"));
    let caller = token("mcp:use", &[]);
    let (status, challenge, _) = answer(
        app_with(ToolLists::All, server_policy.clone()),
        call("list_notes", &caller, None),
    )
    .await;
    assert_eq!(
        (status, challenge),
        (StatusCode::FORBIDDEN, step_up("mcp:use notes:read"))
    );
    let reader = token("notes:read", &[]);
    let (status, challenge, _) = answer(
        app_with(ToolLists::All, server_policy),
        call("list_notes", &reader, None),
    )
    .await;
    assert_eq!(
        (status, challenge),
        (StatusCode::FORBIDDEN, step_up("mcp:use notes:read"))
    );
}

#[test]
fn each_operation_is_known_by_its_method() {
    use crate::oauth::Operation;
    assert_eq!(
        Operation::of("tools/call", "t"),
        Some(Operation::CallTool("t"))
    );
    assert_eq!(
        Operation::of("prompts/get", "p"),
        Some(Operation::GetPrompt("p"))
    );
    assert_eq!(
        Operation::of("resources/read", "notes://1"),
        Some(Operation::ReadResource("notes://1"))
    );
    for other in [
        "tools/list",
        "resources/subscribe",
        "completion/complete",
        "",
    ] {
        assert_eq!(Operation::of(other, "x"), None, "{other}");
    }
}

/// A body under the limit is read whole and handed on; the layer shows what it wraps.
#[tokio::test]
async fn a_body_under_the_limit_goes_on() {
    let writer = token("notes:read notes:export", &[]);
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "export_notes", "arguments": {}},
        "_pad": " ".repeat(3 * 1024 * 1024),
    });
    let (status, _, result) = answer(app(ToolLists::All), post(body.to_string(), &writer)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(result["content"][0]["text"], "exported", "{result}");
    let auth = bearer();
    let shown = format!(
        "{:?}",
        auth.step_up("the inner service", SecureServer::new(Notes))
    );
    assert!(
        shown.contains("StepUp") && shown.contains("the inner service"),
        "{shown}"
    );
}

/// The layer is ready when the service it wraps is, not before.
#[tokio::test(start_paused = true)]
async fn the_layer_is_ready_only_when_the_inner_service_is() {
    use crate::oauth::tests::NeverReady;
    let auth = bearer();
    let mut layer = auth.step_up(NeverReady, SecureServer::new(Notes));
    let ready = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        tower::ServiceExt::<Request<StepUpBody<String>>>::ready(&mut layer),
    )
    .await;
    assert!(
        ready.is_err(),
        "the layer was ready before its inner service"
    );
}

/// A caller that holds every scope the server's policies name can be asked for none: its
/// 2025-11-25 requests go on with their body unread. One that lacks a scope has its body
/// read, whatever it calls.
#[tokio::test]
async fn a_caller_with_every_scope_is_handed_on_with_the_body_unread() {
    use http_body_util::Either;
    let auth = bearer();
    let server = SecureServer::new(Notes);
    let every = server.scopes().join(" ");
    let all_but_one = server.scopes()[1..].join(" ");
    // What the service behind the layer is handed: the body as it came, or as read.
    let inner = tower::service_fn(|request: Request<StepUpBody<Body>>| async move {
        let body = match request.body() {
            Either::Left(_) => "unread",
            Either::Right(_) => "read",
        };
        Ok::<_, std::convert::Infallible>(http::Response::new(Body::from(body)))
    });
    let app = Router::new().route_service("/mcp", auth.layer(auth.step_up(inner, server)));
    for (scopes, handed) in [(every.as_str(), "unread"), (all_but_one.as_str(), "read")] {
        // `list_notes` needs `notes:read` only, which both hold.
        let response = app
            .clone()
            .oneshot(call("list_notes", &token(scopes, &[]), None))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scopes}");
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(bytes, handed, "{scopes}");
    }
}

//! rmcp's streamable HTTP refusals through [`SafeErrors`]: what the client sent is never
//! quoted back, the status, the JSON-RPC code and id are kept, the text is logged under
//! the incident id, and answers that are not refusals pass untouched.

use std::sync::Arc;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::SafeErrors;
use crate::prelude::*;
use crate::test_log::Log;

#[derive(Clone, Default)]
struct Notes;

#[secure_tool_router]
impl Notes {
    /// Lists the notes.
    #[secure_tool(authz = public(), mode = read)]
    async fn list_notes(&self) -> Result<String, ToolError> {
        Ok("two notes".into())
    }
}

impl rmcp::ServerHandler for Notes {}

type Mcp = StreamableHttpService<SecureServer<Notes>, LocalSessionManager>;

/// rmcp's service of a secure server, 2026-07-28 requests only.
fn mcp() -> Mcp {
    mcp_with(
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true),
    )
}

fn mcp_with(config: StreamableHttpServerConfig) -> Mcp {
    let server = SecureServer::builder(Notes).build();
    StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

const MARK: &str = "MARK-from-the-client";

/// A 2026-07-28 request of `method` with `params`, and extra `headers`.
fn request(method: &str, params: Value, headers: &[(&str, &str)]) -> Request<Body> {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let body = json!({"jsonrpc": "2.0", "id": "call-7", "method": method, "params": params});
    let mut builder = Request::post("/mcp")
        .header("host", "localhost")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

/// The status, content type and body of `request` answered by `service`.
async fn answer<S, R>(service: S, request: Request<Body>) -> (StatusCode, String, String)
where
    S: tower::Service<Request<Body>, Response = http::Response<R>>,
    S::Error: std::fmt::Debug,
    R: http_body::Body,
    R::Error: std::fmt::Debug,
{
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn a_refusal_of_the_transport_never_quotes_the_request() {
    let log = Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    let refusals = [
        // The tool's name in the body and in `Mcp-Name` differ: both were quoted.
        request(
            "tools/call",
            json!({"name": MARK, "arguments": {}}),
            &[("mcp-name", "MARK-in-a-header")],
        ),
        // The same for a resource's URI.
        request(
            "resources/read",
            json!({"uri": format!("notes://{MARK}")}),
            &[("mcp-name", "notes://MARK-in-a-header")],
        ),
        // `Mcp-Method` and the body's method differ.
        request("tools/list", json!({}), &[("mcp-method", MARK)]),
    ];
    for refused in refusals {
        let (status, content_type, body) = answer(SafeErrors::new(mcp()), refused).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert!(!body.contains("MARK"), "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        // The code and the id are kept; the message is fixed, with the incident.
        assert_eq!(body["error"]["code"], -32020, "{body}");
        assert_eq!(body["id"], "call-7", "{body}");
        let incident = body["error"]["data"]["incident_id"].as_str().unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("The request's Mcp-* headers do not match its body"));
        assert!(message.contains(incident), "{message}");
        // What rmcp said is in the log, under the incident.
        let logged = log.text();
        assert!(
            logged.contains(incident) && logged.contains("MARK"),
            "{logged}"
        );
    }

    // A protocol version rmcp does not know, in the header of a request to a server that
    // also serves sessions: a plain-text refusal.
    let unknown = Request::post("/mcp")
        .header("host", "localhost")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", MARK)
        .body(Body::from(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string(),
        ))
        .unwrap();
    let sessions = SafeErrors::new(mcp_with(StreamableHttpServerConfig::default()));
    let (status, content_type, body) = answer(sessions, unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(body.starts_with("Bad Request. (incident "), "{body}");
    assert!(!body.contains("MARK"), "{body}");

    // The header and the request's own `_meta` name different versions.
    let mut differ = request("tools/list", json!({}), &[]);
    let meta_version = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": MARK,
            "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    }});
    *differ.body_mut() = Body::from(meta_version.to_string());
    let (status, _, body) = answer(SafeErrors::new(mcp()), differ).await;
    assert!(status.is_client_error(), "{status}: {body}");
    assert!(!body.contains("MARK"), "{body}");
    assert!(body.contains("incident"), "{body}");
}

#[tokio::test]
async fn the_same_requests_without_it_are_quoted_and_answers_that_are_not_refusals_pass() {
    // What the wrapper is for: rmcp alone quotes the request.
    let refused = request(
        "tools/call",
        json!({"name": MARK, "arguments": {}}),
        &[("mcp-name", "MARK-in-a-header")],
    );
    let (status, _, body) = answer(mcp(), refused).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains(MARK), "{body}");

    // A call that succeeds, and one the server answers with its own sanitized error (a
    // result, status 200): both untouched.
    for (name, expected) in [("list_notes", "two notes"), ("missing", "not found")] {
        let call = request(
            "tools/call",
            json!({"name": name, "arguments": {}}),
            &[("mcp-name", name)],
        );
        let (bare_status, _, bare) = answer(mcp(), call).await;
        let call = request(
            "tools/call",
            json!({"name": name, "arguments": {}}),
            &[("mcp-name", name)],
        );
        let (status, _, wrapped) = answer(SafeErrors::new(mcp()), call).await;
        assert_eq!(status, bare_status);
        assert_eq!(status, StatusCode::OK);
        assert!(wrapped.contains(expected), "{wrapped}");
        assert_eq!(
            serde_json::from_str::<Value>(&wrapped).unwrap(),
            serde_json::from_str::<Value>(&bare).unwrap()
        );
    }
}

/// A request naming, in its header and its `_meta` alike, a version the server does not
/// support.
fn unsupported() -> Request<Body> {
    let mut unsupported = request("tools/list", json!({}), &[]);
    unsupported
        .headers_mut()
        .insert("mcp-protocol-version", "2099-01-01".parse().unwrap());
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2099-01-01",
            "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    }});
    *unsupported.body_mut() = Body::from(body.to_string());
    unsupported
}

#[tokio::test]
async fn what_a_client_negotiates_with_is_kept() {
    // The versions the server supports stay in the answer (a client retries with one of
    // them); what the client asked for does not.
    let (bare_status, _, bare) = answer(mcp(), unsupported()).await;
    let (status, _, wrapped) = answer(SafeErrors::new(mcp()), unsupported()).await;
    assert_eq!(status, bare_status, "{bare}");
    let bare: Value = serde_json::from_str(&bare).unwrap();
    let wrapped: Value = serde_json::from_str(&wrapped).unwrap();
    assert_eq!(bare["error"]["code"], -32022, "{bare}");
    assert_eq!(wrapped["error"]["code"], -32022, "{wrapped}");
    assert_eq!(bare["error"]["data"]["requested"], "2099-01-01", "{bare}");
    assert!(
        wrapped["error"]["data"].get("requested").is_none(),
        "{wrapped}"
    );
    let supported = &wrapped["error"]["data"]["supported"];
    assert_eq!(supported, &bare["error"]["data"]["supported"], "{wrapped}");
    assert!(
        supported.as_array().is_some_and(|v| !v.is_empty()),
        "{wrapped}"
    );
    assert!(
        wrapped["error"]["data"]["incident_id"].is_string(),
        "{wrapped}"
    );
}

#[tokio::test]
async fn a_request_without_its_metadata_is_refused_as_invalid_params() {
    // A 2026-07-28 request without the client's identity in `_meta`: rmcp refuses it with
    // `-32602` and status 400, before the server sees it.
    let mut bare_meta = request("tools/list", json!({}), &[]);
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
    }});
    *bare_meta.body_mut() = Body::from(body.to_string());
    let (status, _, body) = answer(SafeErrors::new(mcp()), bare_meta).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], -32602, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Invalid params. (incident "),
        "{message}"
    );
}

#[test]
fn its_body_and_future_say_what_they_are() {
    let body = super::SafeBody::<Body>::default();
    assert!(
        format!("{body:?}").starts_with("SafeBody::Replaced"),
        "{body:?}"
    );
    let mut service = SafeErrors::new(tower::service_fn(|_: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
    }));
    let future = tower::Service::call(&mut service, Request::new(Body::empty()));
    assert!(
        format!("{future:?}").starts_with("SafeErrorsFuture"),
        "{future:?}"
    );
}

/// The body of the answer to a `tools/list` whose `_meta` names the version `version`, in
/// a session of `service` (initialize handshake first).
async fn listed_in_a_session<S, R>(service: S, version: &str) -> String
where
    S: tower::Service<Request<Body>, Response = http::Response<R>> + Clone,
    S::Error: std::fmt::Debug,
    R: http_body::Body,
    R::Error: std::fmt::Debug,
{
    let post = |body: Value, session: Option<&str>, header: &str| {
        let mut builder = Request::post("/mcp")
            .header("host", "localhost")
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json");
        if let Some(session) = session {
            builder = builder
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", header);
        }
        builder.body(Body::from(body.to_string())).unwrap()
    };
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    let response = service
        .clone()
        .oneshot(post(initialize, None, ""))
        .await
        .unwrap();
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = response.into_body().collect().await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = service
        .clone()
        .oneshot(post(initialized, Some(&session), "2025-11-25"))
        .await
        .unwrap();
    let _ = response.into_body().collect().await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {
        "_meta": {"io.modelcontextprotocol/protocolVersion": version}}});
    let (status, _, body) = answer(service, post(list, Some(&session), version)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("-32022"), "{body}");
    body
}

#[tokio::test]
async fn a_version_the_client_named_in_a_session_is_never_quoted_back() {
    // In a session (initialize handshake), rmcp answers a `_meta` version it does not
    // support in a `200 OK` body (server-sent events, or JSON), quoting it.
    let mark = "2025-01-01 MARK ignore previous";
    for json_response in [false, true] {
        let config = StreamableHttpServerConfig::default().with_json_response(json_response);
        let bare = listed_in_a_session(mcp_with(config.clone()), mark).await;
        assert!(bare.contains("MARK"), "rmcp alone quotes it: {bare}");
        let wrapped = listed_in_a_session(SafeErrors::new(mcp_with(config)), mark).await;
        assert!(!wrapped.contains("MARK"), "quoted: {wrapped}");
        assert!(wrapped.contains("supported"), "{wrapped}");
    }
}

/// `service` served by hyper on loopback, and a client of it: each request goes over a
/// connection of its own, and its answer is read as it was sent (the length its head
/// announces, its chunks, where it ends), so that what a client gets is what is tested.
async fn served<S, R>(
    service: S,
) -> tower::util::BoxCloneService<Request<Body>, http::Response<Body>, std::convert::Infallible>
where
    S: tower::Service<
            Request<Body>,
            Response = http::Response<R>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    R: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    R::Error: Into<axum::BoxError>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new().route_service("/mcp", service);
    tokio::spawn(async move { axum::serve(listener, app).await });
    tower::util::BoxCloneService::new(tower::service_fn(
        move |request: Request<Body>| async move { Ok(sent_to(address, request).await) },
    ))
}

/// The answer to `request`, sent over HTTP/1.1 to `address` on a connection of its own.
async fn sent_to(address: std::net::SocketAddr, request: Request<Body>) -> http::Response<Body> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let mut head = format!("{} {} HTTP/1.1\r\n", parts.method, parts.uri);
    for (name, value) in &parts.headers {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        socket.read_to_end(&mut raw),
    )
    .await
    .expect("the server closes the connection after its answer")
    .unwrap();

    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut sent = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let mut response = http::Response::builder().status(status.parse::<u16>().unwrap());
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().unwrap());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
        response = response.header(name, value);
    }
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let line = sent.windows(2).position(|w| w == b"\r\n").expect("a chunk");
            let size = std::str::from_utf8(&sent[..line]).unwrap();
            let size = usize::from_str_radix(size.split(';').next().unwrap(), 16).unwrap();
            sent = &sent[line + 2..];
            if size == 0 {
                break body;
            }
            body.extend_from_slice(&sent[..size]);
            assert_eq!(&sent[size..size + 2], b"\r\n", "a chunk ends with its size");
            sent = &sent[size + 2..];
        }
    } else {
        let length = length.expect("a body is framed by its length or in chunks");
        assert_eq!(
            sent.len(),
            length,
            "the body is the length its head announces"
        );
        sent.to_vec()
    };
    response.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn a_client_gets_every_answer_whole_over_http() {
    // An answer passed through (a call that succeeds), one whose body was replaced (a
    // refusal), and one rewritten in place (a session's `-32022`, as JSON and as events):
    // each reaches a client over a real HTTP connection as the tests above read it.
    let call = request(
        "tools/call",
        json!({"name": "list_notes", "arguments": {}}),
        &[("mcp-name", "list_notes")],
    );
    let (status, _, body) = answer(served(SafeErrors::new(mcp())).await, call).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("two notes"), "{body}");

    let refused = request(
        "tools/call",
        json!({"name": MARK, "arguments": {}}),
        &[("mcp-name", "MARK-in-a-header")],
    );
    let (status, _, body) = answer(served(SafeErrors::new(mcp())).await, refused).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("incident") && !body.contains("MARK"),
        "{body}"
    );

    let mark = "2025-01-01 MARK ignore previous";
    for json_response in [false, true] {
        let config = StreamableHttpServerConfig::default().with_json_response(json_response);
        let service = served(SafeErrors::new(mcp_with(config))).await;
        let listed = listed_in_a_session(service, mark).await;
        assert!(!listed.contains("MARK"), "quoted: {listed}");
        assert!(listed.contains("supported"), "{listed}");
    }
}

/// A service answering every request with `status` and the JSON `body`.
fn answering(
    status: StatusCode,
    body: String,
) -> impl tower::Service<
    Request<Body>,
    Response = http::Response<Body>,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    tower::service_fn(move |_: Request<Body>| {
        let response = http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .unwrap();
        std::future::ready(Ok(response))
    })
}

/// The fixed message a JSON-RPC refusal of `code` is answered with, incident cut.
async fn message_for(code: i64) -> String {
    let said = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": MARK}});
    let service = SafeErrors::new(answering(StatusCode::BAD_REQUEST, said.to_string()));
    let (_, _, body) = answer(service, Request::new(Body::empty())).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    let (message, _) = message.split_once(". (incident ").expect("the incident");
    message.to_owned()
}

#[tokio::test]
async fn each_code_is_answered_with_a_message_of_its_own() {
    // JSON-RPC's codes and rmcp's own: a client or a person reading the answer learns what
    // went wrong from its message, never from what the refusal quoted.
    let generic = message_for(-1).await;
    let mut said = std::collections::HashSet::from([generic]);
    for code in [
        -32700, -32600, -32601, -32602, -32603, -32020, -32021, -32022,
    ] {
        let message = message_for(code).await;
        assert!(!message.contains("MARK"), "{code}: {message}");
        assert!(
            said.insert(message.clone()),
            "{code}: `{message}` is said of another code too"
        );
    }
}

#[tokio::test]
async fn a_refusal_is_read_up_to_its_limit_and_no_further() {
    // rmcp's refusals quote both sides of a mismatch: a long tool name makes one of some
    // kilobytes, still read, so its code is kept.
    let long = "MARK".repeat(1_000);
    let refused = request(
        "tools/call",
        json!({"name": long, "arguments": {}}),
        &[("mcp-name", "MARK-in-a-header")],
    );
    let (status, content_type, body) = answer(SafeErrors::new(mcp()), refused).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(content_type.starts_with("application/json"), "{body}");
    assert!(body.contains("-32020") && !body.contains("MARK"), "{body}");

    // A refusal of the most read is read; past it, it is replaced unread, as text.
    let refusal = |length: usize| {
        let mut said = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601}}).to_string();
        said.push_str(&" ".repeat(length - said.len()));
        said
    };
    for (length, read) in [(super::MAX_READ, true), (super::MAX_READ + 1, false)] {
        let service = SafeErrors::new(answering(StatusCode::NOT_FOUND, refusal(length)));
        let (status, content_type, body) = answer(service, Request::new(Body::empty())).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            content_type.starts_with("application/json"),
            read,
            "{length}: {body}"
        );
        assert_eq!(body.contains("-32601"), read, "{length}: {body}");
    }
}

#[test]
fn it_is_ready_when_the_service_it_wraps_is() {
    use std::task::{Context, Poll, Waker};

    /// Not ready at first, then failing.
    struct Busy(bool);
    impl tower::Service<Request<Body>> for Busy {
        type Response = http::Response<Body>;
        type Error = &'static str;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            if std::mem::replace(&mut self.0, true) {
                Poll::Ready(Err("gone"))
            } else {
                Poll::Pending
            }
        }
        fn call(&mut self, _: Request<Body>) -> Self::Future {
            unreachable!("never ready")
        }
    }
    let mut service = SafeErrors::new(Busy(false));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(tower::Service::poll_ready(&mut service, &mut cx).is_pending());
    assert_eq!(
        tower::Service::poll_ready(&mut service, &mut cx),
        Poll::Ready(Err("gone"))
    );
}

#[tokio::test]
async fn its_body_announces_its_length_and_its_end() {
    use http_body::Body as _;
    use http_body_util::Full;

    // What hyper frames an answer by: the exact length when it is known, and whether
    // anything is left to send.
    let passed = super::SafeBody::passed(Full::new(bytes::Bytes::from_static(b"two notes")));
    let replaced = super::SafeBody::<Full<bytes::Bytes>>::replaced("refused".to_owned());
    for (mut body, length) in [(passed, 9), (replaced, 7)] {
        assert_eq!(body.size_hint().exact(), Some(length));
        assert!(!body.is_end_stream());
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(
            frame.data_ref().map(bytes::Bytes::len),
            Some(length as usize)
        );
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
    }
    let empty = super::SafeBody::passed(Full::new(bytes::Bytes::new()));
    assert!(empty.is_end_stream());
    assert!(super::SafeBody::<Full<bytes::Bytes>>::default().is_end_stream());
}

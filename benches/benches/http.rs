//! Serving over MCP's streamable HTTP transport, where users deploy: throughput, latency and
//! memory of a secure-tool server against a bare rmcp server with the same tool.
//!
//! - **(a) bare**: rmcp's `StreamableHttpService` behind axum, serving a `#[tool]`.
//! - **(b) secure**: the same tool as `#[secure_tool(authz = scopes(..), breaker = ..,
//!   timeout = ..)]` served by `SecureServer`, behind the bearer-token check (HS256 JWT,
//!   verified on every request), the step-up layer and session binding, as the notes example
//!   serves it.
//!
//! Each server runs in a child process of this binary (release mode, two tokio workers,
//! loopback), so that its memory can be read alone: the child counts its own allocations
//! and answers `live` on its stdin with the bytes it holds. The load client is a minimal
//! hyper HTTP/1.1 client in this process, one connection per simulated client, sending the
//! same bytes to both servers (the bare server ignores the `Authorization` header), so the
//! client's own cost is small and equal on both sides.
//!
//! Two ways of serving, both measured:
//! - **2026-07-28, stateless**: every `tools/call` stands alone (no session; the protocol
//!   metadata in its `_meta`), answered as `application/json`.
//! - **2025-11-25, sessions**: each client opens a session (`initialize`, then
//!   `notifications/initialized`) before the measured window, and its calls carry
//!   `Mcp-Session-Id`, answered as an SSE stream.
//!
//! At 1, 16 and 64 concurrent clients the two servers are driven in alternating windows
//! (ABBA, [`ROUNDS`] rounds of [`WINDOW`] each): throughput is the median of the windows'
//! calls per second, p99 the 99th percentile of every call's latency. Targets: secure-tool's
//! throughput ≥ 0.9× the bare server's, p99 ≤ 1.2×.
//!
//! Memory: 1,000 idle 2025-11-25 sessions opened on each server (bytes held per session),
//! and 256 stateless calls held in flight by a tool that waits for a release (bytes held
//! per call in flight, its connection included). Target: within 10 % of the bare server.
//!
//! `cargo bench -p secure-tool-benches --bench http` (~2 min); `cargo test -p
//! secure-tool-benches --bench http` runs a short version of each part as a smoke test.

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::serve::ListenerExt as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rmcp::handler::server::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use secure_tool::oauth::{
    Algorithm, BearerAuth, BindSessions, Operation, SafeErrors, ScopeChallenge,
};
use secure_tool::prelude::*;
use secure_tool::resilience::Dependency;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Alternating windows per concurrency level and side.
const ROUNDS: usize = 6;
/// One measured window.
const WINDOW: Duration = Duration::from_millis(1000);
/// Concurrent clients.
const LEVELS: [usize; 3] = [1, 16, 64];
/// Idle sessions opened for the memory figure.
const SESSIONS: usize = 1000;
/// Stateless calls held in flight for the memory figure.
const IN_FLIGHT: usize = 256;

const SECRET: &[u8] = b"a secret for the benchmark's tokens, 32+ bytes";
const ISSUER: &str = "https://issuer.bench.invalid";
const AUDIENCE: &str = "https://mcp.bench.invalid/mcp";
const SCOPE: &str = "records:read";
/// The variable that makes this binary a server.
const SERVE: &str = "SECURE_TOOL_HTTP_BENCH_SERVE";
/// The variable that runs one server alone under load, to profile it.
const PROFILE: &str = "SECURE_TOOL_HTTP_BENCH_PROFILE";
/// How many clients load the server profiled (one if unset).
const PROFILE_CLIENTS: &str = "SECURE_TOOL_HTTP_BENCH_CLIENTS";
/// One application called in process in a loop, for an instruction profile ([`profile_app`]).
const PROFILE_APP: &str = "SECURE_TOOL_HTTP_BENCH_APP";

// ---------------------------------------------------------------------------------------
// The tool, written twice.

#[derive(Debug, Deserialize, JsonSchema)]
struct Lookup {
    /// The record's id.
    id: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Record {
    id: u64,
    name: String,
}

fn record(id: u64) -> Record {
    Record {
        id,
        name: format!("record {id}"),
    }
}

/// Calls of `hold` waiting for the release, and the release.
static HELD: AtomicUsize = AtomicUsize::new(0);
static GATE: Semaphore = Semaphore::const_new(0);

async fn held(id: u64) -> Record {
    HELD.fetch_add(1, Ordering::SeqCst);
    let _permit = GATE.acquire().await;
    record(id)
}

#[derive(Clone)]
struct Secured {
    store: Dependency,
}

#[secure_tool_router]
impl Secured {
    /// Looks a record up.
    #[secure_tool(authz = scopes("records:read"), mode = read, breaker = self.store, timeout = "5s")]
    async fn lookup(&self, args: Lookup) -> Result<Record, ToolError> {
        Ok(record(args.id))
    }

    /// Looks a record up once released.
    #[secure_tool(authz = scopes("records:read"), mode = read, timeout = "60s")]
    async fn hold(&self, args: Lookup) -> Result<Record, ToolError> {
        Ok(held(args.id).await)
    }
}

impl ServerHandler for Secured {}

#[derive(Clone)]
struct Bare {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Bare {
    /// Looks a record up.
    #[tool(description = "Looks a record up.")]
    async fn lookup(
        &self,
        Parameters(args): Parameters<Lookup>,
    ) -> Result<Json<Record>, ErrorData> {
        Ok(Json(record(args.id)))
    }

    /// Looks a record up once released.
    #[tool(description = "Looks a record up once released.")]
    async fn hold(&self, Parameters(args): Parameters<Lookup>) -> Result<Json<Record>, ErrorData> {
        Ok(Json(held(args.id).await))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Bare {}

// ---------------------------------------------------------------------------------------
// The server side (a child process).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Bare,
    /// `SecureServer` alone, without the bearer check, step-up or session binding.
    Server,
    Secure,
}

impl Side {
    fn parse(name: &str) -> Self {
        match name {
            "bare" => Side::Bare,
            "server" => Side::Server,
            "secure" => Side::Secure,
            other => panic!("no side {other:?}: bare, server or secure"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Side::Bare => "bare",
            Side::Server => "server",
            Side::Secure => "secure",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// 2026-07-28: every request alone.
    Stateless,
    /// 2025-11-25: a session per client.
    Sessions,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Stateless => "stateless",
            Mode::Sessions => "sessions",
        }
    }

    fn config(self) -> StreamableHttpServerConfig {
        match self {
            Mode::Stateless => StreamableHttpServerConfig::default()
                .with_legacy_session_mode(false)
                .with_json_response(true),
            Mode::Sessions => StreamableHttpServerConfig::default(),
        }
    }
}

fn bare_app(mode: Mode) -> Router {
    let server = Bare {
        tool_router: Bare::tool_router(),
    };
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        mode.config(),
    );
    Router::new().route_service("/mcp", mcp)
}

fn secure_server() -> SecureServer<Secured> {
    SecureServer::builder(Secured {
        store: Dependency::new("store").max_concurrent(4 * IN_FLIGHT),
    })
    .max_concurrent_calls(4 * IN_FLIGHT)
    .build()
}

/// `SecureServer` served as the bare server is, without the HTTP layers; the caller the
/// bearer check would have put in each request's extensions is put there by axum.
fn server_app(mode: Mode) -> Router {
    let server = secure_server();
    let caller = Principal::new("bench").with_scopes([SCOPE]);
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        mode.config(),
    );
    Router::new()
        .route_service("/mcp", mcp)
        .layer(axum::Extension(caller))
}

fn secure_app(mode: Mode) -> Router {
    let server = secure_server();
    let auth = BearerAuth::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret(SECRET)
        .algorithms([Algorithm::HS256])
        .scopes_supported(server.scopes())
        .build()
        .expect("the bench's OAuth configuration");
    let sessions = Arc::new(LocalSessionManager::default());
    let challenges = server.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::clone(&sessions),
        mode.config(),
    );
    // One subject opens every session of the memory measurement: its share is raised to
    // hold them (the bare server has no such bound).
    let bound =
        BindSessions::new(SafeErrors::new(mcp), sessions).max_sessions_per_subject(2 * SESSIONS);
    let mcp = auth.step_up(bound, challenges);
    Router::new().route_service("/mcp", auth.layer(mcp))
}

/// Bytes this process holds: allocated, less freed, plus what reallocations added.
fn live_bytes() -> i128 {
    let stats = support::STATS.stats();
    i128::try_from(stats.bytes_allocated).unwrap_or(i128::MAX)
        - i128::try_from(stats.bytes_deallocated).unwrap_or(i128::MAX)
        + i128::try_from(stats.bytes_reallocated).unwrap_or(i128::MAX)
}

/// Serves `side` in `mode` on a loopback port until stdin closes, printing `PORT <n>` once
/// bound; answers `live` (bytes held), `held` (calls of `hold` waiting) and `release`.
fn serve(side: Side, mode: Mode) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let port = listener.local_addr().expect("the bound address").port();
    let app = match side {
        Side::Bare => bare_app(mode),
        Side::Server => server_app(mode),
        Side::Secure => secure_app(mode),
    };
    // As the notes example serves: without it, an SSE answer written in two parts waits
    // for the client's delayed ACK (~40 ms).
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    runtime.spawn(async move { axum::serve(listener, app).await });
    println!("PORT {port}");
    let mut out = std::io::stdout();
    for line in std::io::stdin().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            "live" => writeln!(out, "LIVE {}", live_bytes()),
            "held" => writeln!(out, "HELD {}", HELD.load(Ordering::SeqCst)),
            "release" => {
                GATE.add_permits(Semaphore::MAX_PERMITS / 2);
                writeln!(out, "RELEASED")
            }
            other => writeln!(out, "UNKNOWN {other}"),
        }
        .and_then(|()| out.flush())
        .expect("the parent's pipe");
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
}

/// A server child, killed when dropped.
struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl Server {
    fn start(side: Side, mode: Mode) -> Self {
        let exe = std::env::current_exe().expect("this binary's path");
        let mut child = Command::new(exe)
            .env(SERVE, format!("{}:{}", side.name(), mode.name()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server child");
        let stdin = child.stdin.take().expect("its stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("its stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("its port");
        let port: u16 = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the child did not say its port: {line:?}"));
        Self {
            child,
            stdin,
            stdout,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}")
            .and_then(|()| self.stdin.flush())
            .expect("the child's stdin");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("the child's answer");
        line.trim().to_owned()
    }

    fn number(&mut self, command: &str) -> i128 {
        let answer = self.ask(command);
        answer
            .split_once(' ')
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or_else(|| panic!("{command}: {answer:?}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// The load client.

fn token() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    let claims = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "bench",
        "scope": SCOPE,
        "iat": now,
        "exp": now + 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET).expect("an HMAC key"),
    )
    .expect("a signed token")
}

/// One simulated client: one HTTP/1.1 connection, and its session if it has one.
struct Client {
    sender: SendRequest<Full<Bytes>>,
    authorization: Arc<str>,
    mode: Mode,
    session: Option<String>,
    calls: u64,
}

/// What a request got back.
struct Answer {
    status: StatusCode,
    session: Option<String>,
    body: Bytes,
}

impl Client {
    async fn connect(addr: SocketAddr, authorization: Arc<str>, mode: Mode) -> Self {
        let stream = TcpStream::connect(addr).await.expect("the server's port");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("an HTTP/1.1 connection");
        tokio::spawn(connection);
        let mut client = Self {
            sender,
            authorization,
            mode,
            session: None,
            calls: 0,
        };
        if mode == Mode::Sessions {
            client.open_session().await;
        }
        client
    }

    /// Posts `body`; `tool` names the tool a 2026-07-28 `tools/call` calls (its
    /// `Mcp-Method` and `Mcp-Name` headers).
    async fn post(&mut self, body: String, tool: Option<&str>) -> Answer {
        let version = match self.mode {
            Mode::Stateless => "2026-07-28",
            Mode::Sessions => "2025-11-25",
        };
        let mut request = Request::post("/mcp")
            .header("host", "127.0.0.1")
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("authorization", &*self.authorization);
        if self.session.is_some() || !body.contains("\"initialize\"") {
            request = request.header("mcp-protocol-version", version);
        }
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        if let (Mode::Stateless, Some(tool)) = (self.mode, tool) {
            request = request
                .header("mcp-method", "tools/call")
                .header("mcp-name", tool);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .expect("a request");
        self.sender.ready().await.expect("the connection");
        let response = self.sender.send_request(request).await.expect("an answer");
        let status = response.status();
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the answer's body")
            .to_bytes();
        Answer {
            status,
            session,
            body,
        }
    }

    async fn open_session(&mut self) {
        let initialize = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "http-bench", "version": "1"},
            },
        });
        let answer = self.post(initialize.to_string(), None).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "initialize: {:?}",
            answer.body
        );
        self.session = Some(answer.session.expect("a session id"));
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let answer = self.post(initialized.to_string(), None).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
    }

    fn call_body(&mut self, tool: &str) -> String {
        self.calls += 1;
        let id = self.calls;
        let mut params = json!({"name": tool, "arguments": {"id": id}});
        if self.mode == Mode::Stateless {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "http-bench", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {},
            });
        }
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}).to_string()
    }

    /// Calls `tool` once and checks that it succeeded.
    async fn call(&mut self, tool: &str) {
        let body = self.call_body(tool);
        let answer = self.post(body, Some(tool)).await;
        let text = String::from_utf8_lossy(&answer.body);
        assert!(
            answer.status == StatusCode::OK && text.contains("\"isError\":false"),
            "{} {tool}: {} {text}",
            self.mode.name(),
            answer.status
        );
    }
}

/// Latencies and the count of calls of one side, over its windows.
#[derive(Default)]
struct Tally {
    per_second: Vec<f64>,
    latencies: Vec<Duration>,
}

/// Runs `clients` against their server for `window`, each calling `lookup` in a loop.
async fn window(clients: Vec<Client>, window: Duration, tally: &mut Tally) -> Vec<Client> {
    let start = Instant::now();
    let end = start + window;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(4096);
                while Instant::now() < end {
                    let sent = Instant::now();
                    client.call("lookup").await;
                    latencies.push(sent.elapsed());
                }
                (client, latencies)
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(tasks.len());
    let mut calls = 0;
    for task in tasks {
        let (client, latencies) = task.await.expect("a client task");
        calls += latencies.len();
        tally.latencies.extend(latencies);
        clients.push(client);
    }
    let elapsed = start.elapsed().as_secs_f64();
    tally.per_second.push(f64_from(calls) / elapsed);
    clients
}

fn f64_from(n: usize) -> f64 {
    u32::try_from(n).map_or(f64::MAX, f64::from)
}

async fn clients(server: &Server, n: usize, authorization: &Arc<str>, mode: Mode) -> Vec<Client> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let mut client = Client::connect(server.addr, Arc::clone(authorization), mode).await;
        client.call("lookup").await;
        clients.push(client);
    }
    clients
}

/// One row of the throughput table: `subject` against `baseline`.
struct LoadRow {
    mode: Mode,
    concurrency: usize,
    baseline: Side,
    subject: Side,
    bare: Tally,
    secure: Tally,
}

async fn load(
    mode: Mode,
    (baseline, subject): (Side, Side),
    levels: &[usize],
    rounds: usize,
    length: Duration,
) -> Vec<LoadRow> {
    let authorization: Arc<str> = format!("Bearer {}", token()).into();
    let bare = Server::start(baseline, mode);
    let secure = Server::start(subject, mode);
    let mut rows = Vec::new();
    for &concurrency in levels {
        let mut a = clients(&bare, concurrency, &authorization, mode).await;
        let mut b = clients(&secure, concurrency, &authorization, mode).await;
        let mut row = LoadRow {
            mode,
            concurrency,
            baseline,
            subject,
            bare: Tally::default(),
            secure: Tally::default(),
        };
        for round in 0..rounds {
            if round % 2 == 0 {
                a = window(a, length, &mut row.bare).await;
                b = window(b, length, &mut row.secure).await;
            } else {
                b = window(b, length, &mut row.secure).await;
                a = window(a, length, &mut row.bare).await;
            }
        }
        rows.push(row);
    }
    drop((bare, secure));
    rows
}

/// One client calling `side` for 20 s, for a profiler attached to the server's child.
async fn profile(side: Side, mode: Mode) {
    let authorization: Arc<str> = format!("Bearer {}", token()).into();
    let server = Server::start(side, mode);
    println!("server pid {}", server.child.id());
    let count = std::env::var(PROFILE_CLIENTS)
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(1);
    let clients = clients(&server, count, &authorization, mode).await;
    let mut tally = Tally::default();
    window(clients, Duration::from_secs(20), &mut tally).await;
    println!("{:.0} calls/s", tally.per_second[0]);
}

/// Bytes held per idle session, opened `sessions` at a time over 8 connections.
async fn memory_per_session(side: Side, sessions: usize, authorization: &Arc<str>) -> f64 {
    let mut server = Server::start(side, Mode::Sessions);
    // Warm up: one session, one call (lazy statics, the router's first use).
    let mut first = Client::connect(server.addr, Arc::clone(authorization), Mode::Sessions).await;
    first.call("lookup").await;
    let before = server.number("live");
    let per_task = sessions / 8;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let authorization = Arc::clone(authorization);
            let addr = server.addr;
            tokio::spawn(async move {
                let mut client = Client::connect(addr, authorization, Mode::Sessions).await;
                for _ in 1..per_task {
                    client.session = None;
                    client.open_session().await;
                }
                client
            })
        })
        .collect();
    let mut open = Vec::new();
    for task in tasks {
        open.push(task.await.expect("a client task"));
    }
    // A round trip after the last session opened, on the first one.
    first.call("lookup").await;
    let after = server.number("live");
    drop(open);
    i128_per(after - before, per_task * 8)
}

/// Bytes held per stateless call in flight (its connection included).
async fn memory_per_call_in_flight(side: Side, calls: usize, authorization: &Arc<str>) -> f64 {
    let mut server = Server::start(side, Mode::Stateless);
    let mut first = Client::connect(server.addr, Arc::clone(authorization), Mode::Stateless).await;
    first.call("lookup").await;
    let before = server.number("live");
    let mut tasks = Vec::with_capacity(calls);
    for _ in 0..calls {
        let mut client =
            Client::connect(server.addr, Arc::clone(authorization), Mode::Stateless).await;
        tasks.push(tokio::spawn(async move { client.call("hold").await }));
    }
    let waiting_since = Instant::now();
    while usize::try_from(server.number("held")).unwrap_or(0) < calls {
        assert!(
            waiting_since.elapsed() < Duration::from_secs(30),
            "{} calls of `hold` never arrived",
            side.name()
        );
        tokio::task::yield_now().await;
    }
    let during = server.number("live");
    server.ask("release");
    for task in tasks {
        task.await.expect("a held call");
    }
    i128_per(during - before, calls)
}

fn i128_per(bytes: i128, n: usize) -> f64 {
    let bytes = i32::try_from(bytes).map_or(f64::NAN, f64::from);
    bytes / f64_from(n)
}

// ---------------------------------------------------------------------------------------
// The HTTP layers alone, in process.

/// The innermost service of the layer comparisons: answers `200` at once, whatever the body.
#[derive(Clone, Copy)]
struct Sink;

impl<B> tower::Service<Request<B>> for Sink {
    type Response = hyper::Response<axum::body::Body>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        std::future::ready(Ok(hyper::Response::new(axum::body::Body::empty())))
    }
}

/// A `tools/call` of `lookup` as a client sends it, with the caller the bearer check puts
/// in when `caller` is set.
fn lookup_request(authorization: &str, stateless: bool, caller: bool) -> Request<axum::body::Body> {
    let body = if stateless {
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"lookup","arguments":{"id":7},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"http-bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}"#
    } else {
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"lookup","arguments":{"id":7}}}"#
    };
    let mut request = Request::post("/mcp")
        .header("host", "127.0.0.1")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("authorization", authorization);
    request = if stateless {
        request
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "lookup")
    } else {
        request
            .header("mcp-protocol-version", "2025-11-25")
            .header("mcp-session-id", "0b5c3e0e-6a47-4b4f-9c54-2a4f1d1f6e3a")
    };
    if caller {
        request = request.extension(Principal::new("bench").with_scopes([SCOPE]));
    }
    request
        .body(axum::body::Body::from(body))
        .expect("a request")
}

/// Sends `request` through `service` (made ready first, as tower asks) and checks that it
/// is answered with success.
fn answered<S>(service: &mut S, request: Request<axum::body::Body>)
where
    S: tower::Service<Request<axum::body::Body>, Response = hyper::Response<axum::body::Body>>,
    S::Error: std::fmt::Debug,
{
    support::block_on(std::future::poll_fn(|cx| service.poll_ready(cx))).expect("ready");
    let response = support::block_on(service.call(request)).expect("an answer");
    assert!(response.status().is_success(), "{}", response.status());
}

/// What each HTTP layer of the secure stack costs a request, against the request answered
/// without it (the same request built on both sides).
fn layer_comparisons() -> Vec<support::Comparison> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let _entered = runtime.enter();
    let authorization = format!("Bearer {}", token());
    let auth = |cache: usize| {
        BearerAuth::builder()
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .hmac_secret(SECRET)
            .algorithms([Algorithm::HS256])
            .verified_token_cache(cache)
            .build()
            .expect("the bench's OAuth configuration")
    };
    let cached = auth(secure_tool::oauth::DEFAULT_VERIFIED_TOKEN_CACHE);
    let server = secure_server();
    let mut sink = Sink;
    let mut rows = Vec::new();
    for (label, auth) in [
        ("bearer check, a token verified before", &cached),
        ("bearer check, verifying (HS256 JWT)", &auth(0)),
    ] {
        let mut bearer = auth.layer(Sink);
        rows.push(support::compare(
            label,
            "no layer",
            support::Target::None,
            || answered(&mut sink, lookup_request(&authorization, true, false)),
            || answered(&mut bearer, lookup_request(&authorization, true, false)),
        ));
    }
    let mut step_up = cached.step_up(Sink, server.clone());
    // The same, for a server that could ask this caller for a scope (it lacks one): a
    // 2025-11-25 body is read for the operation it names.
    let mut step_up_reading = cached.step_up(Sink, MayAsk(server));
    for (label, stateless, reads) in [
        ("step-up, 2026-07-28 (headers)", true, false),
        (
            "step-up, 2025-11-25, caller holds every scope (body unread)",
            false,
            false,
        ),
        (
            "step-up, 2025-11-25, caller lacks a scope (reads the body)",
            false,
            true,
        ),
    ] {
        let step_up = if reads {
            &mut step_up_reading
        } else {
            &mut step_up
        };
        rows.push(support::compare(
            label,
            "no layer",
            support::Target::None,
            || answered(&mut sink, lookup_request(&authorization, stateless, true)),
            || answered(step_up, lookup_request(&authorization, stateless, true)),
        ));
    }
    rows
}

/// The server's scope challenges, for a server that could ask any caller for a scope: the
/// step-up layer reads each 2025-11-25 body (`ScopeChallenge::may_challenge` is left to
/// its default).
struct MayAsk(SecureServer<Secured>);

impl ScopeChallenge for MayAsk {
    fn scope_challenge(
        &self,
        operation: Operation<'_>,
        principal: &Principal,
    ) -> Option<Vec<String>> {
        self.0.scope_challenge(operation, principal)
    }
}

/// How a successful tool result says so.
const OK: &[u8] = br#""isError":false"#;

/// One 2026-07-28 `tools/call` of `lookup` answered by `app` in process, checked to succeed.
fn app_call(runtime: &tokio::runtime::Runtime, app: &Router, authorization: &str) {
    use tower::ServiceExt as _;
    let body = runtime.block_on(async {
        let response = app
            .clone()
            .oneshot(lookup_request(authorization, true, false))
            .await
            .expect("an answer");
        response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes()
    });
    assert!(
        body.windows(OK.len()).any(|w| w == OK),
        "{}",
        String::from_utf8_lossy(&body)
    );
}

/// `SECURE_TOOL_HTTP_BENCH_APP=bare:N` (or `server:N`, `secure:N`): `N` in-process calls
/// of that application alone, for an instruction profile of one side (`valgrind
/// --tool=cachegrind` at two counts; the difference is the cost of `N` calls).
fn profile_app(role: &str) {
    let (side, calls) = role.split_once(':').expect("side:calls");
    let calls: usize = calls.parse().expect("a count of calls");
    let app = match side {
        "bare" => bare_app(Mode::Stateless),
        "server" => server_app(Mode::Stateless),
        "secure" => secure_app(Mode::Stateless),
        other => panic!("unknown application {other:?}: bare, server or secure"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let authorization = format!("Bearer {}", token());
    for _ in 0..calls {
        app_call(&runtime, &app, &authorization);
    }
}

/// A whole 2026-07-28 `tools/call` handled in process by each server's axum application
/// (no socket, no scheduling across threads): the server's own CPU per request.
fn app_comparisons() -> Vec<support::Comparison> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let runtime = &runtime;
    let authorization = format!("Bearer {}", token());
    let handle = |app: &Router| {
        let app = app.clone();
        let authorization = authorization.clone();
        move || app_call(runtime, &app, &authorization)
    };
    let bare = bare_app(Mode::Stateless);
    let server = server_app(Mode::Stateless);
    let secure = secure_app(Mode::Stateless);
    vec![
        support::compare(
            "SecureServer, no HTTP layer",
            "bare rmcp",
            support::Target::None,
            handle(&bare),
            handle(&server),
        ),
        support::compare(
            "SecureServer + bearer, step-up, sessions",
            "SecureServer, no HTTP layer",
            support::Target::None,
            handle(&server),
            handle(&secure),
        ),
        support::compare(
            "SecureServer + bearer, step-up, sessions",
            "bare rmcp",
            support::Target::Ratio(1.0 / 0.9),
            handle(&bare),
            handle(&secure),
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// The report.

fn percentile(latencies: &mut [Duration], p: f64) -> Duration {
    support::percentile(latencies, p)
}

fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "MISSED" }
}

fn print_load(rows: &mut [LoadRow], rounds: usize, length: Duration) {
    println!();
    println!(
        "== tools/call over streamable HTTP, loopback (throughput: median of {rounds} windows \
         of {} ms per side, ABBA; latency over every call) ==",
        length.as_millis()
    );
    println!(
        "{:<22} {:<16} {:>7} {:>10} {:>10} {:>7} {:>10} {:>10} {:>10} {:>10} {:>7}  verdict \
         (≥ 0.90× calls/s, ≤ 1.20× p99)",
        "mode",
        "subject / base",
        "clients",
        "base/s",
        "subject/s",
        "ratio",
        "base p50",
        "subj. p50",
        "base p99",
        "subj. p99",
        "ratio"
    );
    for row in rows.iter_mut() {
        let bare_rate = support::median(&mut row.bare.per_second);
        let secure_rate = support::median(&mut row.secure.per_second);
        let rate_ratio = secure_rate / bare_rate;
        let bare_p50 = percentile(&mut row.bare.latencies, 50.0);
        let secure_p50 = percentile(&mut row.secure.latencies, 50.0);
        let bare_p99 = percentile(&mut row.bare.latencies, 99.0);
        let secure_p99 = percentile(&mut row.secure.latencies, 99.0);
        let p99_ratio = secure_p99.as_secs_f64() / bare_p99.as_secs_f64();
        let mode = match row.mode {
            Mode::Stateless => "2026-07-28 stateless",
            Mode::Sessions => "2025-11-25 sessions",
        };
        let pair = format!("{} / {}", row.subject.name(), row.baseline.name());
        println!(
            "{mode:<22} {pair:<16} {:>7} {:>10.0} {:>10.0} {:>6.3}× {:>10} {:>10} {:>10} {:>10} {:>6.3}×  {} / {}",
            row.concurrency,
            bare_rate,
            secure_rate,
            rate_ratio,
            micros(bare_p50),
            micros(secure_p50),
            micros(bare_p99),
            micros(secure_p99),
            p99_ratio,
            verdict(rate_ratio >= 0.9),
            verdict(p99_ratio <= 1.2),
        );
    }
}

fn micros(d: Duration) -> String {
    support::human(d.as_secs_f64() * 1e9)
}

fn print_memory(label: &str, bare: f64, secure: f64) {
    let ratio = secure / bare;
    println!(
        "{label:<44} {:>12} {:>12} {:>+12.0} {:>7.3}×  ≤ 1.10×  {}",
        format!("{bare:.0} B"),
        format!("{secure:.0} B"),
        secure - bare,
        ratio,
        verdict(ratio <= 1.10)
    );
}

fn main() {
    if let Ok(role) = std::env::var(SERVE) {
        let (side, mode) = role.split_once(':').expect("side:mode");
        let mode = if mode == "sessions" {
            Mode::Sessions
        } else {
            Mode::Stateless
        };
        serve(Side::parse(side), mode);
        return;
    }
    if let Ok(role) = std::env::var(PROFILE_APP) {
        profile_app(&role);
        return;
    }
    // `SECURE_TOOL_HTTP_BENCH_PROFILE=secure:stateless` (or `bare:sessions`, ...): only that
    // server, one client (or `SECURE_TOOL_HTTP_BENCH_CLIENTS`), for 20 s, its child's pid
    // printed first: for `perf record -p`.
    if let Ok(role) = std::env::var(PROFILE) {
        let (side, mode) = role.split_once(':').expect("side:mode");
        let side = Side::parse(side);
        let mode = if mode == "sessions" {
            Mode::Sessions
        } else {
            Mode::Stateless
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(profile(side, mode));
        return;
    }
    // `cargo test --benches` (no `--bench`): a short run of every part, as a smoke test.
    let full = support::bench_mode();
    let (levels, rounds, length, sessions, in_flight): (&[usize], _, _, _, _) = if full {
        (&LEVELS, ROUNDS, WINDOW, SESSIONS, IN_FLIGHT)
    } else {
        (&[1, 4], 2, Duration::from_millis(50), 16, 8)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    if full {
        support::print_comparisons("the HTTP layers, in process", &layer_comparisons());
        support::print_comparisons(
            "a 2026-07-28 tools/call through each server's application, in process",
            &app_comparisons(),
        );
    } else {
        let _ = (layer_comparisons(), app_comparisons());
    }
    // `cargo bench -p secure-tool-benches --bench http -- in-process`: those tables only.
    if std::env::args().any(|arg| arg == "in-process") {
        return;
    }
    runtime.block_on(async {
        let full_stack = (Side::Bare, Side::Secure);
        let mut rows = load(Mode::Stateless, full_stack, levels, rounds, length).await;
        rows.extend(load(Mode::Sessions, full_stack, levels, rounds, length).await);
        // Where the difference goes: `SecureServer` alone against the bare server, and the
        // HTTP layers (bearer check, step-up, session binding) against `SecureServer` alone.
        let one = &levels[..1];
        for mode in [Mode::Stateless, Mode::Sessions] {
            for pair in [(Side::Bare, Side::Server), (Side::Server, Side::Secure)] {
                rows.extend(load(mode, pair, one, rounds, length).await);
            }
        }
        print_load(&mut rows, rounds, length);

        let authorization: Arc<str> = format!("Bearer {}", token()).into();
        println!();
        println!("== memory held by the server process (its own allocator's count) ==");
        println!(
            "{:<44} {:>12} {:>12} {:>12} {:>8}  target   verdict",
            "what", "bare", "secure", "added", "ratio"
        );
        let bare = memory_per_session(Side::Bare, sessions, &authorization).await;
        let secure = memory_per_session(Side::Secure, sessions, &authorization).await;
        print_memory(
            &format!("per idle 2025-11-25 session ({sessions} open)"),
            bare,
            secure,
        );
        let bare = memory_per_call_in_flight(Side::Bare, in_flight, &authorization).await;
        let secure = memory_per_call_in_flight(Side::Secure, in_flight, &authorization).await;
        print_memory(
            &format!("per stateless call in flight ({in_flight} held)"),
            bare,
            secure,
        );
    });
}

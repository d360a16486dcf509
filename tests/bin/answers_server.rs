//! A server with one tool per kind of answer a secure tool can give, for the tests that
//! check that every official MCP client accepts each of them after `tools/list`: success,
//! partial result, denial, invalid input, not found, unavailable, timeout, internal error
//! and degraded write. Every tool has an output schema (with unsigned and signed integers,
//! whose Rust formats must not reach the published schema), so that a client validating
//! structured content against it, as the official TypeScript SDK does, would reject any
//! error result that carried some.
//!
//! What each tool answers, and what a client must show of it, is in
//! `e2e/answers.json`, which every client script reads.
//!
//! - Without arguments it serves stdio, as the local caller's own server.
//! - With `--http ADDR` it serves rmcp's streamable HTTP at `http://ADDR/mcp` (port 0: a
//!   free port) and prints `answers-server: listening on http://IP:PORT/mcp` on stderr.
//!   Every request is the same fixed test caller, put into the request by a layer: this
//!   binary is a test fixture bound to loopback, not an example of authentication (see
//!   `secure_tool::oauth` for that).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use secure_tool::health::{HealthMonitor, ServicePath, Status};
use secure_tool::partial::{Partial, Source, Sources};
use secure_tool::prelude::*;
use secure_tool::rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use tokio::net::TcpListener;

const USAGE: &str = "usage: answers-server [--http IP:PORT]";

/// The scope every tool but `deny` asks for, and the caller holds.
const SCOPE: &str = "answers:call";

#[derive(Clone)]
struct Answers;

/// The arguments of the tools that take some.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Amount {
    /// How many: at most 10.
    count: u64,
}

/// Every tool's result.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Counted {
    /// How many there are.
    count: u64,
    /// The change since the last call.
    delta: i64,
}

fn counted(count: u64) -> Counted {
    Counted { count, delta: 0 }
}

#[secure_tool_router]
impl Answers {
    /// Succeeds.
    #[secure_tool(authz = scopes(SCOPE), mode = read)]
    async fn succeed(&self) -> Result<Counted, ToolError> {
        Ok(counted(1))
    }

    /// Answers what one source gave, with a warning naming the one that failed.
    #[secure_tool(authz = scopes(SCOPE), mode = read)]
    async fn partial(&self) -> Result<Partial<Counted>, ToolError> {
        let mut sources = Sources::new();
        let count = sources.add(Source::critical("Counter", async { Ok::<_, ToolError>(2) }));
        let _statistics = sources.add(Source::optional("Statistics", async {
            Err::<u64, _>(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
        }));
        let mut settled = sources.settle().await?;
        let value = counted(settled.take(count).unwrap_or_default());
        Ok(settled.into_partial(value))
    }

    /// Only auditors may call it, and the caller is not one.
    #[secure_tool(authz = roles("auditor"), mode = read)]
    async fn deny(&self) -> Result<Counted, ToolError> {
        Ok(counted(3))
    }

    /// Refuses a count above 10, naming the field.
    #[secure_tool(authz = scopes(SCOPE), mode = read)]
    async fn invalid_input(&self, args: Amount) -> Result<Counted, ToolError> {
        if args.count > 10 {
            return Err(ToolError::invalid_input("`count` must be at most 10"));
        }
        Ok(counted(args.count))
    }

    /// Finds nothing.
    #[secure_tool(authz = scopes(SCOPE), mode = read)]
    async fn not_found(&self) -> Result<Counted, ToolError> {
        Err(ToolError::not_found("No counter with that name"))
    }

    /// Its dependency refuses the connection.
    #[secure_tool(authz = scopes(SCOPE), mode = read)]
    async fn unavailable(&self) -> Result<Counted, std::io::Error> {
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "counter-db.internal:5432 refused the connection",
        ))
    }

    /// Never answers within its 100 ms deadline.
    #[secure_tool(authz = scopes(SCOPE), mode = read, timeout = "100ms")]
    async fn timeout(&self) -> Result<Counted, ToolError> {
        std::future::pending().await
    }

    /// Fails inside.
    #[secure_tool(authz = scopes(SCOPE), mode = read)]
    async fn internal(&self) -> Result<Counted, ToolError> {
        Err(ToolError::internal(
            "invariant broken in /srv/counter/state.rs",
        ))
    }

    /// Writes, but writes are degraded for the whole life of this server.
    #[secure_tool(authz = scopes(SCOPE), mode = write)]
    async fn degraded_write(
        &self,
        args: Amount,
        _access: WriteAccess<'_>,
    ) -> Result<Counted, ToolError> {
        Ok(counted(args.count))
    }
}

impl secure_tool::rmcp::ServerHandler for Answers {}

/// The server, with writes degraded by an operator for as long as it runs.
fn server() -> secure_tool::SecureServerBuilder<Answers> {
    let monitor = HealthMonitor::builder().build();
    monitor.force(ServicePath::Writes, Some(Status::Degraded));
    SecureServer::builder(Answers).health(monitor)
}

fn caller() -> Principal {
    Principal::new("answers-client").with_scopes([SCOPE])
}

enum Transport {
    Stdio,
    Http(SocketAddr),
}

fn parse_args() -> Result<Transport, String> {
    let mut args = std::env::args().skip(1);
    let transport = match args.next().as_deref() {
        None => Transport::Stdio,
        Some("--http") => {
            let listen = args
                .next()
                .ok_or("--http needs an address, e.g. 127.0.0.1:0")?;
            Transport::Http(
                listen
                    .parse()
                    .map_err(|_| format!("--http {listen:?} is not an address (IP:PORT)"))?,
            )
        }
        Some(other) => return Err(format!("unknown argument {other:?}")),
    };
    match args.next() {
        None => Ok(transport),
        Some(extra) => Err(format!("unexpected argument {extra:?}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let transport = match parse_args() {
        Ok(transport) => transport,
        Err(error) => {
            eprintln!("answers-server: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let served = match transport {
        Transport::Stdio => serve_stdio().await,
        Transport::Http(listen) => serve_http(listen).await,
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("answers-server: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_stdio() -> Result<(), Box<dyn std::error::Error>> {
    let server = server().local_principal(caller()).build();
    server.serve_stdio().await?.waiting().await?;
    Ok(())
}

async fn serve_http(listen: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    if !listen.ip().is_loopback() {
        return Err("--http serves a fixed test caller: loopback addresses only".into());
    }
    let listener = TcpListener::bind(listen).await?;
    let endpoint = format!("http://{}/mcp", listener.local_addr()?);
    let server = server().build();
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = Router::new()
        .route_service("/mcp", mcp)
        .layer(axum::Extension(caller()));
    eprintln!("answers-server: listening on {endpoint}");
    axum::serve(listener, app).await?;
    Ok(())
}

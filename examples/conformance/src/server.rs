//! The fixture as an MCP server over streamable HTTP, on a loopback address, at
//! [`MCP_PATH`]: no authentication (every item is public), and no `Host` but the server's
//! own loopback authority (DNS-rebinding protection, by rmcp's transport).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use secure_tool::SecureServer;
use secure_tool::rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use secure_tool::server::Unguarded;
use tokio::net::TcpListener;

use crate::fixture::Conformance;

/// Where the MCP endpoint is mounted.
pub const MCP_PATH: &str = "/mcp";

/// The fixture's secure server: its tools, resources, prompts and completer through their
/// guards, and `logging/setLevel`, which secure-tool has no guarded form of, forwarded by
/// name.
pub fn secure_server() -> SecureServer<Conformance> {
    SecureServer::builder(Conformance)
        .with_unguarded(
            Unguarded::Logging,
            "the conformance suite sets a log level; no data crosses",
        )
        .build()
}

/// The names a client on this machine may reach `port` by, as `Host` authorities: any
/// other `Host` (a name an attacker's DNS points at 127.0.0.1) is refused with 403.
pub fn allowed_hosts(port: u16) -> Vec<String> {
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .map(|host| format!("{host}:{port}"))
        .collect()
}

/// The origins a browser page served by this machine on `port` has; a request from any
/// other origin is refused with 403 (one without `Origin` is not a browser's, and passes).
pub fn allowed_origins(port: u16) -> Vec<String> {
    allowed_hosts(port)
        .iter()
        .map(|authority| format!("http://{authority}"))
        .collect()
}

/// The transport's settings for the server bound to `port`: rmcp's defaults, with only
/// this port's loopback authorities and origins allowed.
pub fn transport_config(port: u16) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts(port))
        .with_allowed_origins(allowed_origins(port))
}

/// The MCP endpoint, at [`MCP_PATH`]; anything else is a 404.
pub fn app(config: StreamableHttpServerConfig) -> Router {
    let server = secure_server();
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new().route_service(MCP_PATH, mcp)
}

/// Binds `127.0.0.1:port` (0: a free port), prints `conformance-server: listening on
/// http://127.0.0.1:PORT/mcp` on stdout, and serves until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// The port cannot be bound, or the server fails.
pub async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let bound = listener.local_addr()?;
    let config = transport_config(bound.port());
    let stopping = config.cancellation_token.clone();
    let app = app(config);
    // The line a test waits for: the address is bound and served.
    println!("conformance-server: listening on http://{bound}{MCP_PATH}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Ends the open SSE streams, which graceful shutdown would otherwise wait for.
            stopping.cancel();
        })
        .await
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

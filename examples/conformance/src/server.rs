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
use tokio::net::TcpListener;

use crate::fixture::Conformance;

/// Where the MCP endpoint is mounted.
pub const MCP_PATH: &str = "/mcp";

/// The fixture's secure server: its tools, resources, prompts and completer through their
/// guards, and `logging/setLevel`, which secure-tool has no guarded form of, forwarded by
/// name.
pub fn secure_server() -> SecureServer<Conformance> {
    SecureServer::builder(Conformance).build()
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    use super::*;

    /// The status code of an `initialize` POSTed to `port` with `host` as its `Host` (and
    /// `origin` as its `Origin`, if any).
    async fn status(port: u16, host: &str, origin: Option<&str>) -> u16 {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#;
        let origin = origin.map_or(String::new(), |origin| format!("Origin: {origin}\r\n"));
        let request = format!(
            "POST {MCP_PATH} HTTP/1.1\r\nHost: {host}\r\n{origin}Content-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = [0; 12];
        stream.read_exact(&mut head).await.unwrap();
        // "HTTP/1.1 200"
        std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn only_this_port_s_loopback_names_and_origins_are_served() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = transport_config(port);
        let stopping = config.cancellation_token.clone();
        let served = tokio::spawn(async move { axum::serve(listener, app(config)).await });

        for host in ["localhost", "127.0.0.1", "[::1]"] {
            let authority = format!("{host}:{port}");
            assert_eq!(status(port, &authority, None).await, 200, "{authority}");
            let origin = format!("http://{authority}");
            assert_eq!(
                status(port, &authority, Some(&origin)).await,
                200,
                "{origin}"
            );
        }
        // A name an attacker's DNS resolves to 127.0.0.1, another port, no port.
        let other = (port % 65_535) + 1;
        for host in [
            "evil.example.com".to_owned(),
            format!("evil.example.com:{port}"),
            format!("localhost:{other}"),
            "localhost".to_owned(),
        ] {
            assert_eq!(status(port, &host, None).await, 403, "{host}");
        }
        // A page of another origin, whatever Host its browser sends.
        let host = format!("127.0.0.1:{port}");
        for origin in [
            "http://evil.example.com",
            &format!("http://localhost:{other}"),
        ] {
            assert_eq!(status(port, &host, Some(origin)).await, 403, "{origin}");
        }
        stopping.cancel();
        served.abort();
    }
}

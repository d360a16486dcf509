//! Slow clients over HTTP: the real `notes-server --http`, raw TCP on loopback.
//!
//! - 200 half-open connections (a request head never finished, no token) are all closed
//!   within the header read timeout, and a request with a valid token is served while
//!   they are held;
//! - a request whose body never ends is answered and closed within the body read timeout;
//! - a kept-alive connection left idle is closed within the header read timeout;
//! - past the connection cap, a new connection is closed at once, long before any
//!   timeout, and connections are admitted again once the held ones are gone.
//!
//! Without hyper's header read timeout the first check fails (the half-open connections
//! are still open at their deadline); without the cap, the last one (the connection over
//! the cap is held).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use secure_tool_tests::support::http_server::Server;

/// The server's header read timeout in this test.
const HEADER: Duration = Duration::from_millis(1000);
/// Its body read timeout.
const BODY: Duration = Duration::from_millis(1500);
/// How late after its timeout a connection may be closed (scheduling on a busy machine).
const MARGIN: Duration = Duration::from_secs(3);
/// How many half-open connections the test holds.
const SLOW: usize = 200;
/// How long a legitimate request may take while they are held.
const ANSWER: Duration = Duration::from_secs(5);

fn address(server: &Server) -> SocketAddr {
    let authority = server
        .url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/mcp"))
        .expect("the server's URL is http://IP:PORT/mcp");
    authority.parse().expect("the server listens on IP:PORT")
}

fn token(server: &Server) -> &str {
    &server
        .tokens
        .iter()
        .find(|(name, _)| *name == "NOTES_TOKEN_READER")
        .expect("a reader token")
        .1
}

/// A connection that sent part of a request head, and no more.
fn half_open(address: SocketAddr) -> (TcpStream, Instant) {
    let mut stream = TcpStream::connect(address).expect("loopback connects");
    stream
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applic")
        .unwrap();
    (stream, Instant::now())
}

/// Reads until the server closes the connection, at most until `deadline`: when it
/// closed, or `None` if it was still open then.
fn closed_by(stream: &mut TcpStream, deadline: Instant) -> Option<Instant> {
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return Some(Instant::now()),
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            // Reset by the server: closed too.
            Err(_) => return Some(Instant::now()),
        }
    }
}

/// An MCP `initialize` with a valid token, over its own connection; returns the time it
/// took to see the server's answer.
fn initialize(address: SocketAddr, token: &str) -> Duration {
    let start = Instant::now();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    let mut stream = TcpStream::connect(address).expect("loopback connects");
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = start + ANSWER;
    while !String::from_utf8_lossy(&received).contains("serverInfo") {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no answer to initialize within {ANSWER:?}: {}",
            String::from_utf8_lossy(&received)
        );
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => panic!("closed: {}", String::from_utf8_lossy(&received)),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) => panic!("initialize: {error}"),
        }
    }
    assert!(
        received.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&received)
    );
    start.elapsed()
}

#[test]
fn slow_connections_are_closed_in_time_and_do_not_block_legitimate_requests() {
    let header = HEADER.as_millis().to_string();
    let body = BODY.as_millis().to_string();
    let mut server = Server::start(
        "slow",
        &[
            ("NOTES_HTTP_HEADER_TIMEOUT_MS", &header),
            ("NOTES_HTTP_BODY_TIMEOUT_MS", &body),
            ("NOTES_HTTP_MAX_CONNECTIONS", "400"),
        ],
    );
    let address = address(&server);

    let mut slow: Vec<(TcpStream, Instant)> = (0..SLOW).map(|_| half_open(address)).collect();
    // Served while they are held.
    let took = initialize(address, token(&server));

    // A body that never ends, with a valid token.
    let mut unfinished = TcpStream::connect(address).unwrap();
    write!(
        unfinished,
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: 1000\r\n\r\n{{\"jsonrpc\":",
        token(&server)
    )
    .unwrap();
    let unfinished_since = Instant::now();

    // A kept-alive connection, idle after one answer.
    let mut idle = TcpStream::connect(address).unwrap();
    idle.write_all(
        b"GET /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .unwrap();
    let mut head = [0u8; 12];
    idle.set_read_timeout(Some(ANSWER)).unwrap();
    idle.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let idle_since = Instant::now();

    let mut latest = Duration::ZERO;
    let mut still_open = 0;
    for (stream, opened) in &mut slow {
        match closed_by(stream, *opened + HEADER + MARGIN) {
            Some(closed) => latest = latest.max(closed - *opened),
            None => still_open += 1,
        }
    }
    let body_closed = closed_by(&mut unfinished, unfinished_since + BODY + MARGIN)
        .map(|closed| closed - unfinished_since);
    let idle_closed =
        closed_by(&mut idle, idle_since + HEADER + MARGIN).map(|closed| closed - idle_since);
    println!(
        "{SLOW} half-open connections: {} closed, the last {latest:?} after it opened (header \
         timeout {HEADER:?}); initialize with a token answered in {took:?} meanwhile; an \
         unfinished body closed after {body_closed:?} (body timeout {BODY:?}); an idle \
         kept-alive connection closed after {idle_closed:?}",
        SLOW - still_open
    );
    assert_eq!(
        still_open,
        0,
        "half-open connections still open past {:?}",
        HEADER + MARGIN
    );
    assert!(
        latest >= HEADER.mul_f32(0.9),
        "closed before the timeout: {latest:?}"
    );
    assert!(
        body_closed.is_some(),
        "the unfinished body's connection is still open"
    );
    assert!(idle_closed.is_some(), "the idle connection is still open");
    server.stop();
}

#[test]
fn a_connection_over_the_cap_is_closed_at_once() {
    const CAP: usize = 20;
    let cap = CAP.to_string();
    let mut server = Server::start(
        "capped",
        &[
            ("NOTES_HTTP_HEADER_TIMEOUT_MS", "20000"),
            ("NOTES_HTTP_MAX_CONNECTIONS", &cap),
        ],
    );
    let address = address(&server);
    let mut held: Vec<(TcpStream, Instant)> = (0..CAP).map(|_| half_open(address)).collect();
    // Accepted in order: this one is over the cap.
    let (mut over, opened) = half_open(address);
    let closed = closed_by(&mut over, opened + Duration::from_secs(5)).map(|at| at - opened);
    println!(
        "connection {} of a cap of {CAP}: closed after {closed:?}",
        CAP + 1
    );
    assert!(closed.is_some(), "the connection over the cap is held open");

    // Once the held connections are gone, connections are admitted again.
    held.clear();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .write_all(b"GET /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut head = [0u8; 12];
        if stream.read_exact(&mut head).is_ok() {
            assert_eq!(&head, b"HTTP/1.1 200");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connections are not admitted again"
        );
    }
    server.stop();
}

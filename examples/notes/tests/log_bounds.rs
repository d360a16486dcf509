//! The server's log does not amplify what a client sends.
//!
//! The real binary over stdio, with its default log filter: a client sends an `initialize`
//! request of several MiB (its `clientInfo` and `capabilities`), a notification of several
//! MiB, and calls with large or many arguments. The log (stderr) must grow by less than
//! [`LOG_BOUND`] in all, carry none of the client's padding, and have no line that the
//! server's line limit had to cut.

mod support;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use notes_server::logging::MAX_LINE;
use serde_json::{Value, json};
use support::stdio_server::StdioServer;

/// How much the log may grow, in all, for everything the client sends here.
const LOG_BOUND: u64 = 64 * 1024;
/// How long any awaited answer or condition may take.
const WAIT: Duration = Duration::from_secs(30);
/// What the client's padding is made of: found in the log, it was logged.
const PADDING: &str = "client-padding-";

fn padding(bytes: usize) -> String {
    PADDING.repeat(bytes / PADDING.len())
}

fn log_size(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

/// The answer to request `id`, within [`WAIT`].
fn answer(server: &StdioServer, id: u64) -> Value {
    server.answer(&json!(id), WAIT).0
}

#[test]
fn large_client_messages_do_not_grow_the_log_beyond_its_bound() {
    let mut server = StdioServer::start("log-bounds");
    let log = server.log.clone();

    // Started: the startup line is in the log.
    let deadline = Instant::now() + WAIT;
    while !fs::read_to_string(&log).is_ok_and(|text| text.contains("starting on stdio")) {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = log_size(&log);

    let mut sent = 0;
    sent += server.send(&json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {"experimental": {"padding": {"blob": padding(2 << 20)}}},
            "clientInfo": {"name": "large-client", "version": "1", "title": padding(2 << 20)}
        }
    }));
    let initialized = answer(&server, 1);
    assert!(
        initialized["result"]["serverInfo"].is_object(),
        "{initialized}"
    );
    sent += server.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    // A notification rmcp logs whole at INFO, with its parameters.
    sent += server.send(&json!({
        "jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 999, "reason": padding(2 << 20)}
    }));
    // A call with a large argument, and one with many.
    sent += server.send(&json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "create_note", "arguments": {"title": padding(1 << 20)}}
    }));
    let mut many = serde_json::Map::new();
    many.insert("title".to_owned(), json!("many"));
    for i in 0..20_000 {
        many.insert(format!("arg-{i:05}"), json!(i));
    }
    sent += server.send(&json!({
        "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "create_note", "arguments": many}
    }));
    // The 1 MiB title is over the example's limit: refused, naming the field only.
    let large = answer(&server, 2);
    let facts = &large["result"]["_meta"]["io.github.secure-tool/error"];
    assert_eq!(facts["category"], "invalid_input", "{facts}");
    // 20,000 members are past the argument limit of 256 properties: refused before the
    // schema, naming the limit only. The audit event still records the call's shape,
    // bounded.
    let many = answer(&server, 3);
    let facts = &many["result"]["_meta"]["io.github.secure-tool/error"];
    assert_eq!(facts["category"], "invalid_input", "{facts}");
    assert_eq!(
        facts["message"], "Invalid arguments: at most 256 properties",
        "{facts}"
    );

    // Closing stdin ends the session; the server exits, its log complete.
    server.close(WAIT);
    let text = fs::read_to_string(&log).unwrap();
    let grew = log_size(&log) - before;
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    let cut = text
        .lines()
        .filter(|line| line.contains("bytes cut]"))
        .count();
    eprintln!(
        "sent {:.1} MiB over stdio (initialize 4 MiB, a notification 2 MiB, calls with a \
         1 MiB argument and 20,000 arguments); the log grew by {grew} bytes (bound \
         {LOG_BOUND}), longest line {longest} bytes (limit {MAX_LINE}), {cut} lines cut",
        sent as f64 / f64::from(1 << 20)
    );
    assert!(
        !text.contains(PADDING),
        "the log holds the client's data:\n{}",
        text.lines()
            .filter(|line| line.contains(PADDING))
            .map(|line| &line[..line.len().min(300)])
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(grew < LOG_BOUND, "the log grew by {grew} bytes");
    assert!(longest <= MAX_LINE, "a line of {longest} bytes");
    // The line limit is the last resort: with the default filter, every line that carries
    // the client's data is bounded where it is written.
    assert_eq!(
        cut,
        0,
        "lines the limit had to cut:\n{}",
        text.lines()
            .filter(|line| line.contains("bytes cut]"))
            .map(|line| &line[..line.len().min(300)])
            .collect::<Vec<_>>()
            .join("\n")
    );
}

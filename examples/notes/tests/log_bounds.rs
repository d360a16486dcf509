//! The server's log does not amplify what a client sends.
//!
//! The real binary over stdio, with its default log filter: a client sends an `initialize`
//! request of several MiB (its `clientInfo` and `capabilities`), a notification of several
//! MiB, and calls with large or many arguments. The log (stderr) must grow by less than
//! [`LOG_BOUND`] in all, carry none of the client's padding, and have no line that the
//! server's line limit had to cut.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notes_server::logging::MAX_LINE;
use serde_json::{Value, json};

/// How much the log may grow, in all, for everything the client sends here.
const LOG_BOUND: u64 = 64 * 1024;
/// How long any awaited answer or condition may take.
const WAIT: Duration = Duration::from_secs(30);
/// What the client's padding is made of: found in the log, it was logged.
const PADDING: &str = "client-padding-";

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The server process, killed on drop if it is still running.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn padding(bytes: usize) -> String {
    PADDING.repeat(bytes / PADDING.len())
}

fn log_size(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

fn send(stdin: &mut ChildStdin, message: &Value) -> usize {
    let mut line = serde_json::to_vec(message).unwrap();
    line.push(b'\n');
    stdin.write_all(&line).expect("the server reads its stdin");
    stdin.flush().unwrap();
    line.len()
}

/// Waits for the answer to request `id` among the server's messages.
fn answer(messages: &mpsc::Receiver<Value>, id: u64) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = messages
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no answer to request {id} within {WAIT:?}"));
        if message["id"] == id {
            return message;
        }
    }
}

#[test]
fn large_client_messages_do_not_grow_the_log_beyond_its_bound() {
    let dir =
        TempDir(std::env::temp_dir().join(format!("notes-log-bounds-{}", std::process::id())));
    let _ = fs::remove_dir_all(&dir.0);
    fs::create_dir_all(&dir.0).unwrap();
    let log = dir.0.join("server.log");

    let mut command = Command::new(env!("CARGO_BIN_EXE_notes-server"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("NOTES_") || name == "DATABASE_URL" || name == "RUST_LOG" {
            command.env_remove(name.as_ref());
        }
    }
    let child = command
        .args(["--db", "notes.db", "--archive", "archive.db"])
        .current_dir(&dir.0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .expect("cannot start notes-server");
    let mut server = Server(child);
    let mut stdin = server.0.stdin.take().unwrap();
    let stdout = server.0.stdout.take().unwrap();
    let (sender, messages) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(message) = serde_json::from_str::<Value>(&line)
                && sender.send(message).is_err()
            {
                break;
            }
        }
    });

    // Started: the startup line is in the log.
    let deadline = Instant::now() + WAIT;
    while !fs::read_to_string(&log).is_ok_and(|text| text.contains("starting on stdio")) {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = log_size(&log);

    let mut sent = 0;
    sent += send(
        &mut stdin,
        &json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {"experimental": {"padding": {"blob": padding(2 << 20)}}},
                "clientInfo": {"name": "large-client", "version": "1", "title": padding(2 << 20)}
            }
        }),
    );
    let initialized = answer(&messages, 1);
    assert!(
        initialized["result"]["serverInfo"].is_object(),
        "{initialized}"
    );
    sent += send(
        &mut stdin,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    // A notification rmcp logs whole at INFO, with its parameters.
    sent += send(
        &mut stdin,
        &json!({
            "jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": 999, "reason": padding(2 << 20)}
        }),
    );
    // A call with a large argument, and one with many.
    sent += send(
        &mut stdin,
        &json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "create_note", "arguments": {"title": padding(1 << 20)}}
        }),
    );
    let mut many = serde_json::Map::new();
    many.insert("title".to_owned(), json!("many"));
    for i in 0..20_000 {
        many.insert(format!("arg-{i:05}"), json!(i));
    }
    sent += send(
        &mut stdin,
        &json!({
            "jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "create_note", "arguments": many}
        }),
    );
    // The 1 MiB title is over the example's limit: refused, naming the field only.
    let large = answer(&messages, 2);
    let facts = &large["result"]["_meta"]["io.github.secure-tool/error"];
    assert_eq!(facts["category"], "invalid_input", "{facts}");
    let many = answer(&messages, 3);
    assert_eq!(many["result"]["isError"], false, "{many}");

    // Closing stdin ends the session; the server exits, its log complete.
    drop(stdin);
    let deadline = Instant::now() + WAIT;
    while server.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
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

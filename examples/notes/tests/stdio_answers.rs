//! Over stdio every request gets an answer: the real binary, raw JSON-RPC lines.
//!
//! A `tools/call` whose arguments nest 200 levels deep (past serde_json's limit) and one
//! longer than the 16 MiB line limit (its id at the very end of the line) each get a
//! JSON-RPC error for their id, within [`ANSWER`], that echoes nothing of the request; the
//! log says why in a bounded line, without the content; a line with no id to answer to is
//! dropped with a warning; and the session answers normal calls afterwards.
//!
//! rmcp's own stdio transport drops both requests unanswered (the official Python SDK then
//! waits for ever): with `serve_stdio` on it, this test fails at the first answer.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long each answer may take: a 17 MiB line through a pipe takes well under a second.
const ANSWER: Duration = Duration::from_secs(10);
/// What the client's payloads carry: found in an answer or the log, it was echoed.
const CANARY: &str = "stdio-canary-";

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

fn send_line(stdin: &mut ChildStdin, line: &[u8]) {
    stdin.write_all(line).expect("the server reads its stdin");
    stdin.write_all(b"\n").unwrap();
    stdin.flush().unwrap();
}

fn send(stdin: &mut ChildStdin, message: &Value) {
    send_line(stdin, &serde_json::to_vec(message).unwrap());
}

/// The answer to request `id`, which must come within [`ANSWER`].
fn answer(messages: &mpsc::Receiver<Value>, id: &Value) -> (Value, Duration) {
    let start = Instant::now();
    let deadline = start + ANSWER;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = messages
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no answer to request {id} within {ANSWER:?}"));
        if message["id"] == *id {
            return (message, start.elapsed());
        }
    }
}

fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(CANARY), |inner, _| Value::Array(vec![inner]))
}

#[test]
fn too_deep_and_too_long_requests_are_answered_for_their_id_and_the_session_goes_on() {
    let dir =
        TempDir(std::env::temp_dir().join(format!("notes-stdio-answers-{}", std::process::id())));
    let _ = fs::remove_dir_all(&dir.0);
    fs::create_dir_all(&dir.0).unwrap();
    let log = dir.0.join("server.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_notes-server"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("NOTES_") || name == "DATABASE_URL" {
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
            let message = serde_json::from_str::<Value>(&line)
                .unwrap_or_else(|_| json!({"unparsable answer": line.len()}));
            if sender.send(message).is_err() {
                break;
            }
        }
    });

    send(
        &mut stdin,
        &json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw-lines", "version": "1"}
            }
        }),
    );
    let (initialized, _) = answer(&messages, &json!(1));
    assert!(
        initialized["result"]["serverInfo"].is_object(),
        "{initialized}"
    );
    send(
        &mut stdin,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );

    // 200 levels of arguments.
    send(
        &mut stdin,
        &json!({
            "jsonrpc": "2.0", "id": "deep", "method": "tools/call",
            "params": {"name": "get_note", "arguments": {"id": 1, "extra": nested(200)}}
        }),
    );
    let (deep, deep_took) = answer(&messages, &json!("deep"));

    // Longer than 16 MiB, the id last: it is read past the limit.
    let mut long = br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"create_note","arguments":{"title":""#.to_vec();
    long.extend(CANARY.repeat((17 << 20) / CANARY.len()).into_bytes());
    long.extend_from_slice(br#""}},"id":2}"#);
    send_line(&mut stdin, &long);
    let (too_long, long_took) = answer(&messages, &json!(2));

    // A line too long with no id: dropped, and said so.
    let mut no_id =
        br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"p":""#.to_vec();
    no_id.extend(CANARY.repeat((17 << 20) / CANARY.len()).into_bytes());
    no_id.extend_from_slice(br#""}}"#);
    send_line(&mut stdin, &no_id);

    // The session goes on.
    send(
        &mut stdin,
        &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "server_info"}}),
    );
    let (info, _) = answer(&messages, &json!(3));
    println!(
        "200 levels deep: {} in {deep_took:?}; {} bytes: {} in {long_took:?}; then server_info: \
         isError {}",
        deep["error"],
        long.len(),
        too_long["error"],
        info["result"]["isError"]
    );
    assert_eq!(deep["error"]["code"], -32600, "{deep}");
    assert_eq!(too_long["error"]["code"], -32600, "{too_long}");
    assert!(
        deep["error"]["message"]
            .as_str()
            .unwrap()
            .contains("127 levels"),
        "{deep}"
    );
    assert!(
        too_long["error"]["message"]
            .as_str()
            .unwrap()
            .contains("16777216 bytes"),
        "{too_long}"
    );
    for answer in [&deep, &too_long] {
        assert!(!answer.to_string().contains(CANARY), "echoed: {answer}");
    }
    assert_eq!(info["result"]["isError"], false, "{info}");

    drop(stdin);
    let deadline = Instant::now() + ANSWER;
    while server.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the server did not stop at the end of its input"
        );
        std::thread::park_timeout(Duration::from_millis(20));
    }
    let log = fs::read_to_string(&log).unwrap();
    assert!(
        !log.contains(CANARY),
        "the log carries the client's content"
    );
    let refusals: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("secure_tool::stdio"))
        .collect();
    assert_eq!(refusals.len(), 3, "one warning per line refused:\n{log}");
    assert!(
        refusals.iter().all(|line| line.len() < 1024),
        "{refusals:?}"
    );
    assert!(refusals[2].contains("notification"), "{}", refusals[2]);
}

//! The real `notes-server` binary over stdio, spoken to in raw JSON-RPC lines, for the
//! tests that send what no SDK would (oversized, deeply nested, padded messages).
//!
//! [`StdioServer::start`] runs it in a temporary directory of its own, with none of the
//! caller's `NOTES_*`, `DATABASE_URL` or `RUST_LOG` (so the defaults are under test), its
//! log (stderr) in a file, and every line it answers parsed as JSON. It is killed, and its
//! directory removed, when dropped.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running `notes-server` on stdio.
pub struct StdioServer {
    child: Child,
    stdin: Option<ChildStdin>,
    messages: mpsc::Receiver<Value>,
    dir: PathBuf,
    /// The server's log (its stderr).
    pub log: PathBuf,
}

impl StdioServer {
    /// Starts the server in a new temporary directory named after `test`.
    pub fn start(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("notes-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("server.log");
        let mut child = super::notes_server()
            .args(["--db", "notes.db", "--archive", "archive.db"])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("cannot start notes-server");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
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
        Self {
            child,
            stdin,
            messages,
            dir,
            log,
        }
    }

    /// Sends `line` and a newline; the bytes sent.
    pub fn send_line(&mut self, line: &[u8]) -> usize {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(line).expect("the server reads its stdin");
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        line.len() + 1
    }

    /// Sends `message` as one line; the bytes sent.
    pub fn send(&mut self, message: &Value) -> usize {
        self.send_line(&serde_json::to_vec(message).unwrap())
    }

    /// The answer to request `id`, and how long it took, within `limit`.
    pub fn answer(&self, id: &Value, limit: Duration) -> (Value, Duration) {
        let start = Instant::now();
        let deadline = start + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self
                .messages
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no answer to request {id} within {limit:?}"));
            if message["id"] == *id {
                return (message, start.elapsed());
            }
        }
    }

    /// Closes the server's stdin, which ends the session, and waits up to `limit` for the
    /// server to exit; its log is then complete.
    pub fn close(&mut self, limit: Duration) {
        drop(self.stdin.take());
        let deadline = Instant::now() + limit;
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the server did not stop at the end of its input"
            );
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }
}

impl Drop for StdioServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

//! A Python script of the end-to-end suite that talks in JSON lines: it runs with the
//! virtualenv of the official MCP SDK against a server started by the test, prints one
//! JSON object a line on its stdout, and reads its orders on its stdin (`next` to go on;
//! closing stdin to stop).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::http_server::{Server, wait_bounded};

/// A running script, killed when dropped if it has not ended.
pub struct JsonScript {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Value>,
}

impl JsonScript {
    /// Starts `tests/e2e/<file>` against `server`, with `env` added to its environment;
    /// `name` names it in failures.
    pub fn start(name: &'static str, file: &str, server: &Server, env: &[(&str, &str)]) -> Self {
        let root = super::workspace_root();
        let python = super::ensure_venv(
            &super::host_python(),
            &super::target_directory(),
            &root.join("tests/e2e/requirements.txt"),
        );
        let mut command = Command::new(python);
        command
            .arg(root.join("tests/e2e").join(file))
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        server.configure(&mut command);
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start the {name} script: {error}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"unreadable": line}));
                if send.send(value).is_err() {
                    break;
                }
            }
        });
        Self {
            name,
            child,
            stdin,
            lines,
        }
    }

    /// The script's next line, within `limit`; panics naming `what` was awaited, and the
    /// script's status, if none comes, or if the line is not JSON.
    pub fn next(&mut self, limit: Duration, what: &str) -> Value {
        match self.lines.recv_timeout(limit) {
            Ok(value) if value.get("unreadable").is_some() => {
                panic!(
                    "the {} script printed {value} while waiting for {what}",
                    self.name
                )
            }
            Ok(value) => value,
            Err(error) => {
                let status = self.child.try_wait();
                panic!(
                    "the {} script said nothing for {limit:?} while waiting for {what} \
                     ({error:?}; its status: {status:?})",
                    self.name
                )
            }
        }
    }

    /// Tells the script to go on (`next` on its stdin).
    pub fn go_on(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin is piped");
        stdin
            .write_all(b"next\n")
            .and_then(|()| stdin.flush())
            .expect("the script reads its stdin");
    }

    /// Closes the script's stdin: it stops.
    pub fn stop(&mut self) {
        drop(self.stdin.take());
    }

    /// Waits for the script to end, at most `limit`; kills it past that.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_bounded(&mut self.child, limit)
    }
}

impl Drop for JsonScript {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

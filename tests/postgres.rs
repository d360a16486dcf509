//! The real `notes-server` binary on PostgreSQL: with `DATABASE_URL`, over stdio
//! (JSON-RPC lines, as an MCP client sends them) on a disposable cluster of its own
//! (`support/pg.rs`), and with bad or unreachable connection strings.
//!
//! The fault scenarios (writes refused, the server hung, the server stopped) run
//! in-process, with the example: `examples/notes/tests/postgres_faults.rs`.
//!
//! Without PostgreSQL installed, the test that needs it prints `SKIP: ...` and passes.

use std::time::Duration;

use secure_tool_tests::support::notes_bin;
use secure_tool_tests::support::pg::{self, Cluster};
use serde_json::{Value, json};

/// The password in the connection string: it must never reach a log or a client.
const PASSWORD: &str = "pg-canary-s3cret";
/// How long an answer may take before the test fails.
const WAIT: Duration = Duration::from_secs(15);

/// What a client must never see: the driver's words, SQL, the server's address, the
/// password.
fn assert_clean(client_text: &str) {
    pg::assert_clean(
        client_text,
        &[
            PASSWORD,
            "db error",
            "SELECT",
            "INSERT",
            "127.0.0.1",
            "postgres",
        ],
    );
}

/// The real binary, `DATABASE_URL` set, spoken to over stdio in JSON-RPC (one message a
/// line, as MCP's stdio transport says).
struct StdioServer {
    /// Its working directory, with its log (`stderr.log`) and its archive file.
    dir: notes_bin::TempDir,
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    next_id: u64,
}

impl StdioServer {
    fn start(database_url: &str) -> StdioServer {
        let binary = notes_bin::notes_server();
        let dir = notes_bin::empty_dir("postgres-stdio");
        let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut child = notes_bin::command(&binary, dir.path())
            .env("DATABASE_URL", database_url)
            .env("NOTES_LOG", "debug")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("cannot start notes-server");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        StdioServer {
            dir,
            child,
            stdin,
            lines,
            next_id: 1,
        }
    }

    fn send(&mut self, message: &Value) {
        use std::io::Write;
        writeln!(self.stdin, "{message}").expect("notes-server's stdin");
        self.stdin.flush().unwrap();
    }

    /// Sends a request and returns its response (skipping notifications).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let line = self
                .lines
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no answer to {method} within {WAIT:?}"));
            let message: Value = serde_json::from_str(&line).expect("JSON-RPC on stdout");
            if message["id"] == id {
                return message;
            }
        }
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let response = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        let result = response["result"].clone();
        assert!(result.is_object(), "{tool}: {response}");
        assert_clean(&result.to_string());
        result
    }
}

#[test]
fn the_binary_serves_from_postgres_over_stdio_and_never_logs_the_password() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let mut server = StdioServer::start(&cluster.url("postgres", PASSWORD));
    let initialized = server.request(
        "initialize",
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "secure-tool-tests", "version": "0"},
        }),
    );
    assert_eq!(
        initialized["result"]["serverInfo"]["name"], "notes-server",
        "{initialized}"
    );
    server.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));

    let created = server.call("create_note", json!({"title": "over stdio"}));
    assert_ne!(created["isError"], true, "{created}");
    let listed = server.call("list_notes", json!({}));
    assert_eq!(
        listed["structuredContent"]["notes"][0]["title"], "over stdio",
        "{listed}"
    );
    assert_eq!(
        cluster.sql("SELECT title FROM notes"),
        "over stdio",
        "the note is in PostgreSQL"
    );

    drop(server.stdin);
    let status = server.child.wait().unwrap();
    assert!(status.success(), "notes-server exited with {status}");
    let log = std::fs::read_to_string(server.dir.path().join("stderr.log")).unwrap();
    assert!(log.contains("backend=\"postgres\""), "{log}");
    assert!(
        log.contains(&format!("database=127.0.0.1:{}/notes", cluster.port())),
        "the log names host, port and database: {log}"
    );
    assert!(
        !log.contains(PASSWORD),
        "the password reached the log: {log}"
    );
}

#[test]
fn a_bad_or_unreachable_database_url_is_one_plain_line() {
    let binary = notes_bin::notes_server();
    let dir = notes_bin::empty_dir("bad-url");
    let refused = format!(
        "postgres://ada:{PASSWORD}@127.0.0.1:{}/notes?connect_timeout=2",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    for (url, code, expected) in [
        (
            format!("postgres://ada:{PASSWORD}@127.0.0.1:notaport/notes"),
            2,
            "notes-server: DATABASE_URL: not a PostgreSQL connection string \
             (invalid value for option `port`)",
        ),
        (
            format!("host=127.0.0.1 password={PASSWORD} colour=blue"),
            2,
            "notes-server: DATABASE_URL: not a PostgreSQL connection string \
             (unknown option `colour`)",
        ),
        (
            refused,
            1,
            "notes-server: cannot connect to PostgreSQL at 127.0.0.1:",
        ),
    ] {
        let output = notes_bin::command(&binary, dir.path())
            .env("DATABASE_URL", &url)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{url}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line for {url}: {stderr}");
        assert!(stderr.starts_with(expected), "{url}: {stderr}");
        assert!(!stderr.contains(PASSWORD), "{url}: {stderr}");
        assert!(!stderr.contains("panicked"), "{url}: {stderr}");
    }
}

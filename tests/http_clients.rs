//! End to end over streamable HTTP, with OAuth bearer tokens, through the official MCP SDKs:
//! the TypeScript SDK (`@modelcontextprotocol/sdk` 1.x, `e2e/http/typescript_client.mjs`) and
//! the Python SDK (`mcp` 2.x from `e2e/requirements.txt`, `e2e/http/python_client.py`).
//!
//! Each test starts the real `notes-server` binary with `--http 127.0.0.1:0`, verifying
//! RS256 tokens with the test-only JWKS of the runtime's OAuth tests, waits (bounded) for
//! the `listening on` line, mints its own tokens with the matching test-only private key,
//! and runs one client script, which prints one line per check: no token, expired token
//! and wrong-audience token get `401` with a `WWW-Authenticate` challenge whose metadata
//! document the client fetches; a token without `notes:write` gets `create_note`'s generic
//! denial and nothing else; a token with it creates and reads notes. Then the test checks
//! that no token reached the server's log, and stops the server with SIGTERM: it must exit
//! cleanly.
//!
//! The TypeScript test needs `node` (18 or newer, as the SDK requires) and `npm`, and the
//! npm registry on its first run (`npm ci` into `e2e/http/node_modules`, with npm's cache
//! under the target directory); without them it is skipped with a message, except under
//! `CI`, where it fails.
//! The Python test needs what `python_client.rs` needs.

mod support;

use std::io::{BufRead, BufReader, ErrorKind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use serde_json::json;

const ISSUER: &str = "https://auth.example.com";
/// The runtime's test-only keys (see `runtime/tests/fixtures/oauth/README.md`).
const FIXTURES: &str = "runtime/tests/fixtures/oauth";
const RSA_KID: &str = "test-rsa-1";
/// How long the server may take to print its `listening on` line.
const STARTUP: Duration = Duration::from_secs(60);
/// How long the server may take to exit after SIGTERM.
const SHUTDOWN: Duration = Duration::from_secs(15);
/// How long one client script may run.
const CLIENT_RUN: Duration = Duration::from_secs(180);
const LISTENING: &str = "notes-server: listening on ";

#[test]
fn typescript_sdk_over_streamable_http_with_bearer_tokens() {
    let Some(node) = node_tools() else {
        return;
    };
    let dir = support::workspace_root().join("tests/e2e/http");
    npm_ci(&node.npm, &dir);
    let server = Server::start("typescript");
    let mut client = Command::new(&node.node);
    client
        .arg(dir.join("typescript_client.mjs"))
        .current_dir(&dir);
    server.run_client("typescript", client);
}

#[test]
fn python_sdk_over_streamable_http_with_bearer_tokens() {
    let requirements = support::workspace_root().join("tests/e2e/requirements.txt");
    let python = support::ensure_venv(
        &support::host_python(),
        &support::target_directory(),
        &requirements,
    );
    let server = Server::start("python");
    let mut client = Command::new(python);
    client
        .arg(support::workspace_root().join("tests/e2e/http/python_client.py"))
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    server.run_client("python", client);
}

/// The fault matrix over streamable HTTP: for each way an authorization can fail, the
/// server is started with that fault injected (`NOTES_AUTHZ_FAULT`, feature
/// `fault-injection`), and the Python SDK calls every tool with an administrator's token
/// holding every scope (`e2e/test_fault_matrix.py` in HTTP mode). 0 answers other than
/// the generic denial, and 0 calls let through in the server's audit log.
#[test]
fn python_sdk_fault_matrix_over_streamable_http_is_all_denials() {
    let requirements = support::workspace_root().join("tests/e2e/requirements.txt");
    let python = support::ensure_venv(
        &support::host_python(),
        &support::target_directory(),
        &requirements,
    );
    let script = support::workspace_root().join("tests/e2e/test_fault_matrix.py");
    let faults = [
        "error",
        "panic",
        "panic_on_call",
        "hang",
        "late_allow",
        "deny",
        "odd_answer",
    ];
    let mut calls = 0;
    for fault in faults {
        let server = Server::start_with(
            "matrix",
            &[
                ("NOTES_AUTHZ_FAULT", fault),
                ("NOTES_AUTHZ_TIMEOUT_MS", "200"),
            ],
        );
        let mut client = Command::new(&python);
        client
            .arg(&script)
            .env("NOTES_MATRIX_FAULT", fault)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        let lines = server.run_matrix_client(client);
        let row = lines
            .iter()
            .find_map(|line| line.strip_prefix("http: "))
            .unwrap_or_else(|| panic!("no result row for {fault}: {lines:?}"));
        calls += row
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("an unreadable row for {fault}: {row}"));
    }
    println!(
        "streamable HTTP: {} faults × 7 tools = {calls} calls: 0 non-denial answers, 0 handler runs",
        faults.len()
    );
    assert_eq!(calls, faults.len() * 7);
}

/// A running `notes-server --http`, its log, and the tokens for it.
struct Server {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
    stderr_done: mpsc::Receiver<()>,
    tokens: Vec<(&'static str, String)>,
    _dir: TempDir,
}

impl Server {
    fn start(client: &str) -> Self {
        Self::start_with(client, &[])
    }

    /// [`start`](Self::start) with more environment for the server.
    fn start_with(client: &str, env: &[(&str, &str)]) -> Self {
        let binary = support::build_notes_server();
        let root = support::workspace_root();
        let dir = TempDir::new(&format!("http-{client}"));
        let mut child = Command::new(&binary)
            .arg("--http")
            .arg("127.0.0.1:0")
            .args(["--issuer", ISSUER])
            .arg("--jwks")
            .arg(root.join(FIXTURES).join("test-only-jwks.json"))
            .args(["--algorithms", "RS256,ES256"])
            .args(["--roles-claim", "roles"])
            .arg("--db")
            .arg(dir.path().join("notes.db"))
            .arg("--archive")
            .arg(dir.path().join("archive.db"))
            .arg("--backup-dir")
            .arg(dir.path())
            .env_remove("NOTES_OAUTH_HMAC_SECRET")
            .env("NOTES_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));

        // Every stderr line goes to the log; the first `listening on` line also to `urls`.
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (urls, url) = mpsc::channel();
        let (done, stderr_done) = mpsc::channel();
        let lines = Arc::clone(&log);
        thread::spawn(move || {
            let mut urls = Some(urls);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix(LISTENING)
                    && let Some(urls) = urls.take()
                {
                    let _ = urls.send(url.trim().to_owned());
                }
                let mut log = lines.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
            let _ = done.send(());
        });
        let url = match url.recv_timeout(STARTUP) {
            Ok(url) => url,
            Err(error) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "notes-server did not print `{LISTENING}...` ({error:?}; exit status \
                     {status:?}); its log:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        let tokens = tokens(&url, client);
        Self {
            child,
            url,
            log,
            stderr_done,
            tokens,
            _dir: dir,
        }
    }

    /// Runs `client` (a script of the e2e suite) against the server, passes its lines
    /// through, and asserts it passed; then stops the server and checks its log.
    fn run_client(mut self, name: &str, mut client: Command) {
        client
            .env("NOTES_MCP_URL", &self.url)
            .env("NOTES_ISSUER", ISSUER)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (var, token) in &self.tokens {
            client.env(var, token);
        }
        eprintln!("running the {name} client against {}", self.url);
        let started = Instant::now();
        let mut process = client
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start the {name} client {client:?}: {error}"));
        let stdout = process.stdout.take().expect("stdout is piped");
        let reader = thread::spawn(move || {
            let mut seen = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("{line}");
                seen.push(line);
            }
            seen
        });
        let status = wait_bounded(&mut process, CLIENT_RUN);
        // The client has exited (or was killed): its stdout is closed, the reader ends.
        let seen = reader.join().expect("the client's stdout reader panicked");
        let checks = seen.iter().filter(|line| line.contains(": ok: ")).count();
        eprintln!(
            "the {name} client passed {checks} checks in {:.1?}",
            started.elapsed()
        );
        let passed = status.is_some_and(|status| status.success())
            && seen.iter().any(|line| line.ends_with("all checks passed"));
        if !passed {
            let _ = self.child.kill();
            panic!(
                "the {name} client failed ({status:?}); its lines:\n{}\nthe server's log:\n{}",
                seen.join("\n"),
                self.log.lock().unwrap()
            );
        }
        assert!(checks >= 10, "the {name} client ran only {checks} checks");

        self.stop();
        let log = self.log.lock().unwrap();
        for (var, token) in &self.tokens {
            let signature = token.rsplit('.').next().unwrap_or(token);
            assert!(
                !log.contains(signature),
                "{var} reached the server's log:\n{log}"
            );
        }
        assert!(
            log.contains("rejected a bearer token"),
            "the server did not log the rejected tokens:\n{log}"
        );
        let reader = format!("{name}-reader");
        assert!(
            log.lines().any(|line| line.contains("secure_tool::audit")
                && line.contains("create_note")
                && line.contains(&reader)
                && line.contains("deny")),
            "no audit event of {reader}'s denied create_note:\n{log}"
        );
    }

    /// Runs the fault-matrix `client` against the server: its lines, once it passed and
    /// the server's log shows a denial, and no allow, for every call.
    fn run_matrix_client(mut self, mut client: Command) -> Vec<String> {
        client
            .env("NOTES_MCP_URL", &self.url)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        for (var, token) in &self.tokens {
            client.env(var, token);
        }
        let output = client
            .output()
            .unwrap_or_else(|error| panic!("cannot run the matrix client {client:?}: {error}"));
        let lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        for line in &lines {
            println!("{line}");
        }
        self.stop();
        let log = self.log.lock().unwrap();
        assert!(
            output.status.success(),
            "the matrix client failed ({}):\n{}\nthe server's log:\n{log}",
            output.status,
            lines.join("\n")
        );
        let allowed = log.matches("decision=\"allow\"").count();
        let denied = log.matches("decision=\"deny\"").count();
        assert_eq!(allowed, 0, "calls were let through:\n{log}");
        assert!(denied >= 7, "only {denied} denials in the log:\n{log}");
        lines
    }

    /// SIGTERM, then a clean exit within [`SHUTDOWN`].
    fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("cannot run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let status = wait_bounded(&mut self.child, SHUTDOWN);
        // The log is complete once the server's stderr is closed.
        let _ = self.stderr_done.recv_timeout(SHUTDOWN);
        assert!(
            status.is_some_and(|status| status.success()),
            "notes-server did not exit cleanly within {SHUTDOWN:?} of SIGTERM ({status:?}):\n{}",
            self.log.lock().unwrap()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits for `child` at most `limit`; kills it past that and returns `None`.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {
                thread::park_timeout(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// The tokens of one client run, as the environment variables the scripts read, signed
/// with the test-only RSA key: subjects `<client>-reader` and `<client>-writer`.
fn tokens(url: &str, client: &str) -> Vec<(&'static str, String)> {
    let pem = std::fs::read(
        support::workspace_root()
            .join(FIXTURES)
            .join("test-only-rsa-private.pem"),
    )
    .expect("the test-only RSA key is in the runtime's fixtures");
    let key = EncodingKey::from_rsa_pem(&pem).expect("the test-only RSA key parses");
    let now = get_current_timestamp();
    let sign_with_roles = |subject: String, scope: &str, roles: &[&str], audience: &str, exp| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(RSA_KID.to_owned());
        let claims = json!({
            "iss": ISSUER,
            "aud": audience,
            "sub": subject,
            "scope": scope,
            "roles": roles,
            "iat": now,
            "exp": exp,
        });
        encode(&header, &claims, &key).expect("a token signs")
    };
    let sign = |subject: String, scope: &str, audience: &str, exp: u64| {
        sign_with_roles(subject, scope, &[], audience, exp)
    };
    let valid = now + 600;
    vec![
        (
            "NOTES_TOKEN_READER",
            sign(format!("{client}-reader"), "notes:read", url, valid),
        ),
        (
            "NOTES_TOKEN_WRITER",
            sign(
                format!("{client}-writer"),
                "notes:read notes:write",
                url,
                valid,
            ),
        ),
        (
            "NOTES_TOKEN_ADMIN",
            sign_with_roles(
                format!("{client}-admin"),
                "notes:read notes:write",
                &["admin"],
                url,
                valid,
            ),
        ),
        (
            "NOTES_TOKEN_EXPIRED",
            sign(
                format!("{client}-expired"),
                "notes:read notes:write",
                url,
                now - 3600,
            ),
        ),
        (
            "NOTES_TOKEN_WRONG_AUDIENCE",
            sign(
                format!("{client}-elsewhere"),
                "notes:read notes:write",
                "https://other.example.com/mcp",
                valid,
            ),
        ),
    ]
}

struct NodeTools {
    node: PathBuf,
    npm: PathBuf,
}

/// `node` (18 or newer, as the SDK requires) and `npm`, or `None` after saying why the test
/// is skipped; under `CI` their absence fails the test, since `.ci/run` installs them.
fn node_tools() -> Option<NodeTools> {
    let node = PathBuf::from(std::env::var_os("NOTES_E2E_NODE").unwrap_or_else(|| "node".into()));
    let npm = PathBuf::from(std::env::var_os("NOTES_E2E_NPM").unwrap_or_else(|| "npm".into()));
    let version = |tool: &Path| match Command::new(tool).arg("--version").output() {
        Ok(output) if output.status.success() => {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        }
        Ok(output) => Err(format!(
            "`{} --version` failed ({})",
            tool.display(),
            output.status
        )),
        Err(error) if error.kind() == ErrorKind::NotFound => {
            Err(format!("`{}` was not found", tool.display()))
        }
        Err(error) => Err(format!("cannot run `{}`: {error}", tool.display())),
    };
    let found = version(&node).and_then(|node_version| {
        let major: u32 = node_version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|major| major.parse().ok())
            .unwrap_or(0);
        if major < 18 {
            return Err(format!("node {node_version} is older than 18"));
        }
        version(&npm).map(|_| ())
    });
    match found {
        Ok(()) => Some(NodeTools { node, npm }),
        Err(why) => {
            let message = format!(
                "{why}: the TypeScript SDK end-to-end test needs Node.js 18 or newer (the SDK's \
                 minimum) and npm (e.g. `apt-get install -y nodejs npm`, or set NOTES_E2E_NODE \
                 and NOTES_E2E_NPM)"
            );
            assert!(std::env::var_os("CI").is_none(), "{message}");
            eprintln!("SKIPPED: {message}");
            None
        }
    }
}

/// `npm ci` in `dir` unless its `node_modules` was installed from the same lock file; npm's
/// cache goes under the target directory.
fn npm_ci(npm: &Path, dir: &Path) {
    let lock = std::fs::read(dir.join("package-lock.json"))
        .expect("tests/e2e/http/package-lock.json is committed");
    let stamp = format!("package-lock fnv1a64:{:016x}\n", support::fnv1a64(&lock));
    let stamp_file = dir.join("node_modules").join(".secure-tool-e2e.stamp");
    if std::fs::read_to_string(&stamp_file).is_ok_and(|found| found == stamp) {
        return;
    }
    eprintln!(
        "npm ci in {} (first run, or the lock file changed)",
        dir.display()
    );
    let output = Command::new(npm)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .env(
            "npm_config_cache",
            support::target_directory().join("npm-cache"),
        )
        .env("npm_config_update_notifier", "false")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run `{} ci`: {error}", npm.display()));
    assert!(
        output.status.success(),
        "`npm ci` failed ({}); the first run needs access to the npm registry:\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(&stamp_file, stamp).expect("cannot write the node_modules stamp");
}

/// A directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "secure-tool-e2e-{name}-{}",
            support::unique_suffix()
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

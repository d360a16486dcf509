//! The real `notes-server` binary over streamable HTTP, as an OAuth resource server, for
//! the tests that drive it with the official MCP SDKs (`http_clients.rs`,
//! `load_faults.rs`), and `notes-fault-server` for the fault matrix.
//!
//! [`Server::start`] runs it with `--http 127.0.0.1:0`, verifying RS256 tokens with the
//! runtime's test-only JWKS, waits (bounded) for its `listening on` line, and mints the
//! tokens of one client run with the matching test-only private key. Every line of its
//! log is kept; [`Server::stop`] sends SIGTERM and requires a clean exit.
//!
//! [`Server::start_with_issuer`] runs it against a real authorization server instead (see
//! `oidc.rs`): `--issuer URL` and no `--jwks`, so the server discovers the issuer's
//! metadata and fetches its keys itself; the tokens are then the test's to get.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use serde_json::json;

use super::notes_bin::{self, TempDir};

/// The issuer the server trusts and the tokens name.
pub const ISSUER: &str = "https://auth.example.com";
/// The runtime's test-only keys (see `runtime/tests/fixtures/oauth/README.md`).
const FIXTURES: &str = "runtime/tests/fixtures/oauth";
const RSA_KID: &str = "test-rsa-1";
/// How long the server may take to print its `listening on` line.
const STARTUP: Duration = Duration::from_secs(60);
/// How long the server may take to exit after SIGTERM.
pub const SHUTDOWN: Duration = Duration::from_secs(15);
const LISTENING: &str = "notes-server: listening on ";

/// Where the server's verification keys come from.
enum Keys {
    /// The runtime's test-only JWKS file, for [`ISSUER`].
    Fixture,
    /// Discovered from this issuer's metadata (`--issuer URL`, no `--jwks`).
    Issuer(String),
}

/// Where the server keeps its notes.
pub enum Store {
    /// A SQLite file in the server's temporary directory (the default store).
    Sqlite,
    /// A PostgreSQL connection string, given with `--database-url`.
    Postgres(String),
}

/// A running `notes-server --http`, its log, and the tokens for it.
pub struct Server {
    pub child: Child,
    /// The MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    log: Arc<Mutex<String>>,
    stderr_done: mpsc::Receiver<()>,
    /// The tokens of this run, as the environment variables the client scripts read.
    pub tokens: Vec<(&'static str, String)>,
    /// The issuer the server trusts.
    issuer: String,
    _dir: TempDir,
}

impl Server {
    /// Starts the server on SQLite with `env` added to its environment; `client` names
    /// the subjects of its tokens (`<client>-reader`, `<client>-writer`...).
    pub fn start(client: &str, env: &[(&str, &str)]) -> Self {
        Self::start_on(client, Store::Sqlite, env)
    }

    /// [`start`](Self::start) on the given store.
    pub fn start_on(client: &str, store: Store, env: &[(&str, &str)]) -> Self {
        Self::launch(notes_bin::notes_server(), client, Keys::Fixture, store, env)
    }

    /// One replica of a service behind a load balancer, the release binary: on `store`,
    /// listening on `listen` (a fixed `127.0.0.1:PORT`, so that a restarted replica comes
    /// back where the balancer looks for it), its audience and [`url`](Self::url) the balancer's `public` URL, for
    /// which the tokens are minted.
    pub fn start_replica(
        client: &str,
        store: Store,
        listen: &str,
        public: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let mut replica = Self::launch_at(
            notes_bin::notes_server_release(),
            client,
            Keys::Fixture,
            store,
            (listen, Some(public)),
            env,
        );
        replica.url = public.to_owned();
        replica
    }

    /// The server on SQLite trusting `issuer` (`http://127.0.0.1:PORT` of a provider on
    /// loopback), its keys discovered and fetched from there, with `env` added to its
    /// environment. It mints no tokens: [`tokens`](Self::tokens) is empty.
    pub fn start_with_issuer(client: &str, issuer: &str, env: &[(&str, &str)]) -> Self {
        Self::launch(
            notes_bin::notes_server(),
            client,
            Keys::Issuer(issuer.to_owned()),
            Store::Sqlite,
            env,
        )
    }

    /// `notes-fault-server` on SQLite, every authorization failing as `fault` says (with a
    /// deadline of 200 ms), for the fault matrix.
    pub fn start_with_fault(client: &str, fault: &str) -> Self {
        let env = [
            ("NOTES_AUTHZ_FAULT", fault),
            ("NOTES_AUTHZ_TIMEOUT_MS", "200"),
        ];
        Self::launch(
            notes_bin::notes_fault_server(),
            client,
            Keys::Fixture,
            Store::Sqlite,
            &env,
        )
    }

    fn launch(
        binary: PathBuf,
        client: &str,
        keys: Keys,
        store: Store,
        env: &[(&str, &str)],
    ) -> Self {
        Self::launch_at(binary, client, keys, store, ("127.0.0.1:0", None), env)
    }

    /// [`launch`](Self::launch) listening on `listen.0`, with the audience `listen.1` (by
    /// default the URL it listens on).
    fn launch_at(
        binary: PathBuf,
        client: &str,
        keys: Keys,
        store: Store,
        listen: (&str, Option<&str>),
        env: &[(&str, &str)],
    ) -> Self {
        let root = notes_bin::workspace_root();
        let dir = notes_bin::empty_dir(&format!("http-{client}"));
        let mut command = notes_bin::command(&binary, dir.path());
        command.arg("--http").arg(listen.0);
        if let Some(audience) = listen.1 {
            command.arg("--audience").arg(audience);
        }
        let issuer = match &keys {
            Keys::Fixture => {
                command
                    .args(["--issuer", ISSUER])
                    .arg("--jwks")
                    .arg(root.join(FIXTURES).join("test-only-jwks.json"))
                    .args(["--algorithms", "RS256,ES256"]);
                ISSUER.to_owned()
            }
            Keys::Issuer(issuer) => {
                command.args(["--issuer", issuer]);
                issuer.clone()
            }
        };
        command.args(["--roles-claim", "roles"]);
        match store {
            Store::Sqlite => command.arg("--db").arg(dir.path().join("notes.db")),
            Store::Postgres(url) => command.arg("--database-url").arg(url),
        };
        let mut child = command
            .arg("--archive")
            .arg(dir.path().join("archive.db"))
            .arg("--backup-dir")
            .arg(dir.path())
            .env("NOTES_LOG", "info")
            .envs(env.iter().copied())
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
                let mut log = lines.lock().unwrap_or_else(PoisonError::into_inner);
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
                    log.lock().unwrap_or_else(PoisonError::into_inner)
                );
            }
        };
        let tokens = match keys {
            Keys::Fixture => tokens(listen.1.unwrap_or(&url), client),
            Keys::Issuer(_) => Vec::new(),
        };
        Self {
            child,
            url,
            log,
            stderr_done,
            tokens,
            issuer,
            _dir: dir,
        }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Gives `client` the server's URL (`NOTES_MCP_URL`), its issuer (`NOTES_ISSUER`)
    /// and the tokens (`NOTES_TOKEN_*`).
    pub fn configure(&self, client: &mut Command) {
        client
            .env("NOTES_MCP_URL", &self.url)
            .env("NOTES_ISSUER", &self.issuer);
        for (var, token) in &self.tokens {
            client.env(var, token);
        }
    }

    /// Runs the end-to-end `client` against this server (its URL, issuer and tokens in the
    /// environment, see [`configure`](Self::configure)) until it exits, at most `limit`,
    /// passing its lines through: it must end with `all checks passed` after at least
    /// `min_checks` lines of `: ok: `. How many checks it passed, and how long it ran.
    pub fn run_client(
        &mut self,
        name: &str,
        mut client: Command,
        min_checks: usize,
        limit: Duration,
    ) -> (usize, Duration) {
        self.configure(&mut client);
        client
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
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
        let status = wait_bounded(&mut process, limit);
        // The client has exited (or was killed): its stdout is closed, the reader ends.
        let seen = reader.join().expect("the client's stdout reader panicked");
        let took = started.elapsed();
        let checks = seen.iter().filter(|line| line.contains(": ok: ")).count();
        eprintln!("the {name} client passed {checks} checks in {took:.1?}");
        let passed = status.is_some_and(|status| status.success())
            && seen.iter().any(|line| line.ends_with("all checks passed"));
        if !passed || checks < min_checks {
            let _ = self.child.kill();
            panic!(
                "the {name} client failed ({status:?}, {checks} checks, at least {min_checks} \
                 expected); its lines:\n{}\nthe server's log:\n{}",
                seen.join("\n"),
                self.log()
            );
        }
        (checks, took)
    }

    /// SIGTERM, then a clean exit within [`SHUTDOWN`].
    pub fn stop(&mut self) {
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
            self.log()
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
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
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
/// with the test-only RSA key: subjects `<client>-reader`, `<client>-writer`,
/// `<client>-admin` (role `admin`), and an expired and a wrong-audience token.
fn tokens(url: &str, client: &str) -> Vec<(&'static str, String)> {
    let pem = std::fs::read(
        notes_bin::workspace_root()
            .join(FIXTURES)
            .join("test-only-rsa-private.pem"),
    )
    .expect("the test-only RSA key is in the runtime's fixtures");
    let key = EncodingKey::from_rsa_pem(&pem).expect("the test-only RSA key parses");
    let now = get_current_timestamp();
    let sign = |subject: String, scope: &str, roles: &[&str], audience: &str, exp: u64| {
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
    let valid = now + 3600;
    let both = "notes:read notes:write";
    vec![
        (
            "NOTES_TOKEN_READER",
            sign(format!("{client}-reader"), "notes:read", &[], url, valid),
        ),
        (
            "NOTES_TOKEN_WRITER",
            sign(format!("{client}-writer"), both, &[], url, valid),
        ),
        (
            "NOTES_TOKEN_OUTSIDER",
            sign(format!("{client}-outsider"), "profile", &[], url, valid),
        ),
        (
            "NOTES_TOKEN_ADMIN",
            sign(format!("{client}-admin"), both, &["admin"], url, valid),
        ),
        (
            "NOTES_TOKEN_EXPIRED",
            sign(format!("{client}-expired"), both, &[], url, now - 3600),
        ),
        (
            "NOTES_TOKEN_WRONG_AUDIENCE",
            sign(
                format!("{client}-elsewhere"),
                both,
                &[],
                "https://other.example.com/mcp",
                valid,
            ),
        ),
    ]
}

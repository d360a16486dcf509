//! A real OpenID provider on loopback for the tests of `notes-server` as an OAuth resource
//! server: panva's `oidc-provider` (the npm package, OpenID certified) run by
//! `tests/e2e/oidc/provider.mjs` on the Node.js 22 it needs (the npm package `node`,
//! installed beside it from the committed lock file, as for the conformance suite).
//!
//! [`setup`] installs the packages (`npm ci` in `tests/e2e/oidc` on a first run or when the
//! lock file changed, quietly, npm's cache under the target directory) with the machine's
//! own `node` and `npm` (18 or newer); without them the test is skipped with a message,
//! except under `CI`, where it fails. [`Oidc::keys`] generates RSA key pairs (with
//! Node.js's crypto); [`Provider::start`] runs the provider on `127.0.0.1:0` with a key
//! set and waits (bounded) for its `listening on` line; [`Provider::token`] gets a JWT
//! access token for a resource with the client-credentials grant; [`Provider::rotate`]
//! swaps the key set in the running process (same port, same issuer); dropping the
//! [`Provider`] ends it.
//!
//! The provider's tokens, as oidc-provider 9.13.3 issues them: header
//! `{"alg":"RS256","typ":"at+jwt","kid":KID}` (KID of the first key of the set), claims
//! `jti`, `sub` (= the client id), `iat`, `exp` (`iat` + 300 s), `scope` (the requested
//! scopes that [`SCOPES`] allows, space separated; others are dropped silently),
//! `client_id`, `iss` (= [`Provider::issuer`]) and `aud` (= the resource, a string).
//! Discovery is served at both `/.well-known/openid-configuration` and RFC 8414's
//! `/.well-known/oauth-authorization-server` (the same document), its keys at `/jwks`.
//!
//! HTTP to the provider is plain HTTP/1.1 over `std::net::TcpStream` (`Connection:
//! close`), with timeouts: the tests package has no HTTP client of its own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::notes_bin::{self, TempDir};

/// The client of the client-credentials grant.
pub const CLIENT_ID: &str = "notes-test-client";
/// Its secret (test-only).
pub const CLIENT_SECRET: &str = "notes-test-secret";
/// The scopes the provider grants for any resource.
pub const SCOPES: &str = "notes:read notes:write";
/// The lifetime of its access tokens, in seconds.
pub const ACCESS_TOKEN_TTL: u64 = 300;
/// The Node.js major version oidc-provider 9 supports (it warns on older ones).
const NODE_MAJOR: u32 = 22;
/// How long the provider may take to print its `listening on` line.
const STARTUP: Duration = Duration::from_secs(30);
/// How long a reload of the key set may take.
const RELOAD: Duration = Duration::from_secs(10);
/// How long one HTTP exchange with the provider may take.
const HTTP: Duration = Duration::from_secs(10);
/// How long key generation may take.
const GENKEY: Duration = Duration::from_secs(60);
/// How long the provider may take to exit once its stdin is closed.
const SHUTDOWN: Duration = Duration::from_secs(5);
const LISTENING: &str = "oidc-provider: listening on ";
const RELOADED: &str = "oidc-provider: reloaded kids ";
const RELOAD_FAILED: &str = "oidc-provider: reload failed";

/// The installed provider: `tests/e2e/oidc` with its packages, and its Node.js 22.
pub struct Oidc {
    /// The Node.js 22 binary of the npm package `node`.
    pub node: PathBuf,
    /// `tests/e2e/oidc`.
    pub dir: PathBuf,
}

/// `tests/e2e/oidc`, its packages installed, or `None` after saying why the test is
/// skipped (see [`super::node::tools`]: under `CI` a missing `node` fails the test).
pub fn setup() -> Option<Oidc> {
    let tools = super::node::tools()?;
    let dir = super::workspace_root().join("tests/e2e/oidc");
    super::node::npm_ci(&tools.npm, &dir);
    let node = dir.join("node_modules/node/bin/node");
    let version = Command::new(&node)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| {
            panic!(
                "{} does not run: the npm package `node` installs it from its install script \
                 (is npm's ignore-scripts set?)",
                node.display()
            )
        });
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok())
        .unwrap_or(0);
    assert!(
        major >= NODE_MAJOR,
        "{} is Node.js {version}; oidc-provider 9 needs {NODE_MAJOR} or newer",
        node.display()
    );
    Some(Oidc { node, dir })
}

impl Oidc {
    /// One fresh RSA key pair (2048 bits, RS256) per kid, generated by one Node.js run.
    pub fn keys(&self, kids: &[&str]) -> Vec<Key> {
        let mut child = Command::new(&self.node)
            .arg("provider.mjs")
            .arg("genkey")
            .args(kids)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", self.node.display()));
        let status = super::http_server::wait_bounded(&mut child, GENKEY);
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        if let Some(mut err) = child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        assert!(
            status.is_some_and(|status| status.success()),
            "`provider.mjs genkey` failed or took more than {GENKEY:?} ({status:?}):\n{stderr}"
        );
        let keys: Vec<Key> = stdout
            .lines()
            .map(|line| {
                let jwk: Value = serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("genkey printed {line:?}: {error}"));
                let kid = jwk["kid"]
                    .as_str()
                    .expect("a generated key has a kid")
                    .to_owned();
                Key { kid, jwk }
            })
            .collect();
        let generated: Vec<&str> = keys.iter().map(|key| key.kid.as_str()).collect();
        assert_eq!(generated, kids, "genkey printed other keys than asked");
        keys
    }
}

/// An RSA key pair of the provider, as a private JWK.
#[derive(Clone, Debug)]
pub struct Key {
    /// Its `kid`.
    pub kid: String,
    jwk: Value,
}

impl Key {
    /// The private JWK (with `d`, `p`, `q`, `dp`, `dq`, `qi`).
    pub fn private_jwk(&self) -> &Value {
        &self.jwk
    }

    /// The public JWK: `kty`, `n`, `e`, `kid`, `alg`, `use`.
    pub fn public_jwk(&self) -> Value {
        let mut public = serde_json::Map::new();
        for member in ["kty", "n", "e", "kid", "alg", "use"] {
            if let Some(value) = self.jwk.get(member) {
                public.insert(member.to_owned(), value.clone());
            }
        }
        Value::Object(public)
    }
}

/// A JWK Set of the public halves of `keys`, in order.
pub fn public_jwks(keys: &[Key]) -> Value {
    json!({ "keys": keys.iter().map(Key::public_jwk).collect::<Vec<_>>() })
}

/// An HTTP response from the provider.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The body as JSON, panicking with the response if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {self:?}"))
    }
}

/// The running provider.
pub struct Provider {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<String>>,
    issuer: String,
    port: u16,
    node: PathBuf,
    script_dir: PathBuf,
    kids: Vec<String>,
    dir: TempDir,
}

impl Provider {
    /// Starts the provider on `127.0.0.1:0` with `keys` (the first one signs), and waits
    /// for it to listen.
    pub fn start(oidc: &Oidc, keys: &[Key]) -> Self {
        let dir = notes_bin::empty_dir("oidc-provider");
        write_jwks(dir.path(), keys);
        let (child, stdin, lines, log) = spawn(&oidc.node, &oidc.dir, dir.path(), 0);
        let mut provider = Self {
            child,
            stdin: Some(stdin),
            lines,
            log,
            issuer: String::new(),
            port: 0,
            node: oidc.node.clone(),
            script_dir: oidc.dir.clone(),
            kids: kids(keys),
            dir,
        };
        provider.issuer = provider.wait_listening();
        provider.port = provider
            .issuer
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in the issuer {}", provider.issuer));
        provider
    }

    /// The issuer, `http://127.0.0.1:PORT` (no trailing slash), as the tokens' `iss`.
    pub fn issuer(&self) -> String {
        self.issuer.clone()
    }

    /// The kids of the current key set, the signing one first.
    pub fn kids(&self) -> &[String] {
        &self.kids
    }

    /// `GET` of a path (`/jwks`) or URL of the provider.
    pub fn get(&self, path: &str) -> Response {
        http(&self.url(path), "GET", &[], None)
    }

    /// The discovery document, `/.well-known/openid-configuration`.
    pub fn discovery(&self) -> Value {
        let response = self.get("/.well-known/openid-configuration");
        assert_eq!(response.status, 200, "discovery: {response:?}");
        response.json()
    }

    /// The published JWK Set, `/jwks` (the discovery document's `jwks_uri`).
    pub fn jwks(&self) -> Value {
        let response = self.get("/jwks");
        assert_eq!(response.status, 200, "jwks: {response:?}");
        response.json()
    }

    /// A client-credentials grant at `/token` with `form` (besides `grant_type`), the
    /// client authenticated with HTTP Basic.
    pub fn token_request(&self, form: &[(&str, &str)]) -> Response {
        let mut body = String::from("grant_type=client_credentials");
        for (name, value) in form {
            body.push('&');
            body.push_str(&form_encode(name));
            body.push('=');
            body.push_str(&form_encode(value));
        }
        let basic = STANDARD.encode(format!(
            "{}:{}",
            form_encode(CLIENT_ID),
            form_encode(CLIENT_SECRET)
        ));
        http(
            &self.url("/token"),
            "POST",
            &[
                ("Authorization", format!("Basic {basic}")),
                (
                    "Content-Type",
                    "application/x-www-form-urlencoded".to_owned(),
                ),
            ],
            Some(&body),
        )
    }

    /// A JWT access token for `resource` (its `aud`) with the `scopes` the provider
    /// allows of those asked (space separated; empty asks none).
    pub fn token(&self, resource: &str, scopes: &str) -> String {
        let mut form = vec![("resource", resource)];
        if !scopes.is_empty() {
            form.push(("scope", scopes));
        }
        let response = self.token_request(&form);
        assert_eq!(response.status, 200, "token request: {response:?}");
        let answer = response.json();
        assert_eq!(answer["token_type"], "Bearer", "token response: {answer}");
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {answer}"))
            .to_owned()
    }

    /// Replaces the key set in the running provider, on the same port and issuer: the
    /// provider reads the new JWK Set and swaps in a provider built with it (tokens already
    /// issued stay valid, as they are self-contained JWTs); `keys[0]` signs from then on,
    /// and `/jwks` publishes exactly `keys`. E.g. `[new, old]`, then `[new]`.
    pub fn rotate(&mut self, keys: &[Key]) {
        write_jwks(self.dir.path(), keys);
        let stdin = self.stdin.as_mut().expect("the provider's stdin is open");
        stdin
            .write_all(b"reload\n")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|error| panic!("cannot ask the provider to reload: {error}"));
        let deadline = Instant::now() + RELOAD;
        let expected = kids(keys).join(",");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(RELOADED) => {
                    let found = &line[RELOADED.len()..];
                    assert_eq!(found, expected, "the provider reloaded other keys");
                    break;
                }
                Ok(line) if line.starts_with(RELOAD_FAILED) => {
                    panic!("{line}\nthe provider's log:\n{}", self.log())
                }
                Ok(_) => {}
                Err(error) => panic!(
                    "the provider did not reload within {RELOAD:?} ({error:?}); its log:\n{}",
                    self.log()
                ),
            }
        }
        self.kids = kids(keys);
    }

    /// Stops the provider and starts it again with `keys`, on the same port and issuer
    /// (nothing survives in between: a resource server's cached keys are all it has).
    pub fn restart(&mut self, keys: &[Key]) {
        self.shut_down();
        write_jwks(self.dir.path(), keys);
        let (child, stdin, lines, log) =
            spawn(&self.node, &self.script_dir, self.dir.path(), self.port);
        self.child = child;
        self.stdin = Some(stdin);
        self.lines = lines;
        self.log = log;
        let issuer = self.wait_listening();
        assert_eq!(
            issuer, self.issuer,
            "the provider came back on another port"
        );
        self.kids = kids(keys);
    }

    /// Everything the provider printed so far (stdout and stderr).
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.issuer)
        }
    }

    fn wait_listening(&mut self) -> String {
        let deadline = Instant::now() + STARTUP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(issuer) = line.strip_prefix(LISTENING) {
                        return issuer.trim().to_owned();
                    }
                }
                Err(error) => {
                    self.shut_down();
                    panic!(
                        "the OpenID provider did not print `{LISTENING}...` within \
                         {STARTUP:?} ({error:?}); its log:\n{}",
                        self.log()
                    );
                }
            }
        }
    }

    /// Closes its stdin (it exits), killing it if it is still there after [`SHUTDOWN`].
    fn shut_down(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            super::http_server::wait_bounded(&mut self.child, SHUTDOWN);
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn kids(keys: &[Key]) -> Vec<String> {
    keys.iter().map(|key| key.kid.clone()).collect()
}

/// Writes the private JWK Set of `keys` to `dir/jwks.json`, atomically.
fn write_jwks(dir: &Path, keys: &[Key]) {
    assert!(!keys.is_empty(), "the provider needs at least one key");
    let jwks = json!({ "keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>() });
    let staging = dir.join("jwks.json.tmp");
    std::fs::write(&staging, jwks.to_string())
        .and_then(|()| std::fs::rename(&staging, dir.join("jwks.json")))
        .unwrap_or_else(|error| panic!("cannot write the provider's keys: {error}"));
}

type Spawned = (
    Child,
    ChildStdin,
    mpsc::Receiver<String>,
    Arc<Mutex<String>>,
);

/// Runs `provider.mjs serve`, its stdout lines sent to the receiver, both streams logged.
fn spawn(node: &Path, script_dir: &Path, dir: &Path, port: u16) -> Spawned {
    let mut child = Command::new(node)
        .arg("provider.mjs")
        .arg("serve")
        .arg("--jwks")
        .arg(dir.join("jwks.json"))
        .args(["--port", &port.to_string()])
        .env("OIDC_CLIENT_ID", CLIENT_ID)
        .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .env("OIDC_SCOPES", SCOPES)
        .env("OIDC_ACCESS_TOKEN_TTL", ACCESS_TOKEN_TTL.to_string())
        .env_remove("DEBUG")
        .current_dir(script_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", node.display()));
    let stdin = child.stdin.take().expect("stdin is piped");
    let log = Arc::new(Mutex::new(String::new()));
    let (sender, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let stdout_log = Arc::clone(&log);
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            append(&stdout_log, &line);
            let _ = sender.send(line);
        }
    });
    let stderr_log = Arc::clone(&log);
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            append(&stderr_log, &line);
        }
    });
    (child, stdin, lines, log)
}

fn append(log: &Mutex<String>, line: &str) {
    let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
    log.push_str(line);
    log.push('\n');
}

/// `application/x-www-form-urlencoded` encoding of one name or value.
fn form_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                encoded.push(char::from(byte));
            }
            b' ' => encoded.push('+'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// One HTTP/1.1 exchange with `http://127.0.0.1:PORT/...`, bounded by [`HTTP`].
fn http(url: &str, method: &str, headers: &[(&str, String)], body: Option<&str>) -> Response {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http URL: {url}"));
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let fail = |error: std::io::Error| -> ! { panic!("{method} {url}: {error}") };
    let mut stream = TcpStream::connect(authority).unwrap_or_else(|error| fail(error));
    stream
        .set_read_timeout(Some(HTTP))
        .unwrap_or_else(|error| fail(error));
    stream
        .set_write_timeout(Some(HTTP))
        .unwrap_or_else(|error| fail(error));
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or(""));
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|error| fail(error));
    let deadline = Instant::now() + HTTP;
    let mut raw = Vec::new();
    let mut buffer = [0; 8192];
    loop {
        assert!(
            Instant::now() < deadline,
            "{method} {url}: no answer within {HTTP:?}"
        );
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => raw.extend_from_slice(&buffer[..read]),
            Err(error) => fail(error),
        }
    }
    parse_response(&raw).unwrap_or_else(|| {
        panic!(
            "{method} {url}: not an HTTP response: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let end = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Some(Response {
        status,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|window| window == b"\r\n")?;
        let size = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

/// The header and the claims of a JWT, decoded (base64url, JSON) without verifying it.
pub fn decode_unverified(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWS compact serialization: {token}");
    let decode = |what: &str, part: &str| -> Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .unwrap_or_else(|error| panic!("the token's {what} is not base64url: {error}"));
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|error| panic!("the token's {what} is not JSON: {error}"))
    };
    (decode("header", parts[0]), decode("claims", parts[1]))
}

//! A server whose every failure carries a canary: unique strings (a file path, an SQL
//! statement, a secret read from the environment, a panic message, a backtrace) planted in
//! handler errors, panics, policy errors and argument-parsing failures, of tools, resources,
//! prompts and completions. The leak tests check
//! that no byte the client received holds a canary, and that the server's log holds every
//! one:
//!
//! - without arguments it serves stdio, driven by `e2e/test_canaries_stdio.py` with the
//!   official MCP Python SDK;
//! - with `--http ADDR` it serves the same tools over rmcp's streamable HTTP transport at
//!   `http://ADDR/mcp` (port 0 picks a free port), behind [`BearerAuth`], driven by
//!   `e2e/test_canaries_http.py` through a byte-recording proxy. Once bound it prints
//!   `canary-server: listening on http://IP:PORT/mcp` on stderr. Tokens are HS256 JWTs of
//!   the issuer [`ISSUER`] for that URL as audience, verified with the keys of the JWK set
//!   at `CANARY_JWKS`: its path and its key are canaries of the configuration, which a
//!   rejected token's `401` must not show either. Each request's principal is its token's.
//!
//! The canaries are made from `CANARY_TOKEN` (fresh for every run), and the secret is
//! `CANARY_SECRET`, as a server would read an API key.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use secure_tool::authz::{AccessRequest, Authorize, Decision, PolicyError, PolicyFuture, custom};
use secure_tool::oauth::{Algorithm, BearerAuth, BindSessions, SafeErrors};
use secure_tool::prelude::*;
use secure_tool::rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use tokio::net::TcpListener;
use tracing_subscriber::prelude::*;

/// The issuer the HTTP server expects in tokens (`iss`).
const ISSUER: &str = "https://auth.canary.invalid";

/// Where the MCP endpoint is mounted over HTTP.
const MCP_PATH: &str = "/mcp";

/// The variable naming the JWK set that verifies tokens over HTTP.
const JWKS_VAR: &str = "CANARY_JWKS";

const USAGE: &str = "usage: canary-server [--http IP:PORT]";

/// Everything secret about this server.
#[derive(Clone)]
struct Canaries {
    path: String,
    sql: String,
    secret: String,
    panic: String,
    policy: String,
    parse: String,
    prompt: String,
    prompt_parse: String,
    completion: String,
}

impl Canaries {
    fn from_env() -> Self {
        let token = std::env::var("CANARY_TOKEN").expect("CANARY_TOKEN");
        let secret = std::env::var("CANARY_SECRET").expect("CANARY_SECRET");
        Self {
            path: format!("/var/lib/canary-{token}/store.db"),
            sql: format!("SELECT secret_{token} FROM canary_vault"),
            secret,
            panic: format!("invariant canary-panic-{token} broken"),
            policy: format!("policy service canary-policy-{token} failed"),
            parse: format!("lookup of canary-parse-{token} failed"),
            prompt: format!("briefing canary-prompt-{token} failed"),
            prompt_parse: format!("prompt argument canary-prompt-parse-{token} failed"),
            completion: format!("completion canary-complete-{token} failed"),
        }
    }
}

static CANARIES: std::sync::OnceLock<Canaries> = std::sync::OnceLock::new();

fn canaries() -> &'static Canaries {
    CANARIES.get_or_init(Canaries::from_env)
}

/// A store error as a careless driver writes it: path, statement, credentials, and the
/// backtrace where it was made.
#[derive(Debug)]
struct StoreError {
    backtrace: std::backtrace::Backtrace,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = canaries();
        write!(
            f,
            "query `{}` on {} with password={} failed\n{}",
            c.sql, c.path, c.secret, self.backtrace
        )
    }
}

impl std::error::Error for StoreError {}

#[inline(never)]
fn capture_backtrace_for_the_log() -> StoreError {
    StoreError {
        backtrace: std::backtrace::Backtrace::force_capture(),
    }
}

/// Arguments whose own parser fails with internals in its message.
#[derive(Debug)]
struct Lookup;

/// Consumes what `deserializer` holds, then fails with `canary` and internals.
fn fail_parsing<'de, D: serde::Deserializer<'de>, T>(
    deserializer: D,
    canary: &str,
) -> Result<T, D::Error> {
    let _ = <serde::de::IgnoredAny as serde::Deserialize>::deserialize(deserializer)?;
    let c = canaries();
    Err(serde::de::Error::custom(format!(
        "{canary} in {} ({})",
        c.path, c.sql
    )))
}

/// The schema of the failing arguments: one text field, `key`.
fn key_schema() -> schemars::Schema {
    schemars::json_schema!({"type": "object", "properties": {"key": {"type": "string"}}})
}

impl<'de> serde::Deserialize<'de> for Lookup {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fail_parsing(deserializer, &canaries().parse)
    }
}

impl schemars::JsonSchema for Lookup {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Lookup".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        key_schema()
    }
}

/// A prompt's arguments whose own parser fails with internals in its message.
#[derive(Debug)]
struct PromptLookup;

impl<'de> serde::Deserialize<'de> for PromptLookup {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fail_parsing(deserializer, &canaries().prompt_parse)
    }
}

impl schemars::JsonSchema for PromptLookup {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PromptLookup".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        key_schema()
    }
}

/// The failure of a prompt's handler, with internals in its message.
#[derive(Debug)]
struct BriefingError;

impl fmt::Display for BriefingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = canaries();
        write!(f, "{} reading {} (password={})", c.prompt, c.path, c.secret)
    }
}

impl std::error::Error for BriefingError {}

/// The failure of a completer, with internals in its message.
#[derive(Debug)]
struct CompletionError;

impl fmt::Display for CompletionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = canaries();
        write!(f, "{}: `{}` on {}", c.completion, c.sql, c.path)
    }
}

impl std::error::Error for CompletionError {}

#[derive(Debug)]
struct PolicyServiceError;

impl fmt::Display for PolicyServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = canaries();
        write!(f, "{} at {} (token {})", c.policy, c.path, c.secret)
    }
}

impl std::error::Error for PolicyServiceError {}

/// A remote policy that errors, or panics, with internals in its message.
struct FailingPolicy {
    panics: bool,
}

impl Authorize for FailingPolicy {
    fn authorize<'a>(&'a self, _request: AccessRequest<'a>) -> PolicyFuture<'a> {
        let panics = self.panics;
        Box::pin(async move {
            if panics {
                panic!("{}", canaries().policy);
            }
            Err::<Decision, PolicyError>(Box::new(PolicyServiceError))
        })
    }
}

fn erroring_policy() -> secure_tool::Policy {
    custom(FailingPolicy { panics: false })
}

fn panicking_policy() -> secure_tool::Policy {
    custom(FailingPolicy { panics: true })
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Answer {
    value: String,
}

#[derive(Clone)]
struct Vault {
    _state: Arc<()>,
}

#[secure_tool_router]
impl Vault {
    /// Reads the vault: its store fails.
    #[secure_tool(authz = public, mode = read)]
    async fn read_vault(&self) -> Result<Answer, StoreError> {
        Err(capture_backtrace_for_the_log())
    }

    /// Reads the vault, wrapping the store's failure as an internal error.
    #[secure_tool(authz = public, mode = read)]
    async fn read_vault_wrapped(&self) -> Result<Answer, ToolError> {
        Err(ToolError::internal(capture_backtrace_for_the_log()))
    }

    /// Panics with internals in its message.
    #[secure_tool(authz = public, mode = read)]
    async fn check_invariant(&self) -> Result<Answer, ToolError> {
        panic!("{} while reading {}", canaries().panic, canaries().path)
    }

    /// Parses its arguments with a parser that fails.
    #[secure_tool(authz = public, mode = read)]
    async fn look_up(&self, args: Lookup) -> Result<Answer, ToolError> {
        Ok(Answer {
            value: format!("{args:?}"),
        })
    }

    /// Guarded by a policy service that fails.
    #[secure_tool(authz = erroring_policy(), mode = read)]
    async fn audited_read(&self) -> Result<Answer, ToolError> {
        unreachable!("the policy never allows")
    }

    /// Guarded by a policy that panics.
    #[secure_tool(authz = panicking_policy(), mode = write)]
    async fn audited_write(&self) -> Result<Answer, ToolError> {
        unreachable!("the policy never allows")
    }

    /// The vault as a resource: its store fails.
    #[secure_resource(uri = "vault://secret", authz = public)]
    async fn vault_resource(&self) -> Result<ResourceBody, StoreError> {
        Err(capture_backtrace_for_the_log())
    }

    /// A resource whose handler panics with internals in its message.
    #[secure_resource(uri = "vault://invariant", authz = public)]
    async fn invariant_resource(&self) -> Result<ResourceBody, ToolError> {
        panic!("{} while reading {}", canaries().panic, canaries().path)
    }

    /// A template whose variable is parsed by a parser that fails, and completed by a
    /// completer that fails.
    #[secure_resource(
        uri = "vault://lookup/{key}",
        authz = public,
        complete(key = Self::vault_keys)
    )]
    async fn lookup_resource(&self, params: Lookup) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(format!("{params:?}")))
    }

    /// A resource guarded by a policy service that fails.
    #[secure_resource(uri = "vault://audited", authz = erroring_policy())]
    async fn audited_resource(&self) -> Result<ResourceBody, ToolError> {
        unreachable!("the policy never allows")
    }

    /// A briefing on the vault: its handler fails with an internal error.
    #[secure_prompt(authz = public)]
    async fn vault_briefing(&self) -> Result<PromptReply, ToolError> {
        Err(ToolError::internal(BriefingError))
    }

    /// A prompt whose argument is parsed by a parser that fails, and completed by a
    /// completer that fails.
    #[secure_prompt(authz = public, complete(key = Self::vault_keys))]
    async fn vault_lookup(&self, args: PromptLookup) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user(format!("{args:?}")))
    }

    /// The keys of the vault that start with what is typed: its store fails.
    async fn vault_keys(&self, _typed: CompletionRequest) -> Result<Vec<String>, CompletionError> {
        Err(CompletionError)
    }
}

impl secure_tool::rmcp::ServerHandler for Vault {}

/// How the server is reached.
enum Transport {
    Stdio,
    Http(SocketAddr),
}

impl Transport {
    fn from_args(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let transport = match args.next().as_deref() {
            None => Self::Stdio,
            Some("--http") => {
                let listen = args
                    .next()
                    .ok_or("--http needs an address, e.g. 127.0.0.1:0")?;
                let listen = listen
                    .parse()
                    .map_err(|_| format!("--http {listen:?} is not an address (IP:PORT)"))?;
                Self::Http(listen)
            }
            Some(other) => return Err(format!("unexpected argument {other:?}")),
        };
        match args.next() {
            None => Ok(transport),
            Some(other) => Err(format!("unexpected argument {other:?}")),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .init();
    let transport = match Transport::from_args(std::env::args().skip(1)) {
        Ok(transport) => transport,
        Err(error) => {
            eprintln!("canary-server: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let c = canaries();
    tracing::info!(secret_source = "CANARY_SECRET", path = %c.path, "canary server starting");
    let vault = Vault {
        _state: Arc::new(()),
    };
    let served = match transport {
        Transport::Stdio => serve_stdio(vault).await,
        Transport::Http(listen) => serve_http(vault, listen).await,
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("canary-server: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Serves stdio as the local client's own server.
async fn serve_stdio(vault: Vault) -> Result<(), Box<dyn std::error::Error>> {
    let server = SecureServer::builder(vault)
        .local_principal(Principal::new("canary-client").with_scopes(["vault:read"]))
        .build();
    server.serve_stdio().await?.waiting().await?;
    Ok(())
}

/// Serves streamable HTTP at `listen`, every request behind the bearer token check, until
/// the process is stopped.
async fn serve_http(vault: Vault, listen: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let jwks = std::env::var_os(JWKS_VAR)
        .map(PathBuf::from)
        .ok_or_else(|| format!("--http needs {JWKS_VAR}: the JWK set that verifies tokens"))?;
    let listener = TcpListener::bind(listen).await?;
    let endpoint = format!("http://{}{MCP_PATH}", listener.local_addr()?);
    // No local principal: each request's is the one its token names.
    let server = SecureServer::builder(vault).build();
    let auth = BearerAuth::builder()
        .issuer(ISSUER)
        .audience(&endpoint)
        .jwks_file(&jwks)
        .algorithms([Algorithm::HS256])
        .scopes_supported(server.scopes())
        .build()?;
    let sessions = Arc::new(LocalSessionManager::default());
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::clone(&sessions),
        StreamableHttpServerConfig::default(),
    );
    let mcp = BindSessions::new(SafeErrors::new(mcp), sessions);
    let mut app = Router::new().route_service(MCP_PATH, auth.layer(mcp));
    for path in auth.metadata_paths() {
        app = app.route_service(path, auth.metadata_service());
    }
    tracing::info!(
        %endpoint,
        issuer = ISSUER,
        jwks = %jwks.display(),
        metadata = %auth.metadata_url(),
        "canary server serving MCP over streamable HTTP"
    );
    eprintln!("canary-server: listening on {endpoint}");
    axum::serve(listener, app).await?;
    Ok(())
}

//! A server whose every failure carries a canary: unique strings (a file path, an SQL
//! statement, a secret read from the environment, a panic message, a backtrace) planted in
//! handler errors, panics, policy errors and argument-parsing failures. Driven over stdio
//! by `e2e/test_canaries_stdio.py` with the official MCP Python SDK, which checks that no
//! byte the client received holds a canary, and that the server's log holds every one.
//!
//! The canaries are made from `CANARY_TOKEN` (fresh for every run), and the secret is
//! `CANARY_SECRET`, as a server would read an API key.

use std::fmt;
use std::sync::Arc;

use secure_tool::authz::{AccessRequest, Authorize, Decision, PolicyError, PolicyFuture, custom};
use secure_tool::prelude::*;
use secure_tool::rmcp::{ServiceExt, transport::stdio};
use tracing_subscriber::prelude::*;

/// Everything secret about this server.
#[derive(Clone)]
struct Canaries {
    path: String,
    sql: String,
    secret: String,
    panic: String,
    policy: String,
    parse: String,
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

impl<'de> serde::Deserialize<'de> for Lookup {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let _ = serde::de::IgnoredAny::deserialize(deserializer)?;
        let c = canaries();
        Err(serde::de::Error::custom(format!(
            "{} in {} ({})",
            c.parse, c.path, c.sql
        )))
    }
}

impl schemars::JsonSchema for Lookup {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Lookup".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "object", "properties": {"key": {"type": "string"}}})
    }
}

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
}

impl secure_tool::rmcp::ServerHandler for Vault {}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .init();
    let c = canaries();
    tracing::info!(secret_source = "CANARY_SECRET", path = %c.path, "canary server starting");
    let server = SecureServer::builder(Vault {
        _state: Arc::new(()),
    })
    .local_principal(Principal::new("canary-client").with_scopes(["vault:read"]))
    .build();
    server.serve(stdio()).await?.waiting().await?;
    Ok(())
}

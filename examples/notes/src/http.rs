//! Serving the notes tools over MCP's streamable HTTP transport, as an OAuth 2.1 resource
//! server.
//!
//! `--http ADDR` replaces stdio with rmcp's `StreamableHttpService` behind axum, at
//! [`MCP_PATH`]. Every request to it goes through [`BearerAuth`]: a request without a valid
//! bearer token never reaches rmcp (401 with a `WWW-Authenticate` challenge naming the
//! protected resource metadata document, which is served beside it); a valid one reaches it
//! with the caller's `Principal` in its extensions and without its `Authorization` header, so
//! no tool can pass the client's token on. Which tool a token may call is each tool's own
//! `authz` policy: a token without the scope gets that tool's generic denial. Each MCP
//! session is bound to the subject that created it ([`BindSessions`]). A browser request
//! whose `Origin` is neither the audience's nor an `--allowed-origin` gets 403 before its
//! token is looked at (DNS rebinding).
//!
//! The keys that verify tokens are the issuer's (discovered from its metadata, fetched over
//! HTTPS and refreshed), or a JWK set file for offline use. Until keys are there, no request
//! with a token goes through: it is answered 503.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use clap::Args;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use secure_tool::SecureServer;
use secure_tool::oauth::{Algorithm, BearerAuth, BindSessions, SafeErrors};
use secure_tool::rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use tokio::net::TcpListener;

use crate::cli::values::{path, seconds};
use crate::connections::{ConnectionCap, ConnectionLimits, DeadlineBody};
use crate::tools::Notes;

/// Where the MCP endpoint is mounted.
pub const MCP_PATH: &str = "/mcp";

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long to wait after a failed `accept` (out of file descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The HMAC secret's variable: a shared secret, for local testing only. Never a flag, so
/// that it does not show in `ps`.
pub const HMAC_SECRET_VAR: &str = "NOTES_OAUTH_HMAC_SECRET";

/// What `--help` says about serving over HTTP, after the options.
pub const HELP: &str = "\
Over HTTP:
  Until the issuer's keys are fetched, requests with a token are answered
  503. Scopes are the tools' own: notes:read for the read tools, notes:write
  for create_note (the protected resource metadata document lists them).
  Ctrl-C or SIGTERM stops the server gracefully.

  NOTES_OAUTH_HMAC_SECRET
      Instead of the issuer's keys, for local testing only: a shared HS256
      secret of at least 32 bytes. An environment variable, never a flag, so
      that it does not show in `ps`.";

/// How long the server waits for the issuer's keys before it starts serving anyway (it
/// answers 503 until they come).
const KEYS_AT_START: std::time::Duration = std::time::Duration::from_secs(10);

/// The HTTP flags, their variables as fallbacks: what `--http ADDR` serves with.
///
/// Each field's documentation is its `--help` text, wrapped as it shows there.
#[derive(Debug, Args)]
#[command(
    next_help_heading = "HTTP (MCP streamable HTTP: every request needs an OAuth bearer token)"
)]
pub struct HttpFlags {
    /// Serve MCP over streamable HTTP at http://ADDR/mcp instead of stdio,
    /// e.g. 127.0.0.1:8080 (port 0 picks a free port).
    ///
    /// Prints `notes-server: listening on http://IP:PORT/mcp` to stderr once
    /// bound. Every other flag of this heading, and of the next, applies
    /// only with --http.
    #[arg(long = "http", value_name = "ADDR", value_parser = address, verbatim_doc_comment)]
    listen: Option<SocketAddr>,
    /// The authorization server's issuer: tokens must carry it in `iss`
    /// (required with --http).
    #[arg(
        long,
        value_name = "URL",
        env = "NOTES_OAUTH_ISSUER",
        verbatim_doc_comment
    )]
    issuer: Option<String>,
    /// This server's canonical resource URI: tokens must carry it in `aud`.
    ///
    /// Default on a loopback address: http://IP:PORT/mcp, the bound address;
    /// required on any other.
    #[arg(
        long,
        value_name = "URI",
        env = "NOTES_OAUTH_AUDIENCE",
        verbatim_doc_comment
    )]
    audience: Option<String>,
    /// The JWK set whose signature keys verify tokens, for offline use.
    ///
    /// Without it the keys are the issuer's: its metadata (RFC 8414 or OpenID
    /// Connect discovery) names its JWK set, fetched over HTTPS (plain HTTP
    /// only from a loopback issuer), refreshed every --key-refresh-secs and
    /// at once for a token signed by a key it lacks.
    #[arg(
        long,
        value_name = "FILE",
        env = "NOTES_OAUTH_JWKS",
        value_parser = path(),
        verbatim_doc_comment
    )]
    jwks: Option<PathBuf>,
    /// The signature algorithms accepted, comma-separated, e.g. RS256,ES256.
    ///
    /// Default: RS256, or HS256 with NOTES_OAUTH_HMAC_SECRET.
    #[arg(
        long,
        value_name = "LIST",
        env = "NOTES_OAUTH_ALGORITHMS",
        value_parser = algorithms,
        verbatim_doc_comment
    )]
    algorithms: Option<Algorithms>,
    /// The claim holding the caller's roles, e.g. `roles`, or a JSON pointer
    /// such as `/realm_access/roles`.
    ///
    /// Default: none: no caller is an admin, and only the policy service
    /// (--policy-url) can allow delete_note.
    #[arg(
        long,
        value_name = "CLAIM",
        env = "NOTES_OAUTH_ROLES_CLAIM",
        verbatim_doc_comment
    )]
    roles_claim: Option<String>,
    /// A Host header to accept besides the audience's host (repeatable).
    ///
    /// On a loopback address localhost, 127.0.0.1 and ::1 are accepted too.
    #[arg(long = "allowed-host", value_name = "HOST", verbatim_doc_comment)]
    allowed_hosts: Vec<String>,
    /// A browser Origin to accept besides the audience's own:
    /// scheme://host[:port], no path (repeatable; the variable takes a
    /// comma-separated list).
    ///
    /// A request with another Origin header gets 403 before its token is
    /// looked at; a request without one (a client that is not a browser) is
    /// not affected.
    #[arg(
        long = "allowed-origin",
        value_name = "ORIGIN",
        env = "NOTES_OAUTH_ALLOWED_ORIGINS",
        value_delimiter = ',',
        verbatim_doc_comment
    )]
    allowed_origins: Vec<String>,
    /// The longest a token may live, in seconds, from its iat to its exp (or
    /// from now, for a token without iat), e.g. 3600.
    ///
    /// Default: 86400, one day.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "NOTES_OAUTH_MAX_TOKEN_LIFETIME",
        value_parser = seconds,
        verbatim_doc_comment
    )]
    max_token_lifetime: Option<Duration>,
    /// How often the issuer's keys are fetched again, in seconds.
    ///
    /// Default: 600.
    #[arg(
        long = "key-refresh-secs",
        value_name = "SECONDS",
        env = "NOTES_OAUTH_KEY_REFRESH_SECS",
        value_parser = seconds,
        verbatim_doc_comment
    )]
    key_refresh: Option<Duration>,
    #[command(flatten)]
    pub(crate) limits: ConnectionLimits,
}

/// The value of `--algorithms`: the names, trimmed, empty ones skipped.
#[derive(Clone, Debug)]
pub(crate) struct Algorithms(Vec<Algorithm>);

fn algorithms(list: &str) -> Result<Algorithms, String> {
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| name.parse::<Algorithm>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()
        .map(Algorithms)
}

pub(crate) fn address(text: &str) -> Result<SocketAddr, String> {
    SocketAddr::from_str(text.trim())
        .map_err(|_| "expected IP:PORT, e.g. 127.0.0.1:8080".to_owned())
}

impl HttpFlags {
    /// The HTTP configuration: `None` to serve stdio (no `--http`), else every setting
    /// checked, with `hmac_secret` (the value of [`HMAC_SECRET_VAR`]). `given` tells the
    /// flags given on the command line (by id) from those that come from the environment.
    /// An empty value counts as none.
    ///
    /// # Errors
    ///
    /// One line saying what is missing or wrong: no `--http` but HTTP flags, no issuer, no
    /// audience for an address that is not loopback, two kinds of keys.
    pub fn resolve(
        self,
        given: impl Fn(&str) -> bool,
        hmac_secret: Option<String>,
    ) -> Result<Option<HttpConfig>, String> {
        let Some(listen) = self.listen else {
            // The variables may be set for another run: only flags are refused.
            let flags = Self::augment_args(clap::Command::new("notes-server"));
            let stray = flags
                .get_arguments()
                .find(|flag| given(flag.get_id().as_str()));
            return match stray.and_then(clap::Arg::get_long) {
                Some(flag) => Err(format!("--{flag} only applies with --http ADDR")),
                None => Ok(None),
            };
        };
        let set = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
        let issuer = set(self.issuer).ok_or(
            "--http needs the authorization server's issuer: --issuer URL or NOTES_OAUTH_ISSUER",
        )?;
        let audience = set(self.audience);
        if audience.is_none() && !listen.ip().is_loopback() {
            return Err(format!(
                "--http {listen} is not a loopback address: give this server's canonical URI \
                 with --audience URI (e.g. https://mcp.example.com/mcp) or NOTES_OAUTH_AUDIENCE"
            ));
        }
        let jwks = self.jwks.filter(|path| !path.as_os_str().is_empty());
        let secret = hmac_secret.filter(|secret| !secret.is_empty());
        let keys = match (jwks, secret) {
            (Some(path), None) => Keys::Jwks(path),
            (None, Some(secret)) => Keys::HmacSecret(secret),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "--http takes one source of keys: --jwks FILE or {HMAC_SECRET_VAR}, not both"
                ));
            }
            (None, None) => Keys::Issuer,
        };
        let algorithms = match self.algorithms {
            Some(Algorithms(list)) if !list.is_empty() => list,
            _ => vec![match keys {
                Keys::Jwks(_) | Keys::Issuer => Algorithm::RS256,
                Keys::HmacSecret(_) => Algorithm::HS256,
            }],
        };
        let allowed_origins = self
            .allowed_origins
            .iter()
            .map(|origin| origin.trim())
            .filter(|origin| !origin.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Some(HttpConfig {
            limits: self.limits,
            key_refresh: self.key_refresh,
            listen,
            issuer,
            audience,
            keys,
            algorithms,
            roles_claim: set(self.roles_claim),
            allowed_hosts: self.allowed_hosts,
            allowed_origins,
            max_token_lifetime: self.max_token_lifetime,
        }))
    }
}

/// Where the keys that verify tokens come from.
enum Keys {
    /// The issuer's published JWK set, discovered from its metadata.
    Issuer,
    Jwks(PathBuf),
    HmacSecret(String),
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Keys::Issuer => f.write_str("Issuer"),
            Keys::Jwks(path) => f.debug_tuple("Jwks").field(path).finish(),
            Keys::HmacSecret(_) => f.write_str("HmacSecret(..)"),
        }
    }
}

/// Everything [`serve`] needs, checked.
#[derive(Debug)]
pub struct HttpConfig {
    /// The bounds of the connections.
    limits: ConnectionLimits,
    /// How often the issuer's keys are fetched again (`None`: the runtime's default).
    key_refresh: Option<std::time::Duration>,
    listen: SocketAddr,
    issuer: String,
    /// `None`: the bound loopback address's `/mcp` URL.
    audience: Option<String>,
    keys: Keys,
    algorithms: Vec<Algorithm>,
    roles_claim: Option<String>,
    allowed_hosts: Vec<String>,
    /// Browser origins accepted besides the audience's.
    allowed_origins: Vec<String>,
    /// `None`: the runtime's default.
    max_token_lifetime: Option<Duration>,
}

impl HttpConfig {
    /// The bearer token check for `audience`, advertising `scopes`.
    fn bearer_auth(&self, audience: &str, scopes: &[String]) -> Result<BearerAuth, String> {
        let mut builder = BearerAuth::builder()
            .issuer(&self.issuer)
            .audience(audience)
            .algorithms(self.algorithms.iter().copied())
            .scopes_supported(scopes)
            .allowed_origins(&self.allowed_origins);
        if let Some(every) = self.key_refresh {
            builder = builder.key_refresh(every);
        }
        builder = match &self.keys {
            Keys::Issuer => builder.keys_from_issuer(),
            Keys::Jwks(path) => builder.jwks_file(path),
            Keys::HmacSecret(secret) => builder.hmac_secret(secret),
        };
        if let Some(claim) = &self.roles_claim {
            builder = builder.roles_claim(claim);
        }
        if let Some(lifetime) = self.max_token_lifetime {
            builder = builder.max_token_lifetime(lifetime);
        }
        builder
            .build()
            .map_err(|e| format!("the OAuth configuration is not usable: {e}"))
    }

    /// The `Host` headers rmcp accepts (its defence against DNS rebinding): the audience's
    /// authority, the `--allowed-host`s, and the loopback names on a loopback address.
    fn allowed_hosts(&self, audience: &str) -> Vec<String> {
        let mut hosts = Vec::new();
        if self.listen.ip().is_loopback() {
            hosts.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
        }
        if let Some(authority) = audience
            .parse::<axum::http::Uri>()
            .ok()
            .and_then(|uri| uri.authority().map(|a| a.as_str().to_owned()))
        {
            hosts.push(authority);
        }
        hosts.extend(self.allowed_hosts.iter().cloned());
        hosts
    }
}

/// The application: the MCP endpoint behind the bearer check (its sessions bound to their
/// callers), and the protected resource metadata document at each of its paths. Anything
/// else is a 404.
fn app(
    server: SecureServer<Notes>,
    auth: &BearerAuth,
    config: StreamableHttpServerConfig,
) -> Router {
    let sessions = Arc::new(LocalSessionManager::default());
    let scopes = server.clone();
    let mcp = StreamableHttpService::new(move || Ok(server.clone()), Arc::clone(&sessions), config);
    // rmcp's own refusals (a header that contradicts the body, an unknown version) quote
    // the request: their text is replaced, and logged under an incident id.
    let mcp = BindSessions::new(SafeErrors::new(mcp), sessions);
    // A token without a tool's scopes gets `403 insufficient_scope` naming them (step-up).
    let mcp = auth.step_up(mcp, scopes);
    let mut app = Router::new().route_service(MCP_PATH, auth.layer(mcp));
    for path in auth.metadata_paths() {
        app = app.route_service(path, auth.metadata_service());
    }
    app
}

/// Serves `server` over streamable HTTP until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// The address cannot be bound, the OAuth configuration does not build (e.g. an unreadable
/// JWKS file), or the server fails.
pub async fn serve(server: SecureServer<Notes>, config: HttpConfig) -> Result<(), String> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let endpoint = format!("http://{bound}{MCP_PATH}");
    let audience = config.audience.clone().unwrap_or_else(|| endpoint.clone());
    // Every scope a policy names: what the metadata document advertises.
    let scopes = server.scopes();
    let auth = config.bearer_auth(&audience, &scopes)?;
    if !auth.wait_for_keys(KEYS_AT_START).await {
        tracing::warn!(
            issuer = %config.issuer,
            "no key set from the issuer yet: requests with a token are answered 503 until \
             one is fetched (retried in the background)"
        );
    }

    let transport =
        StreamableHttpServerConfig::default().with_allowed_hosts(config.allowed_hosts(&audience));
    let stopping = transport.cancellation_token.clone();
    let app = app(server, &auth, transport);

    tracing::info!(
        %endpoint,
        %audience,
        issuer = %config.issuer,
        algorithms = ?config.algorithms,
        keys = ?config.keys,
        metadata = %auth.metadata_url(),
        scopes_supported = ?scopes,
        "notes-server serving MCP over streamable HTTP"
    );
    // The line a supervisor (or a test) waits for: the address is bound and served.
    eprintln!("notes-server: listening on {endpoint}");

    let limits = config.limits;
    tracing::info!(
        header_read = ?limits.header_read,
        body_read = ?limits.body_read,
        max_connections = limits.max_connections,
        "connection limits"
    );
    let connections = ConnectionCap::new(limits.max_connections);
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    // The header read timeout runs from the moment a connection waits for a request's
    // head: for a new connection, and for a kept-alive one after each response.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .keep_alive(true);
    let mut refused: u64 = 0;
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                // Out of file descriptors, most likely: wait a little rather than spin;
                // connections ending free some.
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(permit) = connections.admit() else {
            // Over the cap: closed at once, never held. Logged at powers of two, so that
            // a flood of connections does not flood the log.
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    refused,
                    max_connections = limits.max_connections,
                    "connections over the cap closed at once"
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let body_read = limits.body_read;
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut app = app.clone();
            let request =
                request.map(|body| axum::body::Body::new(DeadlineBody::new(body, body_read)));
            async move {
                std::future::poll_fn(|cx| {
                    tower_service::Service::<hyper::Request<axum::body::Body>>::poll_ready(
                        &mut app, cx,
                    )
                })
                .await?;
                tower_service::Service::call(&mut app, request).await
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A connection that ends in an error (a timeout, a reset) is the client's
            // business: nothing to log at the default level.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
            drop(permit);
        });
    }

    tracing::info!(
        open = connections.open(),
        "shutdown requested: closing MCP sessions and open requests"
    );
    // Ends every rmcp session and its SSE streams, so the connections can drain.
    stopping.cancel();
    tokio::select! {
        () = graceful.shutdown() => Ok(()),
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the grace period: closing them");
            Ok(())
        }
    }
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The HTTP configuration of the command line `flags`, with `secret` as the HMAC
    /// secret's variable. (The variables of flags are tested in `cli/flags.rs`.)
    fn resolve(flags: &[&str], secret: Option<&str>) -> Result<Option<HttpConfig>, String> {
        let parsed = crate::cli::parse_without_env(flags).map_err(|e| e.to_string())?;
        let given = parsed.given;
        parsed
            .cli
            .http
            .resolve(|id| given.contains(id), secret.map(str::to_owned))
    }

    const SECRET: Option<&str> = Some("0123456789abcdef0123456789abcdef");

    const ISSUER: [&str; 2] = ["--issuer", "https://auth.example.com"];

    #[test]
    fn without_a_key_file_the_keys_are_the_issuers() {
        let config = resolve(&["--http", "127.0.0.1:0", ISSUER[0], ISSUER[1]], None)
            .unwrap()
            .unwrap();
        assert!(matches!(config.keys, Keys::Issuer), "{config:?}");
        assert_eq!(config.algorithms, [Algorithm::RS256]);
        let empty = resolve(&["--http", "127.0.0.1:0", ISSUER[0], ISSUER[1]], Some(""))
            .unwrap()
            .unwrap();
        assert!(matches!(empty.keys, Keys::Issuer), "{empty:?}");
    }

    #[tokio::test]
    async fn a_plain_http_issuer_elsewhere_than_loopback_is_refused() {
        let config = resolve(
            &[
                "--http",
                "127.0.0.1:0",
                "--issuer",
                "http://auth.example.com",
            ],
            None,
        )
        .unwrap()
        .unwrap();
        let error = config
            .bearer_auth("http://127.0.0.1:1/mcp", &[])
            .unwrap_err();
        assert!(error.contains("plain HTTP"), "{error}");
    }

    #[test]
    fn stdio_stays_the_default_and_http_settings_need_http() {
        assert!(resolve(&[], Some("x")).unwrap().is_none());
        assert_eq!(
            resolve(&["--jwks", "keys.json"], None).unwrap_err(),
            "--jwks only applies with --http ADDR"
        );
    }

    #[test]
    fn the_issuer_is_required_and_a_public_address_needs_an_audience() {
        let error = resolve(&["--http", "127.0.0.1:0", "--jwks", "k.json"], None).unwrap_err();
        assert!(error.contains("issuer"), "{error}");
        let error = resolve(
            &[
                "--http",
                "0.0.0.0:8080",
                "--jwks",
                "k.json",
                ISSUER[0],
                ISSUER[1],
            ],
            None,
        )
        .unwrap_err();
        assert!(error.contains("--audience"), "{error}");
        let public = resolve(
            &[
                "--http",
                "0.0.0.0:8080",
                "--jwks",
                "k.json",
                ISSUER[0],
                ISSUER[1],
                "--audience",
                "https://mcp.example.com/mcp",
            ],
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            public.allowed_hosts("https://mcp.example.com/mcp"),
            ["mcp.example.com"],
            "a public server accepts only its own name, not the loopback names"
        );
    }

    #[test]
    fn keys_come_from_one_source_with_a_matching_default_algorithm() {
        let jwks = resolve(
            &[
                "--http",
                "127.0.0.1:0",
                "--jwks",
                "k.json",
                ISSUER[0],
                ISSUER[1],
            ],
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(jwks.algorithms, [Algorithm::RS256]);
        let hmac = resolve(
            &[
                "--http",
                "[::1]:0",
                ISSUER[0],
                ISSUER[1],
                "--algorithms",
                "HS256, HS512",
            ],
            SECRET,
        )
        .unwrap()
        .unwrap();
        assert_eq!(hmac.algorithms, [Algorithm::HS256, Algorithm::HS512]);
        assert!(
            !format!("{hmac:?}").contains("0123456789abcdef"),
            "the secret is never logged"
        );
        let both = resolve(
            &[
                "--http",
                "127.0.0.1:0",
                "--jwks",
                "k.json",
                ISSUER[0],
                ISSUER[1],
            ],
            SECRET,
        );
        assert!(both.unwrap_err().contains("not both"));
        let none = resolve(
            &[
                "--http",
                "127.0.0.1:0",
                "--jwks",
                "k.json",
                "--algorithms",
                "none",
                ISSUER[0],
                ISSUER[1],
            ],
            None,
        );
        assert!(
            none.unwrap_err()
                .contains("not a supported signature algorithm")
        );
    }

    fn loopback(extra: &[&str]) -> Result<HttpConfig, String> {
        let mut flags = vec![
            "--http",
            "127.0.0.1:0",
            "--jwks",
            "k.json",
            ISSUER[0],
            ISSUER[1],
        ];
        flags.extend_from_slice(extra);
        resolve(&flags, None).map(Option::unwrap)
    }

    #[test]
    fn allowed_origins_are_trimmed_and_need_http() {
        let flags = loopback(&[
            "--allowed-origin",
            "https://app.example.com",
            "--allowed-origin",
            " https://a.example.com, ,http://localhost:5173 ",
        ])
        .unwrap();
        assert_eq!(
            flags.allowed_origins,
            [
                "https://app.example.com",
                "https://a.example.com",
                "http://localhost:5173"
            ]
        );
        assert!(loopback(&[]).unwrap().allowed_origins.is_empty());
        assert_eq!(
            resolve(&["--allowed-origin", "https://app.example.com"], None).unwrap_err(),
            "--allowed-origin only applies with --http ADDR"
        );
    }

    #[test]
    fn an_origin_that_is_not_one_is_refused_at_start() {
        let build = |origins: &str| {
            resolve(
                &[
                    "--http",
                    "127.0.0.1:0",
                    ISSUER[0],
                    ISSUER[1],
                    "--allowed-origin",
                    origins,
                    "--max-token-lifetime",
                    "3600",
                ],
                SECRET,
            )
            .unwrap()
            .unwrap()
            .bearer_auth("http://127.0.0.1:4242/mcp", &[])
        };
        build("https://app.example.com, http://localhost:5173").unwrap();
        let error = build("https://app.example.com/").unwrap_err();
        assert!(
            error.starts_with(
                "the OAuth configuration is not usable: the allowed origin \
                 `https://app.example.com/` is not an origin"
            ),
            "{error}"
        );
        assert!(build("null").unwrap_err().contains("`null`"));
    }

    #[test]
    fn the_max_token_lifetime_is_whole_seconds_above_zero() {
        assert_eq!(loopback(&[]).unwrap().max_token_lifetime, None);
        let flag = loopback(&["--max-token-lifetime", "3600"]).unwrap();
        assert_eq!(flag.max_token_lifetime, Some(Duration::from_secs(3600)));
        for bad in ["0", "-1", "1h", "3.5"] {
            // `=`: a value apart that starts with `-` is taken for a flag.
            let error = loopback(&[&format!("--max-token-lifetime={bad}")]).unwrap_err();
            assert!(
                error.contains(&format!(
                    "invalid value '{bad}' for '--max-token-lifetime <SECONDS>': expected a \
                     whole number of seconds above zero"
                )),
                "{bad}: {error}"
            );
        }
        assert_eq!(
            resolve(&["--max-token-lifetime", "60"], None).unwrap_err(),
            "--max-token-lifetime only applies with --http ADDR"
        );
    }

    #[test]
    fn every_http_flag_needs_http() {
        assert_eq!(
            resolve(&["--http-max-connections", "8"], None).unwrap_err(),
            "--http-max-connections only applies with --http ADDR"
        );
        assert_eq!(
            resolve(&["--key-refresh-secs", "60"], None).unwrap_err(),
            "--key-refresh-secs only applies with --http ADDR"
        );
        let config =
            loopback(&["--key-refresh-secs", "60", "--http-max-connections", "8"]).unwrap();
        assert_eq!(config.key_refresh, Some(Duration::from_secs(60)));
        assert_eq!(config.limits.max_connections, 8);
    }

    #[test]
    fn a_loopback_server_accepts_the_loopback_names_and_its_audience() {
        let config = resolve(
            &[
                "--http",
                "127.0.0.1:0",
                "--jwks",
                "k.json",
                ISSUER[0],
                ISSUER[1],
                "--allowed-host",
                "notes.internal",
            ],
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            config.allowed_hosts("http://127.0.0.1:4242/mcp"),
            [
                "localhost",
                "127.0.0.1",
                "::1",
                "127.0.0.1:4242",
                "notes.internal"
            ]
        );
    }
}

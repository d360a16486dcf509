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

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use secure_tool::SecureServer;
use secure_tool::oauth::{Algorithm, BearerAuth, BindSessions};
use secure_tool::rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use tokio::net::TcpListener;

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

/// The `--help` text of the HTTP options, printed after the stdio usage.
pub const USAGE: &str = "HTTP (MCP streamable HTTP, every request needs an OAuth bearer token):
  --http ADDR          serve MCP over streamable HTTP at http://ADDR/mcp instead of stdio
                       (e.g. 127.0.0.1:8080; port 0 picks a free port). Prints
                       `notes-server: listening on http://IP:PORT/mcp` to stderr once bound.
  --issuer URL         the authorization server's issuer: tokens must carry it in `iss`
                       (or NOTES_OAUTH_ISSUER; required)
  --audience URI       this server's canonical resource URI: tokens must carry it in `aud`
                       (or NOTES_OAUTH_AUDIENCE; default on a loopback address:
                       http://IP:PORT/mcp, the bound address; required on any other)
  --jwks FILE          the JWK set whose signature keys verify tokens (or NOTES_OAUTH_JWKS),
                       for offline use; without it the keys are the issuer's: its metadata
                       (RFC 8414 or OpenID Connect discovery) names its JWK set, fetched over
                       HTTPS (plain HTTP only from a loopback issuer), refreshed every 10
                       minutes and at once for a token signed by a key it lacks
  --algorithms LIST    the signature algorithms accepted, comma-separated (or
                       NOTES_OAUTH_ALGORITHMS; default: RS256 with --jwks, HS256 with
                       NOTES_OAUTH_HMAC_SECRET)
  --roles-claim CLAIM  the claim holding the caller's roles, e.g. `roles`, or a JSON pointer
                       such as `/realm_access/roles` (or NOTES_OAUTH_ROLES_CLAIM; default:
                       none: no caller is an admin, and only NOTES_POLICY_URL can allow
                       delete_note)
  --allowed-host HOST  a Host header to accept besides the audience's host (repeatable);
                       on a loopback address localhost, 127.0.0.1 and ::1 are accepted too
  --allowed-origin ORIGIN  a browser Origin to accept besides the audience's own
                       (scheme://host[:port], no path; repeatable; or
                       NOTES_OAUTH_ALLOWED_ORIGINS, comma-separated). A request with another
                       Origin header gets 403 before its token is looked at; a request
                       without one (a client that is not a browser) is not affected
  --max-token-lifetime SECONDS  the longest a token may live, from its iat to its exp (or
                       from now, for a token without iat), e.g. 3600 (or
                       NOTES_OAUTH_MAX_TOKEN_LIFETIME; default: 86400, one day)
  NOTES_OAUTH_KEY_REFRESH_SECS  how often the issuer's keys are fetched again (default: 600)
  NOTES_OAUTH_HMAC_SECRET  instead of the issuer's keys, for local testing only: a shared HS256 secret
                       of at least 32 bytes (an environment variable, never a flag)

Slow clients (behind a reverse proxy, set these at the proxy too):
  NOTES_HTTP_HEADER_TIMEOUT_MS  the longest a client may take to send a request's head, and
                       the longest a kept-alive connection waits idle for its next request;
                       then it is closed (default: 10000)
  NOTES_HTTP_BODY_TIMEOUT_MS    the longest a client may take to send a request's body, from
                       its head; then the request fails and the connection is closed
                       (default: 30000)
  NOTES_HTTP_MAX_CONNECTIONS    the most connections open at once; one more is closed at
                       once (default: 512; keep it under the process's file descriptor limit)

Until the issuer's keys are fetched, requests with a token are answered 503. Scopes are
the tools' own: notes:read for the read tools, notes:write for create_note (the protected resource
metadata document lists them). Ctrl-C or SIGTERM stops the server gracefully.";

/// How often the issuer's keys are fetched again, in seconds (default 600).
pub const KEY_REFRESH_VAR: &str = "NOTES_OAUTH_KEY_REFRESH_SECS";

/// How long the server waits for the issuer's keys before it starts serving anyway (it
/// answers 503 until they come).
const KEYS_AT_START: std::time::Duration = std::time::Duration::from_secs(10);

/// The HTTP flags as given on the command line, before the environment fills the gaps.
#[derive(Debug, Default)]
pub struct HttpFlags {
    listen: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    jwks: Option<PathBuf>,
    algorithms: Option<String>,
    roles_claim: Option<String>,
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
    max_token_lifetime: Option<String>,
}

impl HttpFlags {
    /// Takes `flag`, and its value from `args`, if it is an HTTP flag: `Ok(true)` then,
    /// `Ok(false)` for any other argument.
    ///
    /// # Errors
    ///
    /// An HTTP flag without its value.
    pub fn take(
        &mut self,
        flag: &str,
        args: &mut impl Iterator<Item = OsString>,
    ) -> Result<bool, String> {
        let mut value = |what: &str| -> Result<String, String> {
            args.next()
                .ok_or_else(|| format!("{flag} needs {what}"))?
                .into_string()
                .map_err(|raw| format!("{flag}: {raw:?} is not valid UTF-8"))
        };
        match flag {
            "--http" => self.listen = Some(value("an address, e.g. 127.0.0.1:8080")?),
            "--issuer" => self.issuer = Some(value("the issuer's URL")?),
            "--audience" => self.audience = Some(value("this server's resource URI")?),
            "--jwks" => self.jwks = Some(value("a JWK set file")?.into()),
            "--algorithms" => self.algorithms = Some(value("a list, e.g. RS256,ES256")?),
            "--roles-claim" => self.roles_claim = Some(value("a claim name")?),
            "--allowed-host" => self.allowed_hosts.push(value("a host name")?),
            "--allowed-origin" => self
                .allowed_origins
                .push(value("an origin, e.g. https://app.example.com")?),
            "--max-token-lifetime" => {
                self.max_token_lifetime = Some(value("a number of seconds, e.g. 3600")?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The HTTP configuration: `None` to serve stdio (no `--http`), else every setting from
    /// the flags, then from `env`.
    ///
    /// # Errors
    ///
    /// One line saying what is missing or wrong: no `--http` but HTTP settings, no issuer, no
    /// key (or two kinds of keys), an address or algorithm that does not parse.
    pub fn resolve(
        self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<HttpConfig>, String> {
        let setting = |flag: Option<String>, var: &str| {
            flag.or_else(|| env(var))
                .filter(|value| !value.trim().is_empty())
        };
        let Some(listen) = self.listen else {
            let stray = [
                ("--issuer", self.issuer.is_some()),
                ("--audience", self.audience.is_some()),
                ("--jwks", self.jwks.is_some()),
                ("--algorithms", self.algorithms.is_some()),
                ("--roles-claim", self.roles_claim.is_some()),
                ("--allowed-host", !self.allowed_hosts.is_empty()),
                ("--allowed-origin", !self.allowed_origins.is_empty()),
                ("--max-token-lifetime", self.max_token_lifetime.is_some()),
            ];
            return match stray.iter().find(|(_, given)| *given) {
                Some((flag, _)) => Err(format!("{flag} only applies with --http ADDR")),
                None => Ok(None),
            };
        };
        let listen = SocketAddr::from_str(&listen).map_err(|_| {
            format!("--http {listen:?} is not an address: expected IP:PORT, e.g. 127.0.0.1:8080")
        })?;
        let issuer = setting(self.issuer, "NOTES_OAUTH_ISSUER").ok_or(
            "--http needs the authorization server's issuer: --issuer URL or NOTES_OAUTH_ISSUER",
        )?;
        let audience = setting(self.audience, "NOTES_OAUTH_AUDIENCE");
        if audience.is_none() && !listen.ip().is_loopback() {
            return Err(format!(
                "--http {listen} is not a loopback address: give this server's canonical URI \
                 with --audience URI (e.g. https://mcp.example.com/mcp) or NOTES_OAUTH_AUDIENCE"
            ));
        }
        let jwks = self
            .jwks
            .or_else(|| setting(None, "NOTES_OAUTH_JWKS").map(PathBuf::from));
        let secret = env(HMAC_SECRET_VAR).filter(|secret| !secret.is_empty());
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
        let algorithms = match setting(self.algorithms, "NOTES_OAUTH_ALGORITHMS") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(|name| {
                    name.parse::<Algorithm>()
                        .map_err(|e| format!("--algorithms: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![match keys {
                Keys::Jwks(_) | Keys::Issuer => Algorithm::RS256,
                Keys::HmacSecret(_) => Algorithm::HS256,
            }],
        };
        let allowed_origins = if self.allowed_origins.is_empty() {
            setting(None, "NOTES_OAUTH_ALLOWED_ORIGINS")
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|origin| !origin.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            self.allowed_origins
        };
        let max_token_lifetime = setting(self.max_token_lifetime, "NOTES_OAUTH_MAX_TOKEN_LIFETIME")
            .map(|seconds| match seconds.trim().parse::<u64>() {
                Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
                _ => Err(format!(
                    "--max-token-lifetime {seconds:?} is not a number of seconds above zero, \
                     e.g. 3600"
                )),
            })
            .transpose()?;
        let limits = ConnectionLimits::from_env(&env)?;
        let key_refresh = match env(KEY_REFRESH_VAR).filter(|value| !value.trim().is_empty()) {
            None => None,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(secs) if secs > 0 => Some(std::time::Duration::from_secs(secs)),
                _ => {
                    return Err(format!(
                        "{KEY_REFRESH_VAR} must be a whole number of seconds above zero, not {text:?}"
                    ));
                }
            },
        };
        Ok(Some(HttpConfig {
            limits,
            key_refresh,
            listen,
            issuer,
            audience,
            keys,
            algorithms,
            roles_claim: setting(self.roles_claim, "NOTES_OAUTH_ROLES_CLAIM"),
            allowed_hosts: self.allowed_hosts,
            allowed_origins,
            max_token_lifetime,
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
    let mcp = BindSessions::new(mcp, sessions);
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

    fn resolve(flags: &[&str], env: &[(&str, &str)]) -> Result<Option<HttpConfig>, String> {
        let mut parsed = HttpFlags::default();
        let mut args = flags.iter().map(OsString::from);
        while let Some(flag) = args.next() {
            let flag = flag.into_string().unwrap();
            assert!(parsed.take(&flag, &mut args)?, "{flag} is not an HTTP flag");
        }
        parsed.resolve(|name| {
            env.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    const ISSUER: [&str; 2] = ["--issuer", "https://auth.example.com"];

    #[test]
    fn without_a_key_file_the_keys_are_the_issuers() {
        let config = resolve(&["--http", "127.0.0.1:0", ISSUER[0], ISSUER[1]], &[])
            .unwrap()
            .unwrap();
        assert!(matches!(config.keys, Keys::Issuer), "{config:?}");
        assert_eq!(config.algorithms, [Algorithm::RS256]);
        let empty = resolve(
            &["--http", "127.0.0.1:0", ISSUER[0], ISSUER[1]],
            &[(HMAC_SECRET_VAR, "")],
        )
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
            &[],
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
        assert!(resolve(&[], &[(HMAC_SECRET_VAR, "x")]).unwrap().is_none());
        assert_eq!(
            resolve(&["--jwks", "keys.json"], &[]).unwrap_err(),
            "--jwks only applies with --http ADDR"
        );
    }

    #[test]
    fn the_issuer_is_required_and_a_public_address_needs_an_audience() {
        let error = resolve(&["--http", "127.0.0.1:0", "--jwks", "k.json"], &[]).unwrap_err();
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
            &[],
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
            &[],
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
            &[],
        )
        .unwrap()
        .unwrap();
        assert_eq!(jwks.algorithms, [Algorithm::RS256]);
        let hmac = resolve(
            &["--http", "[::1]:0"],
            &[
                ("NOTES_OAUTH_ISSUER", "https://auth.example.com"),
                (HMAC_SECRET_VAR, "0123456789abcdef0123456789abcdef"),
                ("NOTES_OAUTH_ALGORITHMS", "HS256, HS512"),
            ],
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
            &[(HMAC_SECRET_VAR, "0123456789abcdef0123456789abcdef")],
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
            &[],
        );
        assert!(
            none.unwrap_err()
                .contains("not a supported signature algorithm")
        );
    }

    fn loopback(extra: &[&str], env: &[(&str, &str)]) -> Result<HttpConfig, String> {
        let mut flags = vec![
            "--http",
            "127.0.0.1:0",
            "--jwks",
            "k.json",
            ISSUER[0],
            ISSUER[1],
        ];
        flags.extend_from_slice(extra);
        resolve(&flags, env).map(Option::unwrap)
    }

    #[test]
    fn allowed_origins_come_from_the_flags_or_else_the_environment() {
        let flags = loopback(
            &[
                "--allowed-origin",
                "https://app.example.com",
                "--allowed-origin",
                "http://localhost:5173",
            ],
            &[("NOTES_OAUTH_ALLOWED_ORIGINS", "https://ignored.example.com")],
        )
        .unwrap();
        assert_eq!(
            flags.allowed_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        let env = loopback(
            &[],
            &[(
                "NOTES_OAUTH_ALLOWED_ORIGINS",
                " https://a.example.com, ,http://localhost:5173 ",
            )],
        )
        .unwrap();
        assert_eq!(
            env.allowed_origins,
            ["https://a.example.com", "http://localhost:5173"]
        );
        assert!(loopback(&[], &[]).unwrap().allowed_origins.is_empty());
        assert_eq!(
            resolve(&["--allowed-origin", "https://app.example.com"], &[]).unwrap_err(),
            "--allowed-origin only applies with --http ADDR"
        );
    }

    #[test]
    fn an_origin_that_is_not_one_is_refused_at_start() {
        let build = |origins: &str| {
            resolve(
                &["--http", "127.0.0.1:0", ISSUER[0], ISSUER[1]],
                &[
                    (HMAC_SECRET_VAR, "0123456789abcdef0123456789abcdef"),
                    ("NOTES_OAUTH_ALLOWED_ORIGINS", origins),
                    ("NOTES_OAUTH_MAX_TOKEN_LIFETIME", "3600"),
                ],
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
        assert_eq!(loopback(&[], &[]).unwrap().max_token_lifetime, None);
        let flag = loopback(&["--max-token-lifetime", "3600"], &[]).unwrap();
        assert_eq!(flag.max_token_lifetime, Some(Duration::from_secs(3600)));
        let env = loopback(&[], &[("NOTES_OAUTH_MAX_TOKEN_LIFETIME", "600")]).unwrap();
        assert_eq!(env.max_token_lifetime, Some(Duration::from_secs(600)));
        for bad in ["0", "-1", "1h", "3.5"] {
            let error = loopback(&["--max-token-lifetime", bad], &[]).unwrap_err();
            assert!(
                error.contains("is not a number of seconds above zero"),
                "{bad}: {error}"
            );
        }
        assert_eq!(
            resolve(&["--max-token-lifetime", "60"], &[]).unwrap_err(),
            "--max-token-lifetime only applies with --http ADDR"
        );
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
            &[],
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

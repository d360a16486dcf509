//! An OAuth 2.1 resource server for MCP over streamable HTTP: bearer tokens in, a
//! [`Principal`] out.
//!
//! The [MCP authorization specification] makes an HTTP MCP server an OAuth 2.1 *resource
//! server*: clients get their access tokens from an authorization server and present them on
//! every request as `Authorization: Bearer <token>`. This module is that resource server, as a
//! tower middleware in front of rmcp's `StreamableHttpService`:
//!
//! - [`BearerAuth`] holds the configuration: the expected issuer, the audience (this server's
//!   canonical resource URI), the verification keys, the allowed algorithms. Build it once with
//!   [`BearerAuth::builder`]; every mistake in it is an error at [`build`], not at the first
//!   request.
//! - [`BearerAuth`] is a [`tower_layer::Layer`]. Its service, [`RequireBearer`], first refuses
//!   requests whose `Origin` header names an origin that is not allowed (`403`, before the
//!   token is looked at): the MCP transport requires servers to validate `Origin`, against
//!   DNS rebinding. The audience's own origin is allowed, and those of
//!   [`BearerAuthBuilder::allowed_origins`]; requests without `Origin` (clients that are not
//!   browsers) are not affected. Then it verifies the token (signature, `iss` as the
//!   issuer's string, `aud`, `exp`, `nbf`, `iat` not in the future, a lifetime within
//!   [`BearerAuthBuilder::max_token_lifetime`], a `typ` of an access token if any: `at+jwt`,
//!   `application/at+jwt` or `JWT`), puts the caller's [`Principal`] into the
//!   request's extensions, where [`SecureServer`] finds it, and **removes the `Authorization`
//!   header** before the request goes on: the client's token never reaches a tool, so a tool
//!   cannot pass it through to an upstream service. Requests without a valid token never reach
//!   the inner service; they get the challenges of RFC 6750 (see [`RequireBearer`]). A token
//!   that passed is remembered by its digest, and only the times checked again when it comes
//!   back, until the key set changes ([`BearerAuthBuilder::verified_token_cache`]).
//! - [`BearerAuth::metadata_service`] serves the protected resource metadata document of
//!   RFC 9728, which the `WWW-Authenticate` challenge points clients to, so that they find the
//!   authorization server.
//! - [`BindSessions`], inside the bearer layer, binds each MCP session to the subject that
//!   created it: a session id is no key to another caller's session.
//! - [`BearerAuth::step_up`], inside the bearer layer, answers a token that lacks the scopes
//!   of the tool it calls with `403 insufficient_scope` naming them, so that its client can
//!   step up; [`BearerAuthBuilder::scope_implies`] declares a scope hierarchy.
//! - With the `oauth-issuer` feature, `BearerAuthBuilder::keys_from_issuer` takes the
//!   verification keys from the issuer (discovered, fetched over HTTPS, refreshed, the last
//!   good set kept; `503` until a first set).
//!
//! Scopes of single tools are not checked here: each tool's `authz` policy sees the
//! [`Principal`] and answers its generic denial. Only the scopes every request needs
//! ([`BearerAuthBuilder::required_scopes`]) are checked at the transport, with a `403`.
//!
//! # Mounting it with axum
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//!
//! use axum::Router;
//! use secure_tool::oauth::{Algorithm, BearerAuth, BindSessions, WELL_KNOWN_PATH};
//! use secure_tool::rmcp::transport::streamable_http_server::{
//!     StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
//! };
//! # use secure_tool::rmcp::ServerHandler;
//! # #[derive(Clone)] struct MyServer;
//! # impl ServerHandler for MyServer {}
//! # let my_server = || MyServer;
//! # let signing_secret = b"0123456789abcdef0123456789abcdef";
//!
//! let auth = BearerAuth::builder()
//!     .issuer("https://auth.example.com")
//!     .audience("https://mcp.example.com/mcp")
//!     .hmac_secret(signing_secret) // or .jwks_file("jwks.json"), .public_key_pem(...)
//!     .algorithms([Algorithm::HS256])
//!     .scopes_supported(["notes:read", "notes:write"])
//!     .build()?;
//!
//! let sessions = Arc::new(LocalSessionManager::default());
//! let mcp = StreamableHttpService::new(
//!     move || Ok(my_server()),
//!     Arc::clone(&sessions),
//!     StreamableHttpServerConfig::default(),
//! );
//! let mcp = BindSessions::new(mcp, sessions);
//! let mut app: Router = Router::new().route_service("/mcp", auth.layer(mcp));
//! for path in auth.metadata_paths() {
//!     app = app.route_service(path, auth.metadata_service());
//! }
//! assert_eq!(
//!     auth.metadata_paths().collect::<Vec<_>>(),
//!     ["/.well-known/oauth-protected-resource/mcp", WELL_KNOWN_PATH]
//! );
//! # drop(app);
//! # Ok(())
//! # }
//! ```
//!
//! Put CORS, if browsers call the server, outside this layer: a preflight request carries no
//! token, and browsers only show a client the `WWW-Authenticate` header if the CORS layer
//! exposes it. An origin the CORS layer allows must also be one of
//! [`BearerAuthBuilder::allowed_origins`] (unless it is the audience's), or its requests get
//! `403`.
//!
//! [MCP authorization specification]: https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization
//! [`build`]: BearerAuthBuilder::build
//! [`SecureServer`]: crate::SecureServer
//! [`Principal`]: crate::authz::Principal

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use jsonwebtoken as jwt;

mod cache;
mod config;
#[cfg(feature = "oauth-issuer")]
mod issuer;
mod keys;
mod layer;
mod metadata;
mod origin;
mod safe_errors;
mod sessions;
mod step_up;
#[cfg(test)]
mod tests;
mod verify;

pub use config::{
    BearerAuthBuilder, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN, DEFAULT_MAX_TOKEN_LIFETIME,
    DEFAULT_VERIFIED_TOKEN_CACHE, MAX_LEEWAY,
};
#[cfg(feature = "oauth-issuer")]
pub use issuer::{DEFAULT_KEY_FETCH_TIMEOUT, DEFAULT_KEY_REFRESH, DEFAULT_KEY_REFRESH_COOLDOWN};
pub use keys::{Algorithm, VerificationKey};
pub use layer::{RequireBearer, ResponseFuture};
pub use metadata::{MetadataService, WELL_KNOWN_PATH};
pub use safe_errors::{SafeBody, SafeErrors, SafeErrorsFuture};
pub use sessions::{BindSessions, DEFAULT_PRUNE_ABOVE, DEFAULT_SESSIONS_PER_SUBJECT};
pub use step_up::{Operation, ScopeChallenge, StepUp, StepUpBody, StepUpFuture};

/// The scope that asks for a refresh token: never a resource's requirement, so never in a
/// challenge or in `scopes_supported` (MCP authorization, "Refresh tokens").
pub const OFFLINE_ACCESS: &str = "offline_access";

/// A configuration of [`BearerAuth`] that cannot work, with what to fix.
///
/// ```
/// use secure_tool::oauth::BearerAuth;
///
/// let err = BearerAuth::builder().build().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "no issuer configured: call `.issuer(...)` with the authorization server's issuer identifier"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for ConfigError {}

/// The checked configuration, shared by the layer's services and the metadata service.
struct Config {
    keys: keys::Keys,
    /// One validation per allowed algorithm: `jsonwebtoken` wants all of a validation's
    /// algorithms in the family of the key.
    validations: Vec<(Algorithm, jwt::Validation)>,
    /// The one `iss` accepted, as a string.
    issuer: String,
    /// The clock skew tolerated, in seconds.
    leeway: u64,
    /// The longest a token may live, in seconds (at least one).
    max_token_lifetime: u64,
    /// The `Origin`s whose requests may go on.
    allowed_origins: origin::AllowedOrigins,
    scope_claim: Option<String>,
    /// Broader scope → every scope it implies (the closure of `scope_implies`).
    implied_scopes: std::collections::HashMap<String, Vec<String>>,
    roles_claim: Option<String>,
    required_scopes: Vec<String>,
    max_token_len: usize,
    /// The tokens that passed, and their callers.
    verified_tokens: cache::VerifiedTokens,
    challenges: layer::Challenges,
    metadata: Arc<metadata::Metadata>,
    metadata_url: String,
}

/// Bearer token authentication for an MCP server over HTTP: the configuration, the
/// [`Layer`](tower_layer::Layer) that enforces it, and the metadata document that advertises
/// it. Cloning is cheap.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use http::{Request, Response, StatusCode};
/// use secure_tool::Principal;
/// use secure_tool::oauth::{Algorithm, BearerAuth};
/// use tower::{ServiceExt, service_fn};
///
/// let secret = b"0123456789abcdef0123456789abcdef";
/// let auth = BearerAuth::builder()
///     .issuer("https://auth.example.com")
///     .audience("https://mcp.example.com/mcp")
///     .hmac_secret(secret)
///     .algorithms([Algorithm::HS256])
///     .build()?;
///
/// // The inner service sees the principal, and no `Authorization` header.
/// let inner = service_fn(|request: Request<String>| async move {
///     assert!(request.headers().get("authorization").is_none());
///     let principal = request.extensions().get::<Principal>().unwrap();
///     Ok::<_, std::convert::Infallible>(Response::new(principal.to_string()))
/// });
/// let service = auth.layer(inner);
///
/// let claims = serde_json::json!({
///     "iss": "https://auth.example.com",
///     "aud": "https://mcp.example.com/mcp",
///     "sub": "ada",
///     "scope": "notes:read",
///     "exp": jsonwebtoken::get_current_timestamp() + 300,
/// });
/// let key = jsonwebtoken::EncodingKey::from_secret(secret)?;
/// let token = jsonwebtoken::encode(&Default::default(), &claims, &key)?;
///
/// let request = Request::post("/mcp")
///     .header("authorization", format!("Bearer {token}"))
///     .body(String::new())?;
/// let response = service.clone().oneshot(request).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(response.body(), "ada");
///
/// let anonymous = Request::post("/mcp").body(String::new())?;
/// let response = service.oneshot(anonymous).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(
///     response.headers()["www-authenticate"],
///     "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\""
/// );
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct BearerAuth {
    config: Arc<Config>,
}

impl BearerAuth {
    /// Starts a configuration.
    pub fn builder() -> BearerAuthBuilder {
        BearerAuthBuilder::new()
    }

    /// Wraps `inner` so that it sees only authenticated requests (the same as
    /// [`Layer::layer`](tower_layer::Layer::layer), without importing the trait).
    pub fn layer<S>(&self, inner: S) -> RequireBearer<S> {
        RequireBearer::new(inner, Arc::clone(&self.config))
    }

    /// Whether tokens can be verified: keys were given, or a key set was fetched from the
    /// issuer (see `BearerAuthBuilder::keys_from_issuer`). Until then every request with
    /// a token is answered `503 Service Unavailable`: a readiness probe's question.
    ///
    /// ```
    /// use secure_tool::oauth::{Algorithm, BearerAuth};
    ///
    /// let auth = BearerAuth::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .hmac_secret(b"0123456789abcdef0123456789abcdef")
    ///     .algorithms([Algorithm::HS256])
    ///     .build()
    ///     .unwrap();
    /// assert!(auth.keys_ready());
    /// ```
    pub fn keys_ready(&self) -> bool {
        match &self.config.keys {
            keys::Keys::Fixed(_) => true,
            #[cfg(feature = "oauth-issuer")]
            keys::Keys::Issuer(issuer) => issuer.ready(),
        }
    }

    /// Waits until tokens can be verified ([`keys_ready`](Self::keys_ready)), at most
    /// `timeout`, and says whether they can: for a server that would rather not start
    /// answering `503` while the issuer is first asked for its keys.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    ///
    /// use secure_tool::oauth::{Algorithm, BearerAuth};
    ///
    /// let auth = BearerAuth::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .hmac_secret(b"0123456789abcdef0123456789abcdef")
    ///     .algorithms([Algorithm::HS256])
    ///     .build()
    ///     .unwrap();
    /// assert!(auth.wait_for_keys(Duration::from_secs(10)).await);
    /// # }
    /// ```
    pub async fn wait_for_keys(&self, timeout: std::time::Duration) -> bool {
        match &self.config.keys {
            keys::Keys::Fixed(_) => {
                let _ = timeout;
                true
            }
            #[cfg(feature = "oauth-issuer")]
            keys::Keys::Issuer(issuer) => issuer.wait_ready(timeout).await,
        }
    }

    /// The URL of the protected resource metadata document, as advertised in the
    /// `resource_metadata` parameter of every challenge.
    pub fn metadata_url(&self) -> &str {
        &self.config.metadata_url
    }

    /// The path at which to mount [`metadata_service`](Self::metadata_service): the path of
    /// [`metadata_url`](Self::metadata_url), e.g.
    /// `/.well-known/oauth-protected-resource/mcp`. The service also answers at
    /// [`WELL_KNOWN_PATH`], where clients look when the path-suffixed document is missing.
    pub fn metadata_path(&self) -> &str {
        &self.config.metadata.paths[0]
    }

    /// Every path [`metadata_service`](Self::metadata_service) answers at, to mount it at
    /// each: [`metadata_path`](Self::metadata_path), then [`WELL_KNOWN_PATH`] if it is
    /// another one.
    pub fn metadata_paths(&self) -> impl Iterator<Item = &str> {
        self.config.metadata.paths.iter().map(|path| &**path)
    }

    /// The protected resource metadata document (RFC 9728 §2), as JSON.
    ///
    /// ```
    /// use secure_tool::oauth::{Algorithm, BearerAuth};
    ///
    /// let auth = BearerAuth::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .hmac_secret(b"0123456789abcdef0123456789abcdef")
    ///     .algorithms([Algorithm::HS256])
    ///     .scopes_supported(["notes:read", "notes:write"])
    ///     .build()
    ///     .unwrap();
    /// let document: serde_json::Value = serde_json::from_str(auth.metadata_document()).unwrap();
    /// assert_eq!(document, serde_json::json!({
    ///     "resource": "https://mcp.example.com/mcp",
    ///     "authorization_servers": ["https://auth.example.com"],
    ///     "scopes_supported": ["notes:read", "notes:write"],
    ///     "bearer_methods_supported": ["header"],
    /// }));
    /// ```
    pub fn metadata_document(&self) -> &str {
        &self.config.metadata.document
    }

    /// A service answering `GET` (and `HEAD`) at [`metadata_path`](Self::metadata_path) and
    /// [`WELL_KNOWN_PATH`] with the [`metadata_document`](Self::metadata_document); see
    /// [`MetadataService`].
    pub fn metadata_service(&self) -> MetadataService {
        MetadataService::new(Arc::clone(&self.config.metadata))
    }
}

impl fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let algorithms: Vec<_> = self.config.validations.iter().map(|(alg, _)| alg).collect();
        f.debug_struct("BearerAuth")
            .field("keys", &self.config.keys)
            .field("algorithms", &algorithms)
            .field("metadata_url", &self.config.metadata_url)
            .field("allowed_origins", &self.config.allowed_origins)
            .finish_non_exhaustive()
    }
}

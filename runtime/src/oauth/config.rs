//! The configuration: [`BearerAuthBuilder`], and every check it makes before it builds a
//! [`BearerAuth`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken as jwt;

use super::cache::VerifiedTokens;
#[cfg(feature = "oauth-issuer")]
use super::issuer;
use super::keys::{Algorithm, Keys, VerificationKey};
use super::layer::Challenges;
use super::metadata::{self, Metadata};
use super::origin::AllowedOrigins;
use super::{BearerAuth, Config, ConfigError};

/// The longest `Authorization` header accepted, by default: 16 KiB. Longer headers are
/// rejected before anything is decoded.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// The clock skew tolerated on `exp` and `nbf`, by default: 60 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// The largest clock skew [`BearerAuthBuilder::leeway`] accepts: 5 minutes.
pub const MAX_LEEWAY: Duration = Duration::from_secs(5 * 60);

/// The longest a token may live, by default: 24 hours, from its `iat` to its `exp`. Access
/// tokens are meant to be short-lived (minutes to hours); one that lives longer is more
/// likely a token that should not be here, or one that would stay usable long after a leak.
/// See [`BearerAuthBuilder::max_token_lifetime`].
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(secure_tool::oauth::DEFAULT_MAX_TOKEN_LIFETIME, Duration::from_secs(24 * 3600));
/// ```
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// The memory kept for tokens already verified, by default: 4 MiB, about 10,000 callers with
/// a few scopes each. See [`BearerAuthBuilder::verified_token_cache`].
///
/// ```
/// assert_eq!(secure_tool::oauth::DEFAULT_VERIFIED_TOKEN_CACHE, 4 * 1024 * 1024);
/// ```
pub const DEFAULT_VERIFIED_TOKEN_CACHE: usize = 4 * 1024 * 1024;

enum KeySource {
    Key(VerificationKey),
    Failed(ConfigError),
    JwksJson(String),
    JwksFile(PathBuf),
    /// The JWK set named by the issuer's metadata.
    #[cfg(feature = "oauth-issuer")]
    Issuer,
    /// The JWK set at this URL.
    #[cfg(feature = "oauth-issuer")]
    JwksUrl(String),
}

/// Configures a [`BearerAuth`]. Obtained from [`BearerAuth::builder`].
///
/// The issuer, the audience, at least one key and the allowed algorithms are required: a
/// security setting has no default. Everything is checked in [`build`](Self::build).
#[must_use = "a builder does nothing until `.build()`"]
pub struct BearerAuthBuilder {
    issuer: Option<String>,
    audience: Option<String>,
    keys: Vec<KeySource>,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    scope_claim: Option<String>,
    implied_scopes: Vec<(String, Vec<String>)>,
    roles_claim: Option<String>,
    resource_metadata_url: Option<String>,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    required_scopes: Vec<String>,
    max_token_len: usize,
    #[cfg(feature = "oauth-issuer")]
    key_refresh: issuer::RefreshTimes,
    /// What fetches the keys, in tests of the refresh logic.
    #[cfg(all(test, feature = "oauth-issuer"))]
    fetch: Option<Box<dyn issuer::fetch::Fetch>>,
    max_token_lifetime: Duration,
    allowed_origins: Vec<String>,
    verified_token_cache: usize,
}

impl fmt::Debug for BearerAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl BearerAuthBuilder {
    /// A configuration with nothing set but the defaults.
    pub(super) fn new() -> Self {
        Self {
            issuer: None,
            audience: None,
            keys: Vec::new(),
            algorithms: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            scope_claim: None,
            implied_scopes: Vec::new(),
            roles_claim: None,
            resource_metadata_url: None,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            required_scopes: Vec::new(),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            #[cfg(feature = "oauth-issuer")]
            key_refresh: issuer::RefreshTimes::default(),
            #[cfg(all(test, feature = "oauth-issuer"))]
            fetch: None,
            max_token_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
            allowed_origins: Vec::new(),
            verified_token_cache: DEFAULT_VERIFIED_TOKEN_CACHE,
        }
    }

    /// Fetches the issuer's keys with `fetch` rather than over the network.
    #[cfg(all(test, feature = "oauth-issuer"))]
    pub(super) fn fetch_with(mut self, fetch: impl issuer::fetch::Fetch) -> Self {
        self.fetch = Some(Box::new(fetch));
        self
    }

    /// The issuer identifier of the authorization server (`iss`, exactly as in its tokens).
    /// Unless [`authorization_servers`](Self::authorization_servers) says otherwise, it is
    /// also the authorization server the metadata document advertises.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The canonical URI of this MCP server (e.g. `https://mcp.example.com/mcp`): the audience
    /// (`aud`) tokens must be issued for (RFC 8707), and the `resource` of the metadata
    /// document. Absolute `https` or `http`, without query or fragment.
    pub fn audience(mut self, resource: impl Into<String>) -> Self {
        self.audience = Some(resource.into());
        self
    }

    /// Adds a verification key.
    pub fn key(mut self, key: VerificationKey) -> Self {
        self.keys.push(KeySource::Key(key));
        self
    }

    /// Adds a PEM-encoded public key (see [`VerificationKey::public_key_pem`]).
    pub fn public_key_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.keys.push(match VerificationKey::public_key_pem(pem) {
            Ok(key) => KeySource::Key(key),
            Err(err) => KeySource::Failed(err),
        });
        self
    }

    /// Adds a shared HMAC secret (see [`VerificationKey::hmac_secret`]).
    pub fn hmac_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.keys.push(match VerificationKey::hmac_secret(secret) {
            Ok(key) => KeySource::Key(key),
            Err(err) => KeySource::Failed(err),
        });
        self
    }

    /// Adds the signature keys of a JWK set (RFC 7517 JSON, `{"keys": [...]}`), selected by
    /// their `kid`. A key's own `alg`, `use` and `key_ops` are honoured.
    pub fn jwks(mut self, json: impl Into<String>) -> Self {
        self.keys.push(KeySource::JwksJson(json.into()));
        self
    }

    /// Adds the signature keys of the JWK set in the file at `path`, read by
    /// [`build`](Self::build).
    pub fn jwks_file(mut self, path: impl AsRef<Path>) -> Self {
        self.keys
            .push(KeySource::JwksFile(path.as_ref().to_owned()));
        self
    }

    /// Verifies tokens with the keys the [`issuer`](Self::issuer) publishes: its metadata is
    /// discovered (RFC 8414 `/.well-known/oauth-authorization-server`, then OpenID Connect
    /// discovery, in the order of the MCP authorization specification; the document must
    /// name the issuer exactly), then the JWK set at its `jwks_uri` is fetched.
    ///
    /// The set is fetched when [`build`](Self::build) runs (which then needs a Tokio runtime)
    /// and again every [`key_refresh`](Self::key_refresh) period. A token whose `kid` the
    /// set lacks makes it fetched at once, and the request waits for it (at most
    /// [`key_fetch_timeout`](Self::key_fetch_timeout)); such refreshes are at most one per
    /// [`key_refresh_cooldown`](Self::key_refresh_cooldown), so that made-up `kid`s cannot
    /// make the server hammer the issuer. A failed refresh keeps the last good set (and is
    /// retried after 1 s, 2 s, 4 s... up to a minute). Until a first set is fetched, requests
    /// with a token are answered `503` and never accepted; see [`BearerAuth::keys_ready`].
    ///
    /// Only HTTPS is used (with Mozilla's root certificates), except to a loopback address;
    /// redirects are not followed; symmetric keys in the set are ignored. Keys come from
    /// one source: this does not mix with the other key methods.
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
    ///     .keys_from_issuer()
    ///     .key_refresh(Duration::from_secs(300))
    ///     .algorithms([Algorithm::RS256, Algorithm::ES256])
    ///     .build()
    ///     .unwrap();
    /// // No network here: no keys, so every token is answered 503.
    /// assert!(!auth.keys_ready());
    ///
    /// let plain = BearerAuth::builder()
    ///     .issuer("http://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .keys_from_issuer()
    ///     .algorithms([Algorithm::RS256])
    ///     .build()
    ///     .unwrap_err();
    /// assert!(plain.to_string().contains("plain HTTP"));
    /// # }
    /// ```
    #[cfg(feature = "oauth-issuer")]
    pub fn keys_from_issuer(mut self) -> Self {
        self.keys.push(KeySource::Issuer);
        self
    }

    /// Verifies tokens with the keys of the JWK set at `url`, fetched and refreshed as
    /// [`keys_from_issuer`](Self::keys_from_issuer) says, without discovery: for an issuer
    /// that publishes no metadata.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use secure_tool::oauth::{Algorithm, BearerAuth};
    ///
    /// let auth = BearerAuth::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .jwks_url("https://auth.example.com/keys")
    ///     .algorithms([Algorithm::RS256])
    ///     .build();
    /// assert!(auth.is_ok());
    /// # }
    /// ```
    #[cfg(feature = "oauth-issuer")]
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.keys.push(KeySource::JwksUrl(url.into()));
        self
    }

    /// How often keys from the issuer are fetched again (default
    /// [`DEFAULT_KEY_REFRESH`](super::DEFAULT_KEY_REFRESH)).
    #[cfg(feature = "oauth-issuer")]
    pub fn key_refresh(mut self, every: Duration) -> Self {
        self.key_refresh.every = every;
        self
    }

    /// The shortest time between two refreshes asked for by tokens with an unknown `kid`
    /// (default [`DEFAULT_KEY_REFRESH_COOLDOWN`](super::DEFAULT_KEY_REFRESH_COOLDOWN)).
    #[cfg(feature = "oauth-issuer")]
    pub fn key_refresh_cooldown(mut self, cooldown: Duration) -> Self {
        self.key_refresh.cooldown = cooldown;
        self
    }

    /// How long one request to the issuer may take (default
    /// [`DEFAULT_KEY_FETCH_TIMEOUT`](super::DEFAULT_KEY_FETCH_TIMEOUT)); also the longest a
    /// request waits for a refresh its token asked for.
    #[cfg(feature = "oauth-issuer")]
    pub fn key_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.key_refresh.timeout = timeout;
        self
    }

    /// The signature algorithms accepted. A token whose header names another one is rejected
    /// before any key is tried.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// The clock skew tolerated on `exp` and `nbf` (whole seconds; default
    /// [`DEFAULT_LEEWAY`], at most [`MAX_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The claim holding the token's scopes: a space-separated string or an array of strings.
    /// By default `scope` (RFC 9068), and `scp` when the token has no `scope`. A name starting
    /// with `/` is a JSON pointer into the claims (RFC 6901), for nested claims.
    pub fn scope_claim(mut self, claim: impl Into<String>) -> Self {
        self.scope_claim = Some(claim.into());
        self
    }

    /// Declares a scope hierarchy: a token granted `broader` is granted each of `narrower`
    /// too (and what they imply in turn), as the MCP authorization specification requires
    /// servers to honour. Policies, and step-up challenges, see the implied scopes; a
    /// challenge names the narrow scopes an operation requires. Call it once per broader
    /// scope (a second call for the same scope adds to it).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use http::{Request, Response};
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
    ///     .scope_implies("notes", ["notes:write"])
    ///     .scope_implies("notes:write", ["notes:read"])
    ///     .build()?;
    /// let scopes = service_fn(|request: Request<String>| async move {
    ///     let caller = request.extensions().get::<Principal>().unwrap();
    ///     let scopes: Vec<String> = caller.scopes().map(str::to_owned).collect();
    ///     Ok::<_, std::convert::Infallible>(Response::new(scopes.join(" ")))
    /// });
    /// let claims = serde_json::json!({
    ///     "iss": "https://auth.example.com", "aud": "https://mcp.example.com/mcp",
    ///     "sub": "ada", "scope": "notes", "exp": jsonwebtoken::get_current_timestamp() + 300,
    /// });
    /// let token = jsonwebtoken::encode(
    ///     &Default::default(),
    ///     &claims,
    ///     &jsonwebtoken::EncodingKey::from_secret(secret)?,
    /// )?;
    /// let request = Request::post("/mcp")
    ///     .header("authorization", format!("Bearer {token}"))
    ///     .body(String::new())?;
    /// let response = auth.layer(scopes).oneshot(request).await?;
    /// assert_eq!(response.body(), "notes notes:read notes:write");
    /// # Ok(())
    /// # }
    /// ```
    pub fn scope_implies<I, S>(mut self, broader: impl Into<String>, narrower: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.implied_scopes.push((
            broader.into(),
            narrower.into_iter().map(Into::into).collect(),
        ));
        self
    }

    /// The claim holding the caller's roles (none by default): a space-separated string or an
    /// array of strings, e.g. `roles`, or `/realm_access/roles` as a JSON pointer.
    pub fn roles_claim(mut self, claim: impl Into<String>) -> Self {
        self.roles_claim = Some(claim.into());
        self
    }

    /// Where clients find the protected resource metadata document. By default the
    /// well-known URI of the [`audience`](Self::audience) (RFC 9728 §3.1), e.g.
    /// `https://mcp.example.com/.well-known/oauth-protected-resource/mcp`.
    pub fn resource_metadata_url(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata_url = Some(url.into());
        self
    }

    /// The authorization servers the metadata document advertises (their issuer
    /// identifiers). By default the [`issuer`](Self::issuer).
    pub fn authorization_servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorization_servers = servers.into_iter().map(Into::into).collect();
        self
    }

    /// The scopes the metadata document advertises (`scopes_supported`).
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Scopes every request needs, whatever the tool: a valid token without one of them gets
    /// `403 insufficient_scope`. They are also the `scope` hint of the `401` challenge. Scopes
    /// of single tools belong in their `authz` policies, not here. `offline_access` (a
    /// refresh token) is no resource's requirement: [`build`](Self::build) refuses it.
    pub fn required_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The longest `Authorization` header accepted (default [`DEFAULT_MAX_TOKEN_LEN`]).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// The longest a token may live (whole seconds; default [`DEFAULT_MAX_TOKEN_LIFETIME`];
    /// zero is an error at [`build`](Self::build)).
    ///
    /// A token whose `exp` is more than this after its `iat` is rejected. A token without
    /// `iat` is held to the same bound from now: it is rejected if its `exp` is further than
    /// this (plus the [`leeway`](Self::leeway)) in the future, so that leaving `iat` out does
    /// not escape the limit. Independently of this setting, an `iat` in the future (beyond
    /// the leeway) or an `iat` that is not a number is rejected.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    ///
    /// use http::{Request, Response, StatusCode};
    /// use secure_tool::oauth::{Algorithm, BearerAuth};
    /// use tower::{ServiceExt, service_fn};
    ///
    /// let secret = b"0123456789abcdef0123456789abcdef";
    /// let auth = BearerAuth::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .hmac_secret(secret)
    ///     .algorithms([Algorithm::HS256])
    ///     .max_token_lifetime(Duration::from_secs(3600))
    ///     .build()?;
    /// let service = auth.layer(service_fn(|_: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    /// }));
    ///
    /// let key = jsonwebtoken::EncodingKey::from_secret(secret)?;
    /// let now = jsonwebtoken::get_current_timestamp();
    /// let status = |lifetime: u64| {
    ///     let claims = serde_json::json!({
    ///         "iss": "https://auth.example.com",
    ///         "aud": "https://mcp.example.com/mcp",
    ///         "sub": "ada",
    ///         "iat": now,
    ///         "exp": now + lifetime,
    ///     });
    ///     let token = jsonwebtoken::encode(&Default::default(), &claims, &key).unwrap();
    ///     let request = Request::post("/mcp")
    ///         .header("authorization", format!("Bearer {token}"))
    ///         .body(String::new())
    ///         .unwrap();
    ///     let service = service.clone();
    ///     async move { service.oneshot(request).await.unwrap().status() }
    /// };
    /// assert_eq!(status(3600).await, StatusCode::OK);
    /// assert_eq!(status(3601).await, StatusCode::UNAUTHORIZED);
    ///
    /// let zero = BearerAuth::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .hmac_secret(secret)
    ///     .algorithms([Algorithm::HS256])
    ///     .max_token_lifetime(Duration::ZERO)
    ///     .build();
    /// assert!(zero.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime = lifetime;
        self
    }

    /// The memory kept for tokens already verified, in bytes (default
    /// [`DEFAULT_VERIFIED_TOKEN_CACHE`]); zero verifies every token at every request.
    ///
    /// Verifying a token (decoding it, checking its signature, reading its claims) is most
    /// of what this layer costs a request, and a client sends the same token with each of
    /// its requests until it expires. A token that passed is remembered with its caller:
    /// when it comes again, only the times are checked again (that it has not expired, with
    /// the [`leeway`](Self::leeway), and that the clock was not set back to before it was
    /// valid), and the server-wide [`required_scopes`](Self::required_scopes). A token
    /// verified with keys fetched from the issuer is verified again once the issuer's set
    /// is fetched anew.
    ///
    /// Tokens are kept by their SHA-256 digest, never themselves, so no bearer token stays
    /// in memory. Only tokens that verified are kept (including those without the required
    /// scopes, which are refused each time), so a caller without a token of the issuer
    /// cannot fill the cache; an expired token is forgotten. At capacity, tokens seen once
    /// leave before those seen again. Each takes about 160 bytes and its caller's names:
    /// subject, scopes and roles, 32 bytes more each.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use http::{Request, Response, StatusCode};
    /// use secure_tool::oauth::{Algorithm, BearerAuth};
    /// use tower::{ServiceExt, service_fn};
    ///
    /// let secret = b"0123456789abcdef0123456789abcdef";
    /// let auth = BearerAuth::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .hmac_secret(secret)
    ///     .algorithms([Algorithm::HS256])
    ///     .verified_token_cache(1024 * 1024)
    ///     .build()?;
    /// let service = auth.layer(service_fn(|_: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    /// }));
    ///
    /// let claims = serde_json::json!({
    ///     "iss": "https://auth.example.com",
    ///     "aud": "https://mcp.example.com/mcp",
    ///     "sub": "ada",
    ///     "exp": jsonwebtoken::get_current_timestamp() + 300,
    /// });
    /// let key = jsonwebtoken::EncodingKey::from_secret(secret)?;
    /// let token = jsonwebtoken::encode(&Default::default(), &claims, &key)?;
    /// for _ in 0..2 {
    ///     // Verified the first time, remembered the second.
    ///     let request = Request::post("/mcp")
    ///         .header("authorization", format!("Bearer {token}"))
    ///         .body(String::new())?;
    ///     let response = service.clone().oneshot(request).await?;
    ///     assert_eq!(response.status(), StatusCode::OK);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn verified_token_cache(mut self, bytes: usize) -> Self {
        self.verified_token_cache = bytes;
        self
    }

    /// Browser origins whose requests are accepted besides the audience's own (its scheme,
    /// host and port: `https://mcp.example.com` for `https://mcp.example.com/mcp`). Each is
    /// a scheme and a host with an optional port, without a path (not even `/`), checked at
    /// [`build`](Self::build); `null` is refused, since any page can make its requests carry
    /// it. Adds to the origins of earlier calls.
    ///
    /// A request with an `Origin` header naming another origin (or `null`, or something that
    /// is not an origin, or more than one `Origin` header) is answered `403` with an empty
    /// body before its token is looked at: the MCP transport requires servers to validate
    /// `Origin`, against DNS rebinding. A request without `Origin` (a client that is not a
    /// browser) is not affected. Origins compare as RFC 6454 says: scheme and host ignoring
    /// case, `https://h:443` the same as `https://h` (and `http://h:80` as `http://h`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use http::{Request, Response, StatusCode};
    /// use secure_tool::oauth::{Algorithm, BearerAuth};
    /// use tower::{ServiceExt, service_fn};
    ///
    /// let auth = BearerAuth::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .hmac_secret(b"0123456789abcdef0123456789abcdef")
    ///     .algorithms([Algorithm::HS256])
    ///     .allowed_origins(["https://app.example.com", "http://localhost:5173"])
    ///     .build()?;
    /// let service = auth.layer(service_fn(|_: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    /// }));
    /// let status = |origin: &str| {
    ///     let request = Request::post("/mcp")
    ///         .header("origin", origin)
    ///         .body(String::new())
    ///         .unwrap();
    ///     let service = service.clone();
    ///     async move { service.oneshot(request).await.unwrap().status() }
    /// };
    /// // Allowed origins go on to the token check (here: no token).
    /// assert_eq!(status("https://mcp.example.com:443").await, StatusCode::UNAUTHORIZED);
    /// assert_eq!(status("https://APP.example.com").await, StatusCode::UNAUTHORIZED);
    /// // Any other is refused first.
    /// assert_eq!(status("https://evil.example.com").await, StatusCode::FORBIDDEN);
    /// assert_eq!(status("null").await, StatusCode::FORBIDDEN);
    ///
    /// let with_path = BearerAuth::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .hmac_secret(b"0123456789abcdef0123456789abcdef")
    ///     .algorithms([Algorithm::HS256])
    ///     .allowed_origins(["https://app.example.com/"])
    ///     .build();
    /// assert!(with_path.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// Checks the configuration, reads the JWKS files, and builds the [`BearerAuth`].
    pub fn build(mut self) -> Result<BearerAuth, ConfigError> {
        let issuer = self.issuer.filter(|s| !s.is_empty()).ok_or_else(|| {
            ConfigError::new(
                "no issuer configured: call `.issuer(...)` with the authorization server's \
                 issuer identifier",
            )
        })?;
        let audience = self.audience.ok_or_else(|| {
            ConfigError::new(
                "no audience configured: call `.audience(...)` with this server's canonical \
                 URI, e.g. `https://mcp.example.com/mcp`",
            )
        })?;
        let well_known_url = metadata::well_known_url(&audience)?;

        let mut algorithms = self.algorithms;
        algorithms.sort_unstable_by_key(|alg| alg.as_str());
        algorithms.dedup();
        if algorithms.is_empty() {
            return Err(ConfigError::new(
                "no signature algorithm allowed: call `.algorithms([...])`, e.g. \
                 `[Algorithm::RS256]`",
            ));
        }

        let keys = resolve_keys(std::mem::take(&mut self.keys), &issuer, &algorithms)?;

        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::new(format!(
                "a leeway of {}s is more than the {}s allowed",
                self.leeway.as_secs(),
                MAX_LEEWAY.as_secs()
            )));
        }

        if self.max_token_lifetime.as_secs() == 0 {
            return Err(ConfigError::new(
                "a maximum token lifetime under one second would refuse every token: give \
                 `.max_token_lifetime(...)` a duration of at least one second",
            ));
        }
        let allowed_origins = AllowedOrigins::new(&audience, &self.allowed_origins)?;

        let implied = self
            .implied_scopes
            .iter()
            .flat_map(|(broader, narrower)| std::iter::once(broader).chain(narrower));
        for scope in self
            .scopes_supported
            .iter()
            .chain(&self.required_scopes)
            .chain(implied)
        {
            check_scope(scope)?;
        }
        if self
            .required_scopes
            .iter()
            .any(|scope| scope == super::OFFLINE_ACCESS)
        {
            return Err(ConfigError::new(
                "`offline_access` asks the authorization server for a refresh token; no resource \
                 requires it: leave it out of required_scopes",
            ));
        }

        let metadata_url = self.resource_metadata_url.unwrap_or(well_known_url);
        let metadata_path = metadata::parse_metadata_url(&metadata_url)?;

        let authorization_servers = if self.authorization_servers.is_empty() {
            vec![issuer.clone()]
        } else {
            self.authorization_servers
        };

        let validations = algorithms
            .iter()
            .map(|&alg| {
                let mut validation = jwt::Validation::new(alg.to_jwt());
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                // `exp` and `nbf` are checked with the other times, against a clock the
                // verified tokens share (`Config::check_lifetime`).
                validation.validate_exp = false;
                validation.validate_nbf = false;
                validation.validate_aud = true;
                validation.set_issuer(&[&issuer]);
                validation.set_audience(&[&audience]);
                (alg, validation)
            })
            .collect();

        let challenges =
            Challenges::new(&metadata_url, &self.required_scopes, &self.scopes_supported)?;

        let metadata = Metadata::new(
            &audience,
            authorization_servers,
            &self.scopes_supported,
            metadata_path,
        );

        let keys = match keys {
            Resolved::Fixed(keys) => Keys::Fixed(keys),
            #[cfg(feature = "oauth-issuer")]
            Resolved::Remote(location) => {
                self.key_refresh.check()?;
                let fetch: Box<dyn issuer::fetch::Fetch> = Box::new(
                    issuer::fetch::HttpsFetch::new(self.key_refresh.timeout)
                        .map_err(ConfigError::new)?,
                );
                #[cfg(test)]
                let fetch = self.fetch.take().unwrap_or(fetch);
                Keys::Issuer(issuer::IssuerKeys::start(
                    location,
                    self.key_refresh,
                    fetch,
                )?)
            }
        };

        Ok(BearerAuth {
            config: Arc::new(Config {
                keys,
                validations,
                issuer,
                leeway: self.leeway.as_secs(),
                max_token_lifetime: self.max_token_lifetime.as_secs(),
                allowed_origins,
                scope_claim: self.scope_claim,
                implied_scopes: implied_scopes(&self.implied_scopes),
                roles_claim: self.roles_claim,
                required_scopes: self.required_scopes,
                max_token_len: self.max_token_len,
                verified_tokens: VerifiedTokens::new(self.verified_token_cache),
                challenges,
                metadata: Arc::new(metadata),
                metadata_url,
            }),
        })
    }
}

/// The keys of a configuration, before anything is fetched.
enum Resolved {
    Fixed(Vec<VerificationKey>),
    #[cfg(feature = "oauth-issuer")]
    Remote(issuer::KeyLocation),
}

/// Reads the configured keys, or checks where they are to be fetched from.
fn resolve_keys(
    sources: Vec<KeySource>,
    issuer: &str,
    algorithms: &[Algorithm],
) -> Result<Resolved, ConfigError> {
    #[cfg(feature = "oauth-issuer")]
    if let Some(location) = remote_location(&sources, issuer, algorithms)? {
        return Ok(Resolved::Remote(location));
    }
    #[cfg(not(feature = "oauth-issuer"))]
    let _ = issuer;
    let mut keys = Vec::new();
    for source in sources {
        match source {
            KeySource::Key(key) => keys.push(key),
            KeySource::Failed(err) => return Err(err),
            KeySource::JwksJson(json) => {
                keys.extend(VerificationKey::from_jwks(&json, "the JWKS")?);
            }
            KeySource::JwksFile(path) => {
                let origin = format!("JWKS file `{}`", path.display());
                let json = std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError::new(format!("cannot read {origin}: {e}")))?;
                keys.extend(VerificationKey::from_jwks(&json, &origin)?);
            }
            #[cfg(feature = "oauth-issuer")]
            KeySource::Issuer | KeySource::JwksUrl(_) => {
                unreachable!("remote key sources are resolved above")
            }
        }
    }
    if keys.is_empty() {
        return Err(ConfigError::new(
            "no verification key configured: call `.jwks_file(...)`, `.jwks(...)`, \
             `.public_key_pem(...)`, `.hmac_secret(...)` or `.key(...)`",
        ));
    }
    if !algorithms
        .iter()
        .any(|&alg| keys.iter().any(|key| key.fits(alg)))
    {
        let names: Vec<_> = algorithms.iter().map(|alg| alg.as_str()).collect();
        return Err(ConfigError::new(format!(
            "none of the configured keys can verify the allowed algorithms ({})",
            names.join(", ")
        )));
    }
    Ok(Resolved::Fixed(keys))
}

/// Where to fetch the keys from, if they are fetched: one remote source and nothing else,
/// with asymmetric algorithms only.
#[cfg(feature = "oauth-issuer")]
fn remote_location(
    sources: &[KeySource],
    issuer: &str,
    algorithms: &[Algorithm],
) -> Result<Option<issuer::KeyLocation>, ConfigError> {
    let remote = |source: &&KeySource| matches!(source, KeySource::Issuer | KeySource::JwksUrl(_));
    let Some(source) = sources.iter().find(remote) else {
        return Ok(None);
    };
    if sources.len() > 1 {
        return Err(ConfigError::new(
            "keys fetched from the issuer (`.keys_from_issuer()` or `.jwks_url(...)`) are the \
             only source of keys: remove the other key settings",
        ));
    }
    if let Some(alg) = algorithms
        .iter()
        .find(|alg| alg.to_jwt().family() == jwt::AlgorithmFamily::Hmac)
    {
        return Err(ConfigError::new(format!(
            "{alg} cannot be allowed with keys fetched from the issuer: a published key set \
             holds public keys only"
        )));
    }
    let location = match source {
        KeySource::Issuer => {
            issuer::discovery_urls(issuer).map_err(ConfigError::new)?;
            issuer::KeyLocation::Discovered {
                issuer: issuer.to_owned(),
            }
        }
        KeySource::JwksUrl(url) => {
            let uri: http::Uri = url
                .parse()
                .map_err(|_| ConfigError::new(format!("the JWK set URL `{url}` is not a URL")))?;
            issuer::fetch::check_url(&uri).map_err(ConfigError::new)?;
            issuer::KeyLocation::JwksUrl(uri)
        }
        _ => unreachable!("found as a remote source"),
    };
    Ok(Some(location))
}

/// Every scope each declared broader scope implies, directly or through others.
fn implied_scopes(
    declared: &[(String, Vec<String>)],
) -> std::collections::HashMap<String, Vec<String>> {
    use std::collections::{BTreeSet, HashMap};
    let mut direct: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for (broader, narrower) in declared {
        direct
            .entry(broader)
            .or_default()
            .extend(narrower.iter().map(String::as_str));
    }
    direct
        .keys()
        .map(|&broader| {
            let mut all = BTreeSet::new();
            let mut todo = vec![broader];
            while let Some(scope) = todo.pop() {
                for &narrower in direct.get(scope).into_iter().flatten() {
                    if narrower != broader && all.insert(narrower) {
                        todo.push(narrower);
                    }
                }
            }
            (
                broader.to_owned(),
                all.into_iter().map(str::to_owned).collect(),
            )
        })
        .collect()
}

/// A scope token is 1*NQCHAR (RFC 6749 §3.3): printable ASCII but space, `"` and `\`.
fn check_scope(scope: &str) -> Result<(), ConfigError> {
    if !crate::authz::is_scope_token(scope) {
        return Err(ConfigError::new(format!(
            "`{scope}` is not a scope: a scope is printable ASCII without spaces, `\"` or `\\` \
             (RFC 6749 §3.3)"
        )));
    }
    Ok(())
}

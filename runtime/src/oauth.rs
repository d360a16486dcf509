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
//! - [`BearerAuth`] is a [`tower_layer::Layer`]. Its service, [`RequireBearer`], verifies the
//!   token (signature, `iss`, `aud`, `exp`, `nbf`), puts the caller's [`Principal`] into the
//!   request's extensions, where [`SecureServer`] finds it, and **removes the `Authorization`
//!   header** before the request goes on: the client's token never reaches a tool, so a tool
//!   cannot pass it through to an upstream service. Requests without a valid token never reach
//!   the inner service; they get the challenges of RFC 6750 (see [`RequireBearer`]).
//! - [`BearerAuth::metadata_service`] serves the protected resource metadata document of
//!   RFC 9728, which the `WWW-Authenticate` challenge points clients to, so that they find the
//!   authorization server.
//! - [`BindSessions`], inside the bearer layer, binds each MCP session to the subject that
//!   created it: a session id is no key to another caller's session.
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
//! exposes it.
//!
//! [MCP authorization specification]: https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization
//! [`build`]: BearerAuthBuilder::build
//! [`SecureServer`]: crate::SecureServer

use std::convert::Infallible;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use jsonwebtoken as jwt;
use serde_json::{Map, Value};

use crate::authz::Principal;

mod sessions;
#[cfg(test)]
mod tests;

pub use sessions::{BindSessions, DEFAULT_PRUNE_ABOVE};

/// The path of the protected resource metadata document of a resource without a path
/// (RFC 9728 §3). A resource with a path has its document at this path followed by its own
/// (§3.1): see [`BearerAuth::metadata_path`].
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// The longest `Authorization` header accepted, by default: 16 KiB. Longer headers are
/// rejected before anything is decoded.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// The clock skew tolerated on `exp` and `nbf`, by default: 60 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// The largest clock skew [`BearerAuthBuilder::leeway`] accepts: 5 minutes.
pub const MAX_LEEWAY: Duration = Duration::from_secs(5 * 60);

/// The HMAC secrets shorter than this are refused (RFC 7518 §3.2: at least the hash size).
const MIN_HMAC_SECRET_LEN: usize = 32;

const INVALID_TOKEN_DESCRIPTION: &str = "The access token is not valid";
const INVALID_REQUEST_DESCRIPTION: &str = "The request carries more than one Authorization header";
const INSUFFICIENT_SCOPE_DESCRIPTION: &str = "The access token lacks a scope this server requires";

/// A JSON Web Signature algorithm a token may be signed with (RFC 7518).
///
/// There is no `none`: an unsigned token is never accepted. A token is verified only with an
/// algorithm configured in [`BearerAuthBuilder::algorithms`], whatever its header says.
///
/// ```
/// use secure_tool::oauth::Algorithm;
///
/// assert_eq!("RS256".parse::<Algorithm>().unwrap(), Algorithm::RS256);
/// assert_eq!(Algorithm::ES256.to_string(), "ES256");
/// assert!("none".parse::<Algorithm>().is_err());
/// ```
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256 (a shared secret: for tests and single-party setups).
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256: the most common choice of authorization servers.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA on Ed25519.
    EdDSA,
}

impl Algorithm {
    const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The name of the algorithm in a JWT header, e.g. `"RS256"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    const fn to_jwt(self) -> jwt::Algorithm {
        match self {
            Algorithm::HS256 => jwt::Algorithm::HS256,
            Algorithm::HS384 => jwt::Algorithm::HS384,
            Algorithm::HS512 => jwt::Algorithm::HS512,
            Algorithm::RS256 => jwt::Algorithm::RS256,
            Algorithm::RS384 => jwt::Algorithm::RS384,
            Algorithm::RS512 => jwt::Algorithm::RS512,
            Algorithm::PS256 => jwt::Algorithm::PS256,
            Algorithm::PS384 => jwt::Algorithm::PS384,
            Algorithm::PS512 => jwt::Algorithm::PS512,
            Algorithm::ES256 => jwt::Algorithm::ES256,
            Algorithm::ES384 => jwt::Algorithm::ES384,
            Algorithm::EdDSA => jwt::Algorithm::EdDSA,
        }
    }

    fn from_jwt(alg: jwt::Algorithm) -> Option<Self> {
        Self::ALL.into_iter().find(|ours| ours.to_jwt() == alg)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = ConfigError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == name)
            .ok_or_else(|| {
                ConfigError::new(format!(
                    "`{name}` is not a supported signature algorithm: expected one of \
                     HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, \
                     ES384, EdDSA"
                ))
            })
    }
}

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

/// A key that verifies token signatures: a public key, or a shared HMAC secret.
///
/// Keys with a key id (`kid`) verify only the tokens whose header names that id; a key without
/// one verifies tokens whose `kid` no configured key has, and tokens without a `kid`.
///
/// ```
/// use secure_tool::oauth::VerificationKey;
///
/// let key = VerificationKey::hmac_secret(b"0123456789abcdef0123456789abcdef")
///     .unwrap()
///     .with_kid("2026-12");
/// assert_eq!(key.kid(), Some("2026-12"));
/// assert!(VerificationKey::hmac_secret(b"short").is_err());
/// assert!(VerificationKey::public_key_pem("not a key").is_err());
/// ```
#[derive(Clone)]
pub struct VerificationKey {
    kid: Option<Box<str>>,
    /// The one algorithm the key may be used with (a JWK's `alg`), if it says.
    algorithm: Option<Algorithm>,
    key: jwt::DecodingKey,
}

impl VerificationKey {
    /// A shared HMAC secret (for `HS256`, `HS384`, `HS512`) of at least 32 bytes.
    pub fn hmac_secret(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_HMAC_SECRET_LEN {
            return Err(ConfigError::new(format!(
                "an HMAC secret must be at least {MIN_HMAC_SECRET_LEN} bytes long, this one has {}",
                secret.len()
            )));
        }
        let key = jwt::DecodingKey::from_secret(secret)
            .map_err(|_| ConfigError::new("the HMAC secret is not usable"))?;
        Ok(Self::from_decoding_key(key))
    }

    /// A PEM-encoded public key: RSA (`PUBLIC KEY` or `RSA PUBLIC KEY`), EC on P-256 or
    /// P-384, or Ed25519.
    pub fn public_key_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let pem = pem.as_ref();
        jwt::DecodingKey::from_rsa_pem(pem)
            .or_else(|_| jwt::DecodingKey::from_ec_pem(pem))
            .or_else(|_| jwt::DecodingKey::from_ed_pem(pem))
            .map(Self::from_decoding_key)
            .map_err(|_| {
                ConfigError::new(
                    "not a PEM public key: expected `-----BEGIN PUBLIC KEY-----` (RSA, EC P-256 \
                     or P-384, Ed25519) or `-----BEGIN RSA PUBLIC KEY-----`",
                )
            })
    }

    /// The same key, used only for tokens whose header names `kid`.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into().into_boxed_str());
        self
    }

    /// The key id, if the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn from_decoding_key(key: jwt::DecodingKey) -> Self {
        Self {
            kid: None,
            algorithm: None,
            key,
        }
    }

    /// Whether this key may verify a signature made with `alg`.
    fn fits(&self, alg: Algorithm) -> bool {
        self.key.family() == alg.to_jwt().family() && self.algorithm.is_none_or(|own| own == alg)
    }

    /// The signature keys of a JWK set (RFC 7517). Keys meant for encryption (`use` other than
    /// `sig`, `key_ops` without `verify`, an encryption `alg`) and keys of types this crate
    /// does not verify with are left out; a signature key that does not parse is an error.
    fn from_jwks(json: &str, origin: &str) -> Result<Vec<Self>, ConfigError> {
        use jwt::jwk::{AlgorithmParameters, KeyOperations, PublicKeyUse};

        let set: jwt::jwk::JwkSet = serde_json::from_str(json)
            .map_err(|e| ConfigError::new(format!("{origin} is not a JWK set: {e}")))?;
        let mut keys = Vec::with_capacity(set.keys.len());
        for (index, jwk) in set.keys.iter().enumerate() {
            let common = &jwk.common;
            let name = match &common.key_id {
                Some(kid) => format!("key `{kid}`"),
                None => format!("key #{index}"),
            };
            let for_signatures = common
                .public_key_use
                .as_ref()
                .is_none_or(|u| *u == PublicKeyUse::Signature)
                && common
                    .key_operations
                    .as_ref()
                    .is_none_or(|ops| ops.contains(&KeyOperations::Verify));
            if !for_signatures || matches!(jwk.algorithm, AlgorithmParameters::Other(_)) {
                tracing::debug!(target: "secure_tool::oauth", key = %name, %origin, "JWK left out: not a signature key of a supported type");
                continue;
            }
            let algorithm = match common.key_algorithm {
                None => None,
                Some(alg) => match jwt::Algorithm::try_from(alg)
                    .ok()
                    .and_then(Algorithm::from_jwt)
                {
                    Some(alg) => Some(alg),
                    None => {
                        tracing::debug!(target: "secure_tool::oauth", key = %name, %origin, "JWK left out: not a signature algorithm");
                        continue;
                    }
                },
            };
            let key = jwt::DecodingKey::from_jwk(jwk).map_err(|_| {
                ConfigError::new(format!("{origin}: {name} is not a valid public key"))
            })?;
            if key.family() == jwt::AlgorithmFamily::Hmac
                && key.try_get_as_bytes().map_or(0, <[u8]>::len) < MIN_HMAC_SECRET_LEN
            {
                return Err(ConfigError::new(format!(
                    "{origin}: {name} is an HMAC secret shorter than {MIN_HMAC_SECRET_LEN} bytes"
                )));
            }
            keys.push(Self {
                kid: common.key_id.as_deref().map(Box::from),
                algorithm,
                key,
            });
        }
        Ok(keys)
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("family", &self.key.family())
            .finish_non_exhaustive()
    }
}

enum KeySource {
    Key(VerificationKey),
    Failed(ConfigError),
    JwksJson(String),
    JwksFile(PathBuf),
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
    roles_claim: Option<String>,
    resource_metadata_url: Option<String>,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    required_scopes: Vec<String>,
    max_token_len: usize,
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
    /// of single tools belong in their `authz` policies, not here.
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

    /// Checks the configuration, reads the JWKS files, and builds the [`BearerAuth`].
    pub fn build(self) -> Result<BearerAuth, ConfigError> {
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
        let well_known_url = well_known_url(&audience)?;

        let mut keys = Vec::new();
        for source in self.keys {
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
            }
        }
        if keys.is_empty() {
            return Err(ConfigError::new(
                "no verification key configured: call `.jwks_file(...)`, `.jwks(...)`, \
                 `.public_key_pem(...)`, `.hmac_secret(...)` or `.key(...)`",
            ));
        }

        let mut algorithms = self.algorithms;
        algorithms.sort_unstable_by_key(|alg| alg.as_str());
        algorithms.dedup();
        if algorithms.is_empty() {
            return Err(ConfigError::new(
                "no signature algorithm allowed: call `.algorithms([...])`, e.g. \
                 `[Algorithm::RS256]`",
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

        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::new(format!(
                "a leeway of {}s is more than the {}s allowed",
                self.leeway.as_secs(),
                MAX_LEEWAY.as_secs()
            )));
        }

        for scope in self.scopes_supported.iter().chain(&self.required_scopes) {
            check_scope(scope)?;
        }

        let metadata_url = self.resource_metadata_url.unwrap_or(well_known_url);
        let metadata_path = parse_metadata_url(&metadata_url)?;

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
                validation.leeway = self.leeway.as_secs();
                validation.validate_exp = true;
                validation.validate_nbf = true;
                validation.validate_aud = true;
                validation.set_issuer(&[&issuer]);
                validation.set_audience(&[&audience]);
                (alg, validation)
            })
            .collect();

        let challenges = Challenges::new(&metadata_url, &self.required_scopes)?;

        let mut document = Map::new();
        document.insert("resource".into(), Value::from(audience.as_str()));
        document.insert(
            "authorization_servers".into(),
            Value::from(authorization_servers.clone()),
        );
        if !self.scopes_supported.is_empty() {
            document.insert(
                "scopes_supported".into(),
                Value::from(self.scopes_supported.clone()),
            );
        }
        document.insert(
            "bearer_methods_supported".into(),
            Value::from(vec!["header"]),
        );
        let document = Value::Object(document).to_string();

        let mut metadata_paths = vec![metadata_path.clone()];
        if metadata_path != WELL_KNOWN_PATH {
            metadata_paths.push(WELL_KNOWN_PATH.to_owned());
        }

        Ok(BearerAuth {
            config: Arc::new(Config {
                keys,
                validations,
                scope_claim: self.scope_claim,
                roles_claim: self.roles_claim,
                required_scopes: self.required_scopes,
                max_token_len: self.max_token_len,
                challenges,
                metadata: Arc::new(Metadata {
                    document: document.into(),
                    paths: metadata_paths.into_iter().map(Box::from).collect(),
                }),
                metadata_url,
            }),
        })
    }
}

/// The well-known URL of the metadata document of `resource` (RFC 9728 §3.1): the
/// well-known path between the authority and the path, a lone `/` path dropped.
fn well_known_url(resource: &str) -> Result<String, ConfigError> {
    let invalid = |why: &str| {
        ConfigError::new(format!(
            "the audience `{resource}` is not a resource URI: {why} (expected e.g. \
             `https://mcp.example.com/mcp`)"
        ))
    };
    if resource.contains('#') {
        return Err(invalid("it has a fragment"));
    }
    let uri: Uri = resource.parse().map_err(|_| invalid("it does not parse"))?;
    let scheme = match uri.scheme_str() {
        Some("https") => "https",
        Some("http") => "http",
        _ => return Err(invalid("it must be an absolute `https` (or `http`) URI")),
    };
    if uri.query().is_some() {
        return Err(invalid("it has a query"));
    }
    let authority = uri
        .authority()
        .map(|a| a.as_str())
        .filter(|a| !a.is_empty() && !a.contains('@'))
        .ok_or_else(|| invalid("it needs a host and no user information"))?;
    let path = match uri.path() {
        "/" => "",
        path => path,
    };
    Ok(format!("{scheme}://{authority}{WELL_KNOWN_PATH}{path}"))
}

fn parse_metadata_url(url: &str) -> Result<String, ConfigError> {
    let invalid = |why: &str| {
        ConfigError::new(format!(
            "the resource metadata URL `{url}` is not usable: {why}"
        ))
    };
    let uri: Uri = url.parse().map_err(|_| invalid("it does not parse"))?;
    if !matches!(uri.scheme_str(), Some("https" | "http")) || uri.authority().is_none() {
        return Err(invalid("it must be an absolute `https` (or `http`) URL"));
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(invalid("it must not have a query or fragment"));
    }
    if url.contains(['"', '\\']) {
        return Err(invalid("it must not contain `\"` or `\\`"));
    }
    Ok(uri.path().to_owned())
}

/// A scope token is 1*NQCHAR (RFC 6749 §3.3): printable ASCII but space, `"` and `\`.
fn check_scope(scope: &str) -> Result<(), ConfigError> {
    let nqchar = |b: u8| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E);
    if scope.is_empty() || !scope.bytes().all(nqchar) {
        return Err(ConfigError::new(format!(
            "`{scope}` is not a scope: a scope is printable ASCII without spaces, `\"` or `\\` \
             (RFC 6749 §3.3)"
        )));
    }
    Ok(())
}

/// The `WWW-Authenticate` values, computed once from the configuration.
struct Challenges {
    missing: HeaderValue,
    invalid_token: HeaderValue,
    invalid_request: HeaderValue,
    insufficient_scope: HeaderValue,
}

impl Challenges {
    fn new(metadata_url: &str, required_scopes: &[String]) -> Result<Self, ConfigError> {
        let base = format!("Bearer resource_metadata=\"{metadata_url}\"");
        let scope = required_scopes.join(" ");
        let scope_hint = if scope.is_empty() {
            String::new()
        } else {
            format!(", scope=\"{scope}\"")
        };
        let value = |text: String| {
            HeaderValue::try_from(text).map_err(|_| {
                ConfigError::new(format!(
                    "the resource metadata URL `{metadata_url}` cannot go into a header"
                ))
            })
        };
        Ok(Self {
            missing: value(format!("{base}{scope_hint}"))?,
            invalid_token: value(format!(
                "{base}, error=\"invalid_token\", error_description=\"{INVALID_TOKEN_DESCRIPTION}\""
            ))?,
            invalid_request: value(format!(
                "{base}, error=\"invalid_request\", error_description=\"{INVALID_REQUEST_DESCRIPTION}\""
            ))?,
            insufficient_scope: value(format!(
                "{base}, error=\"insufficient_scope\", scope=\"{scope}\", \
                 error_description=\"{INSUFFICIENT_SCOPE_DESCRIPTION}\""
            ))?,
        })
    }
}

struct Metadata {
    document: Arc<str>,
    paths: Box<[Box<str>]>,
}

struct Config {
    keys: Vec<VerificationKey>,
    /// One validation per allowed algorithm: `jsonwebtoken` wants all of a validation's
    /// algorithms in the family of the key.
    validations: Vec<(Algorithm, jwt::Validation)>,
    scope_claim: Option<String>,
    roles_claim: Option<String>,
    required_scopes: Vec<String>,
    max_token_len: usize,
    challenges: Challenges,
    metadata: Arc<Metadata>,
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
        BearerAuthBuilder {
            issuer: None,
            audience: None,
            keys: Vec::new(),
            algorithms: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            scope_claim: None,
            roles_claim: None,
            resource_metadata_url: None,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            required_scopes: Vec::new(),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }

    /// Wraps `inner` so that it sees only authenticated requests (the same as
    /// [`Layer::layer`](tower_layer::Layer::layer), without importing the trait).
    pub fn layer<S>(&self, inner: S) -> RequireBearer<S> {
        RequireBearer {
            inner,
            config: Arc::clone(&self.config),
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
        MetadataService {
            metadata: Arc::clone(&self.config.metadata),
        }
    }
}

impl fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let algorithms: Vec<_> = self.config.validations.iter().map(|(alg, _)| alg).collect();
        f.debug_struct("BearerAuth")
            .field("keys", &self.config.keys)
            .field("algorithms", &algorithms)
            .field("metadata_url", &self.config.metadata_url)
            .finish_non_exhaustive()
    }
}

impl<S> tower_layer::Layer<S> for BearerAuth {
    type Service = RequireBearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth::layer(self, inner)
    }
}

/// Why a request did not get through. The `String`s are for the log only.
#[derive(Debug)]
enum Rejection {
    /// No bearer token: no `Authorization` header, or another scheme.
    Missing,
    /// More than one `Authorization` header.
    Ambiguous,
    /// A bearer token that is not valid.
    InvalidToken(String),
    /// A valid token without the server-wide scopes.
    InsufficientScope { subject: String, missing: String },
}

impl Config {
    fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Rejection> {
        let token = self.bearer_token(headers)?;
        let principal = self.verify(token).map_err(Rejection::InvalidToken)?;
        let missing: Vec<&str> = self
            .required_scopes
            .iter()
            .map(String::as_str)
            .filter(|scope| !principal.has_scope(scope))
            .collect();
        if !missing.is_empty() {
            return Err(Rejection::InsufficientScope {
                subject: principal.to_string(),
                missing: missing.join(" "),
            });
        }
        Ok(principal)
    }

    /// The token of the request's one `Authorization: Bearer` header (RFC 6750 §2.1).
    fn bearer_token<'h>(&self, headers: &'h HeaderMap) -> Result<&'h str, Rejection> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let value = values.next().ok_or(Rejection::Missing)?;
        if values.next().is_some() {
            return Err(Rejection::Ambiguous);
        }
        if value.len() > self.max_token_len {
            return Err(Rejection::InvalidToken(format!(
                "the Authorization header is {} bytes long, more than the {} allowed",
                value.len(),
                self.max_token_len
            )));
        }
        let value = value.to_str().map_err(|_| {
            Rejection::InvalidToken("the Authorization header is not visible ASCII".into())
        })?;
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            // Another authentication scheme: as if there were none (RFC 6750 §3.1).
            return Err(Rejection::Missing);
        }
        let token = token.trim_matches(' ');
        if token.is_empty() {
            return Err(Rejection::InvalidToken("the bearer token is empty".into()));
        }
        if !is_b64token(token) {
            return Err(Rejection::InvalidToken(
                "the bearer credentials are not one b64token".into(),
            ));
        }
        Ok(token)
    }

    fn verify(&self, token: &str) -> Result<Principal, String> {
        let header =
            jwt::decode_header(token).map_err(|e| format!("the token is not a JWT: {e}"))?;
        let kid = header.kid.as_deref();
        let (alg, validation) = Algorithm::from_jwt(header.alg)
            .and_then(|alg| self.validations.iter().find(|(allowed, _)| *allowed == alg))
            .ok_or_else(|| format!("the token's algorithm {:?} is not allowed", header.alg))?;
        let key = self
            .select_key(kid, *alg)
            .ok_or_else(|| format!("no configured {alg} key has the token's kid {kid:?}"))?;
        let claims = jwt::decode::<Value>(token, &key.key, validation)
            .map_err(|e| format!("the token does not verify (kid {kid:?}, {alg}): {e}"))?
            .claims;
        self.principal(&claims)
    }

    /// The key for a token's `kid` and algorithm: a key with that `kid`; else a key without
    /// a `kid`; else, for a token without `kid`, the only key that fits.
    fn select_key(&self, kid: Option<&str>, alg: Algorithm) -> Option<&VerificationKey> {
        let fitting = || self.keys.iter().filter(move |key| key.fits(alg));
        let with_kid = kid.and_then(|kid| fitting().find(|key| key.kid.as_deref() == Some(kid)));
        let no_kid = || fitting().find(|key| key.kid.is_none());
        let only = || {
            let mut keys = fitting();
            keys.next().filter(|_| keys.next().is_none())
        };
        match kid {
            Some(_) => with_kid.or_else(no_kid),
            None => no_kid().or_else(only),
        }
    }

    fn principal(&self, claims: &Value) -> Result<Principal, String> {
        if !claims.is_object() {
            return Err("the token's claims are not a JSON object".into());
        }
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub,
            _ => return Err("the token's `sub` is not a non-empty string".into()),
        };
        let scopes = match &self.scope_claim {
            Some(name) => names(claims, name)?,
            None if claims.get("scope").is_some() => names(claims, "scope")?,
            None => names(claims, "scp")?,
        };
        let roles = match &self.roles_claim {
            Some(name) => names(claims, name)?,
            None => Vec::new(),
        };
        Ok(Principal::new(subject.as_str())
            .with_scopes(scopes)
            .with_roles(roles))
    }
}

/// The names in claim `name` (a JSON pointer if it starts with `/`): a space-separated string
/// or an array of strings; none if the claim is absent.
fn names<'c>(claims: &'c Value, name: &str) -> Result<Vec<&'c str>, String> {
    let value = if name.starts_with('/') {
        claims.pointer(name)
    } else {
        claims.get(name)
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s.split_ascii_whitespace().collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.as_str()),
                _ => Err(format!(
                    "the token's `{name}` holds something else than strings"
                )),
            })
            .collect(),
        Some(_) => Err(format!(
            "the token's `{name}` is neither a string nor an array of strings"
        )),
    }
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1).
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// The [`Service`](tower_service::Service) of [`BearerAuth`]: lets through only requests with
/// a valid bearer token, with their [`Principal`] in the extensions and without their
/// `Authorization` header.
///
/// The answers, all with an empty body and a `WWW-Authenticate` challenge naming the
/// protected resource metadata document:
///
/// | request | status | challenge |
/// |---|---|---|
/// | no `Authorization` header, or another scheme (`Basic`) | `401` | `Bearer resource_metadata="…"` (and `scope="…"`, the required scopes, if any) |
/// | a token that does not verify (malformed, bad signature, wrong `iss` or `aud`, expired, not yet valid, no `exp`, disallowed `alg`, unknown `kid`, bad claims) | `401` | `error="invalid_token"` with a generic `error_description` |
/// | more than one `Authorization` header | `400` | `error="invalid_request"` |
/// | a valid token without the [required scopes](BearerAuthBuilder::required_scopes) | `403` | `error="insufficient_scope"`, `scope="…"` |
///
/// The client learns nothing of why its token failed; the reason goes to `tracing` at
/// `warn` (target `secure_tool::oauth`), without the token.
pub struct RequireBearer<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: Clone> Clone for RequireBearer<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for RequireBearer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireBearer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for RequireBearer<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match self.config.authenticate(request.headers()) {
            Ok(principal) => {
                request.headers_mut().remove(header::AUTHORIZATION);
                request.extensions_mut().insert(principal);
                ResponseFuture::inner(self.inner.call(request))
            }
            Err(rejection) => ResponseFuture::rejected(self.config.reject(rejection)),
        }
    }
}

impl Config {
    fn reject<B: Default>(&self, rejection: Rejection) -> Response<B> {
        let (status, challenge) = match rejection {
            Rejection::Missing => {
                tracing::debug!(target: "secure_tool::oauth", "request without a bearer token");
                (StatusCode::UNAUTHORIZED, &self.challenges.missing)
            }
            Rejection::Ambiguous => {
                tracing::warn!(target: "secure_tool::oauth", "rejected a request with more than one Authorization header");
                (StatusCode::BAD_REQUEST, &self.challenges.invalid_request)
            }
            Rejection::InvalidToken(reason) => {
                tracing::warn!(target: "secure_tool::oauth", %reason, "rejected a bearer token");
                (StatusCode::UNAUTHORIZED, &self.challenges.invalid_token)
            }
            Rejection::InsufficientScope { subject, missing } => {
                tracing::warn!(target: "secure_tool::oauth", %subject, %missing, "rejected a bearer token without the required scopes");
                (StatusCode::FORBIDDEN, &self.challenges.insufficient_scope)
            }
        };
        let mut response = Response::new(B::default());
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge.clone());
        response
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RequireBearer`].
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response<B>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    fn rejected(response: Response<B>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Rejected { response } => Poll::Ready(Ok(response
                .take()
                .expect("`ResponseFuture` polled after it completed"))),
        }
    }
}

/// Serves the protected resource metadata document (RFC 9728) of a [`BearerAuth`]; made by
/// [`BearerAuth::metadata_service`].
///
/// At [`BearerAuth::metadata_path`] and [`WELL_KNOWN_PATH`]: `GET` and `HEAD` answer `200` with
/// the JSON document, `OPTIONS` answers a CORS preflight (the document is public), other
/// methods `405`. Other paths answer `404`, so the service also works as a fallback.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use http::{Request, StatusCode};
/// use secure_tool::oauth::{Algorithm, BearerAuth};
/// use tower::ServiceExt;
///
/// let auth = BearerAuth::builder()
///     .issuer("https://auth.example.com")
///     .audience("https://mcp.example.com/mcp")
///     .hmac_secret(b"0123456789abcdef0123456789abcdef")
///     .algorithms([Algorithm::HS256])
///     .build()?;
/// let request = Request::get(auth.metadata_path()).body(())?;
/// let response = auth.metadata_service().oneshot(request).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(response.headers()["content-type"], "application/json");
/// assert_eq!(response.body(), auth.metadata_document());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MetadataService {
    metadata: Arc<Metadata>,
}

impl fmt::Debug for MetadataService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataService")
            .field("paths", &self.metadata.paths)
            .finish_non_exhaustive()
    }
}

impl<B> tower_service::Service<Request<B>> for MetadataService {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        std::future::ready(Ok(self.respond(request.method(), request.uri().path())))
    }
}

impl MetadataService {
    fn respond(&self, method: &Method, path: &str) -> Response<String> {
        const ALLOWED: HeaderValue = HeaderValue::from_static("GET, HEAD, OPTIONS");
        let mut response = Response::new(String::new());
        if !self.metadata.paths.iter().any(|p| **p == *path) {
            *response.status_mut() = StatusCode::NOT_FOUND;
            return response;
        }
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        match *method {
            Method::GET | Method::HEAD => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                *response.body_mut() = self.metadata.document.to_string();
            }
            Method::OPTIONS => {
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED);
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("*"),
                );
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
            _ => {
                headers.insert(header::ALLOW, ALLOWED);
                *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            }
        }
        response
    }
}

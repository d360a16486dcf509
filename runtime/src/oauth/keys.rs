//! The keys that verify token signatures: the signature algorithms, single keys and JWK sets
//! (RFC 7517), and the choice of a token's key by its `kid`.

use std::fmt;
use std::str::FromStr;

use jsonwebtoken as jwt;

use super::ConfigError;

/// The HMAC secrets shorter than this are refused (RFC 7518 §3.2: at least the hash size).
const MIN_HMAC_SECRET_LEN: usize = 32;

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
///
/// [`BearerAuthBuilder::algorithms`]: super::BearerAuthBuilder::algorithms
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
    pub(super) const ALL: [Algorithm; 12] = [
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

    pub(super) const fn to_jwt(self) -> jwt::Algorithm {
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

    pub(super) fn from_jwt(alg: jwt::Algorithm) -> Option<Self> {
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

    /// The key itself, to verify a signature with.
    pub(super) fn decoding_key(&self) -> &jwt::DecodingKey {
        &self.key
    }

    fn from_decoding_key(key: jwt::DecodingKey) -> Self {
        Self {
            kid: None,
            algorithm: None,
            key,
        }
    }

    /// Whether this key may verify a signature made with `alg`.
    pub(super) fn fits(&self, alg: Algorithm) -> bool {
        self.key.family() == alg.to_jwt().family() && self.algorithm.is_none_or(|own| own == alg)
    }

    /// The signature keys of a JWK set (RFC 7517). Keys meant for encryption (`use` other than
    /// `sig`, `key_ops` without `verify`, an encryption `alg`) and keys of types this crate
    /// does not verify with are left out; a signature key that does not parse is an error.
    pub(super) fn from_jwks(json: &str, origin: &str) -> Result<Vec<Self>, ConfigError> {
        Self::from_jwk_set(json, origin, JwkSource::Configured)
    }

    /// The public signature keys of a JWK set an issuer publishes: as
    /// [`from_jwks`](Self::from_jwks), except that a key that does not parse is left out
    /// (one bad key does not take the others down) and so is any symmetric key (a secret
    /// published is no secret: a token it verifies could come from anyone).
    #[cfg(feature = "oauth-issuer")]
    pub(super) fn from_published_jwks(json: &str, origin: &str) -> Result<Vec<Self>, String> {
        Self::from_jwk_set(json, origin, JwkSource::Published).map_err(|e| e.to_string())
    }

    fn from_jwk_set(json: &str, origin: &str, source: JwkSource) -> Result<Vec<Self>, ConfigError> {
        use jwt::jwk::{AlgorithmParameters, KeyOperations, PublicKeyUse};

        let set: jwt::jwk::JwkSet = serde_json::from_str(json)
            .map_err(|e| ConfigError::new(format!("{origin} is not a JWK set: {e}")))?;
        let mut keys = Vec::with_capacity(set.keys.len());
        let mut left_out = 0_usize;
        for (index, jwk) in set.keys.iter().enumerate() {
            let common = &jwk.common;
            // A published `kid` is the issuer's text: escaped and cut before it is logged.
            let name = match &common.key_id {
                Some(kid) => format!("key `{}`", crate::util::LogSafe::new(kid.as_str(), 128)),
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
            let published_secret = source == JwkSource::Published
                && matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_));
            if published_secret {
                tracing::debug!(target: "secure_tool::oauth", key = %name, %origin, "JWK left out: a published symmetric key");
                left_out += 1;
                continue;
            }
            if !for_signatures || matches!(jwk.algorithm, AlgorithmParameters::Other(_)) {
                tracing::debug!(target: "secure_tool::oauth", key = %name, %origin, "JWK left out: not a signature key of a supported type");
                left_out += 1;
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
                        left_out += 1;
                        continue;
                    }
                },
            };
            let key = match jwt::DecodingKey::from_jwk(jwk) {
                Ok(key) => key,
                Err(_) if source == JwkSource::Published => {
                    tracing::debug!(target: "secure_tool::oauth", key = %name, %origin, "JWK left out: not a valid public key");
                    left_out += 1;
                    continue;
                }
                Err(_) => {
                    return Err(ConfigError::new(format!(
                        "{origin}: {name} is not a valid public key"
                    )));
                }
            };
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
        if left_out > 0 {
            // One line however many: a published set cannot flood the log.
            tracing::info!(target: "secure_tool::oauth", %origin, left_out, kept = keys.len(), "keys of the JWK set left out (their reasons at debug level)");
        }
        Ok(keys)
    }
}

/// Who wrote a JWK set: the server's operator, or an issuer it fetched the set from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum JwkSource {
    Configured,
    Published,
}

/// The keys tokens are verified with: given, or fetched from the issuer.
pub(super) enum Keys {
    Fixed(Vec<VerificationKey>),
    #[cfg(feature = "oauth-issuer")]
    Issuer(std::sync::Arc<super::issuer::IssuerKeys>),
}

/// The keys in use for one token.
pub(super) enum CurrentKeys<'k> {
    Fixed(&'k [VerificationKey]),
    #[cfg(feature = "oauth-issuer")]
    Fetched(std::sync::Arc<[VerificationKey]>),
}

impl Keys {
    /// The keys to verify a token with now; `None` while none was fetched.
    pub(super) fn current(&self) -> Option<CurrentKeys<'_>> {
        match self {
            Self::Fixed(keys) => Some(CurrentKeys::Fixed(keys)),
            #[cfg(feature = "oauth-issuer")]
            Self::Issuer(issuer) => issuer.current().map(CurrentKeys::Fetched),
        }
    }

    /// Which key set [`current`](Self::current) gives: a number that changes with each set
    /// fetched. Read before `current`, it is never newer than the set `current` gives.
    pub(super) fn generation(&self) -> u64 {
        match self {
            Self::Fixed(_) => 0,
            #[cfg(feature = "oauth-issuer")]
            Self::Issuer(issuer) => issuer.generation(),
        }
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(keys) => f.debug_tuple("Fixed").field(keys).finish(),
            #[cfg(feature = "oauth-issuer")]
            Self::Issuer(issuer) => f.debug_tuple("Issuer").field(issuer).finish(),
        }
    }
}

impl std::ops::Deref for CurrentKeys<'_> {
    type Target = [VerificationKey];

    fn deref(&self) -> &[VerificationKey] {
        match self {
            Self::Fixed(keys) => keys,
            #[cfg(feature = "oauth-issuer")]
            Self::Fetched(keys) => keys,
        }
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

/// The key for a token's `kid` and algorithm: a key with that `kid`; else a key without
/// a `kid`; else, for a token without `kid`, the only key that fits.
pub(super) fn select_key<'k>(
    keys: &'k [VerificationKey],
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<&'k VerificationKey> {
    let fitting = || keys.iter().filter(move |key| key.fits(alg));
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

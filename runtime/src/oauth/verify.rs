//! Token verification: the request's one bearer token, checked against the configuration,
//! into the caller's [`Principal`].

use http::header::{self, HeaderMap};
use jsonwebtoken as jwt;
use serde_json::Value;

use super::Config;
use super::keys::{Algorithm, select_key};
use crate::authz::Principal;

/// Why a request did not get through. The `String`s are for the log only.
#[derive(Debug)]
pub(super) enum Rejection {
    /// No bearer token: no `Authorization` header, or another scheme.
    Missing,
    /// More than one `Authorization` header.
    Ambiguous,
    /// A bearer token that is not valid.
    InvalidToken(String),
    /// A valid token without the server-wide scopes.
    InsufficientScope { subject: String, missing: String },
    /// A token whose `kid` no key of the set has (it may be new: the set is fetched again,
    /// if the keys come from the issuer).
    UnknownKey(String),
    /// No key set yet: the issuer was never reached.
    KeysUnavailable,
}

impl Config {
    pub(super) fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Rejection> {
        let token = self.bearer_token(headers)?;
        let principal = self.verify(token)?;
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

    fn verify(&self, token: &str) -> Result<Principal, Rejection> {
        let invalid = Rejection::InvalidToken;
        let header = jwt::decode_header(token)
            .map_err(|e| invalid(format!("the token is not a JWT: {e}")))?;
        let kid = header.kid.as_deref();
        let (alg, validation) = Algorithm::from_jwt(header.alg)
            .and_then(|alg| self.validations.iter().find(|(allowed, _)| *allowed == alg))
            .ok_or_else(|| {
                invalid(format!(
                    "the token's algorithm {:?} is not allowed",
                    header.alg
                ))
            })?;
        let keys = self.keys.current().ok_or(Rejection::KeysUnavailable)?;
        let key = select_key(&keys, kid, *alg).ok_or_else(|| {
            Rejection::UnknownKey(format!("no {alg} key has the token's kid {kid:?}"))
        })?;
        let claims = jwt::decode::<Value>(token, key.decoding_key(), validation)
            .map_err(|e| {
                invalid(format!(
                    "the token does not verify (kid {kid:?}, {alg}): {e}"
                ))
            })?
            .claims;
        self.principal(&claims).map_err(invalid)
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

//! Token verification: the request's one bearer token, checked against the configuration,
//! into the caller's [`Principal`].

use http::header::{self, HeaderMap};
use jsonwebtoken as jwt;
use serde_json::Value;

use super::Config;
use super::cache::{Lifetime, Lookup};
use super::keys::{Algorithm, select_key};
use crate::authz::Principal;

/// The `typ` headers of a token this server accepts: an access token's (RFC 9068 §2.1, with
/// and without the `application/` prefix), and plain `JWT`. Compared ignoring case (RFC 7515
/// §4.1.9 media types); a token without `typ` is accepted too.
const ACCESS_TOKEN_TYPES: [&str; 3] = ["at+jwt", "application/at+jwt", "JWT"];

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
        self.authenticate_at(headers, jwt::get_current_timestamp())
    }

    /// [`authenticate`](Self::authenticate) at `now`, in seconds since the epoch.
    pub(super) fn authenticate_at(
        &self,
        headers: &HeaderMap,
        now: u64,
    ) -> Result<Principal, Rejection> {
        let token = self.bearer_token(headers)?;
        let principal = self.verified(token, now)?;
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

    /// The caller of a valid `token`: from the tokens verified before, or verified now.
    fn verified(&self, token: &str, now: u64) -> Result<Principal, Rejection> {
        let Some(key) = self.verified_tokens.key(token) else {
            return self.verify(token, now).map(|(principal, _)| principal);
        };
        // The generation before the keys: a token verified with keys newer than this
        // generation is only verified again at its next request, never the other way.
        let generation = self.keys.generation();
        match self.verified_tokens.get(&key, now, generation, self.leeway) {
            Lookup::Valid(principal) => Ok(principal),
            Lookup::Expired { exp } => {
                self.verified_tokens.remove(&key);
                Err(Rejection::InvalidToken(expired(exp, now)))
            }
            Lookup::Unknown { known } => match self.verify(token, now) {
                Ok((principal, lifetime)) => {
                    self.verified_tokens
                        .insert(key, &principal, lifetime, generation);
                    Ok(principal)
                }
                Err(rejection) => {
                    if known {
                        // Verified with keys since replaced, or before the clock was set
                        // back: it is not valid now.
                        self.verified_tokens.remove(&key);
                    }
                    Err(rejection)
                }
            },
        }
    }

    /// The caller of `token` and when it may be used, if every check passes.
    fn verify(&self, token: &str, now: u64) -> Result<(Principal, Lifetime), Rejection> {
        let invalid = Rejection::InvalidToken;
        let header = jwt::decode_header(token)
            .map_err(|e| invalid(format!("the token is not a JWT: {e}")))?;
        check_typ(header.typ.as_deref()).map_err(invalid)?;
        if let Some(critical) = &header.crit {
            // RFC 7515 §4.1.11: extensions a recipient does not understand make the token
            // invalid, and this server understands none (an empty list is invalid too).
            return Err(invalid(format!(
                "the token's header names critical extensions {critical:?}, which this server \
                 does not implement"
            )));
        }
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
        self.check_issuer(&claims).map_err(invalid)?;
        let lifetime = self.check_lifetime(&claims, now).map_err(invalid)?;
        // What outlives this request (a subscription, a listen stream) ends with the token.
        let principal = self.principal(&claims).map_err(invalid)?;
        let left = lifetime.exp.saturating_add(self.leeway).saturating_sub(now);
        let principal = principal.valid_for(std::time::Duration::from_secs(left));
        Ok((principal, lifetime))
    }

    /// `iss` is a string, the issuer's: `jsonwebtoken` also accepts an array of issuers
    /// (all of them allowed ones), which no authorization server issues.
    fn check_issuer(&self, claims: &Value) -> Result<(), String> {
        match claims.get("iss") {
            Some(Value::String(iss)) if *iss == self.issuer => Ok(()),
            Some(Value::Array(_)) => Err("the token's `iss` is an array, not a string".into()),
            _ => Err("the token's `iss` is not the issuer".into()),
        }
    }

    /// When the token may be used: `exp` a number not in the past and `nbf`, if present, a
    /// number not in the future (both with the leeway); `iat`, if present, a number not in
    /// the future (beyond the leeway); a life no longer than the maximum lifetime: from
    /// `iat` to `exp`, or, without `iat`, from `now` (plus the leeway) to `exp`.
    ///
    /// These are the checks that depend on the time, all here rather than some of them in
    /// `jsonwebtoken` (whose clock cannot be set). Each holds on an interval of time, and
    /// the token passes all of them from [`Lifetime::from`] to [`Lifetime::exp`] plus the
    /// leeway: what a verified token is checked against when it comes again. A fractional
    /// time is rounded the strict way: `exp` down, `nbf` and `iat` up (and `iat` down for
    /// the lifetime).
    fn check_lifetime(&self, claims: &Value, now: u64) -> Result<Lifetime, String> {
        let leeway = self.leeway;
        // `jsonwebtoken` has checked that `exp` is present.
        let (exp, _) = claims
            .get("exp")
            .and_then(numeric_date)
            .ok_or("the token's `exp` is not a number")?;
        if exp.saturating_add(leeway) < now {
            return Err(expired(exp, now));
        }
        let mut from = 0;
        if let Some(nbf) = claims.get("nbf") {
            let (_, nbf) = numeric_date(nbf).ok_or("the token's `nbf` is not a number")?;
            if nbf > now.saturating_add(leeway) {
                return Err(format!(
                    "the token's `nbf` is {}s in the future, more than the {leeway}s leeway",
                    nbf - now,
                ));
            }
            from = nbf.saturating_sub(leeway);
        }
        let max = self.max_token_lifetime;
        match claims.get("iat") {
            None => {
                if exp > now.saturating_add(leeway).saturating_add(max) {
                    return Err(format!(
                        "the token has no `iat` and expires in {}s, more than the {max}s a token may live",
                        exp - now
                    ));
                }
                from = from.max(exp.saturating_sub(leeway).saturating_sub(max));
            }
            Some(iat) => {
                let (iat_down, iat) =
                    numeric_date(iat).ok_or("the token's `iat` is not a number")?;
                if iat > now.saturating_add(leeway) {
                    return Err(format!(
                        "the token's `iat` is {}s in the future, more than the {leeway}s leeway",
                        iat - now,
                    ));
                }
                if exp.saturating_sub(iat_down) > max {
                    return Err(format!(
                        "the token lives {}s from `iat` to `exp`, more than the {max}s allowed",
                        exp - iat_down
                    ));
                }
                from = from.max(iat.saturating_sub(leeway));
            }
        }
        Ok(Lifetime { from, exp })
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
            Some(name) => scope_names(claims, name)?,
            None if claims.get("scope").is_some() => scope_names(claims, "scope")?,
            None => scope_names(claims, "scp")?,
        };
        let roles = match &self.roles_claim {
            Some(name) => names(claims, name)?,
            None => Vec::new(),
        };
        let implied = scopes
            .iter()
            .filter_map(|scope| self.implied_scopes.get(*scope))
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>();
        Ok(Principal::new(subject.as_str())
            .with_scopes(scopes.into_iter().chain(implied))
            .with_roles(roles))
    }
}

/// Why a token whose `exp` is past (beyond the leeway) is invalid.
fn expired(exp: u64, now: u64) -> String {
    format!("the token expired {}s ago", now.saturating_sub(exp))
}

/// The token's `typ` header, if any, is one of [`ACCESS_TOKEN_TYPES`]: an ID token, a
/// logout token, a DPoP proof or any other JWT of the same issuer is not an access token.
fn check_typ(typ: Option<&str>) -> Result<(), String> {
    match typ {
        None => Ok(()),
        Some(typ)
            if ACCESS_TOKEN_TYPES
                .iter()
                .any(|t| typ.eq_ignore_ascii_case(t)) =>
        {
            Ok(())
        }
        Some(typ) => Err(format!(
            "the token's `typ` {typ:?} is not an access token's"
        )),
    }
}

/// A NumericDate (RFC 7519 §2) as whole seconds, rounded down and up: a non-negative
/// number (the same twice if it has no fraction).
fn numeric_date(value: &Value) -> Option<(u64, u64)> {
    let Value::Number(number) = value else {
        return None;
    };
    if let Some(seconds) = number.as_u64() {
        return Some((seconds, seconds));
    }
    // Past `u64::MAX`, `as` saturates: a date that far is as good as never.
    number
        .as_f64()
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map(|seconds| (seconds.floor() as u64, seconds.ceil() as u64))
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

/// The scopes in claim `name` ([`names`]), each one a scope a token can hold (RFC 6749
/// §3.3): the string's scopes separated by spaces only (a tab, a line feed or any other
/// character outside a scope's is no separator: the token is invalid), an array's items
/// each one scope (an item with a space in it is not one).
fn scope_names<'c>(claims: &'c Value, name: &str) -> Result<Vec<&'c str>, String> {
    let is_string = |value: Option<&Value>| matches!(value, Some(Value::String(_)));
    let value = if name.starts_with('/') {
        claims.pointer(name)
    } else {
        claims.get(name)
    };
    let scopes = match value {
        Some(Value::String(s)) => s.split(' ').filter(|scope| !scope.is_empty()).collect(),
        _ => names(claims, name)?,
    };
    if scopes
        .iter()
        .all(|scope| crate::authz::is_scope_token(scope))
    {
        return Ok(scopes);
    }
    Err(if is_string(value) {
        format!(
            "the token's `{name}` holds a character no scope can (scopes are separated by single spaces)"
        )
    } else {
        format!("an item of the token's `{name}` is not one scope")
    })
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1).
///
/// Read on every request, over the whole token: one table lookup a byte.
pub(super) fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| B64TOKEN[usize::from(b)])
}

/// The bytes of a `b64token` before its trailing `=`s.
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

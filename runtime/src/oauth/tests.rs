//! The bearer layer as a tower service, in front of an inner service that reports what it
//! saw; the metadata document; the configuration checks; and the layer in front of rmcp's
//! streamable HTTP server, behind axum.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::authz::Principal;
use crate::test_log::Log;

use base64::Engine as _;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_service::Service;

use super::verify::Rejection;
use super::*;

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "https://mcp.example.com/mcp";
const SECRET: &[u8] = b"a test-only secret of 32+ bytes!";
const METADATA_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const CHALLENGE: &str =
    "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\"";
const INVALID_TOKEN: &str = "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", error=\"invalid_token\", error_description=\"The access token is not valid\"";

const JWKS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/oauth/test-only-jwks.json"
);
const RSA_PRIVATE: &str = include_str!("../../tests/fixtures/oauth/test-only-rsa-private.pem");
const RSA_PUBLIC: &str = include_str!("../../tests/fixtures/oauth/test-only-rsa-public.pem");
const EC_PRIVATE: &str = include_str!("../../tests/fixtures/oauth/test-only-ec-p256-private.pem");

/// An inner service that counts its calls and answers with what it saw: the `Principal` (in
/// the response's extensions) and whether an `Authorization` header was still there.
#[derive(Clone, Default)]
struct Echo {
    calls: Arc<AtomicUsize>,
}

impl Service<Request<String>> for Echo {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let saw_authorization = request.headers().contains_key(header::AUTHORIZATION);
        let mut response = Response::new(format!("authorization header: {saw_authorization}"));
        if let Some(principal) = request.extensions().get::<Principal>() {
            response.extensions_mut().insert(principal.clone());
        }
        ready(Ok(response))
    }
}

/// A service that is never ready: a layer around it must not be ready either.
#[derive(Clone, Debug)]
pub(super) struct NeverReady;

impl<R> Service<R> for NeverReady {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Pending
    }

    fn call(&mut self, _: R) -> Self::Future {
        unreachable!("never ready")
    }
}

fn hs256() -> BearerAuthBuilder {
    BearerAuth::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret(SECRET)
        .algorithms([Algorithm::HS256])
}

fn from_jwks() -> BearerAuth {
    BearerAuth::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .jwks_file(JWKS)
        .algorithms([Algorithm::RS256, Algorithm::ES256])
        .build()
        .unwrap()
}

/// Claims that pass every check, expiring in five minutes.
fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "ada",
        "scope": "notes:read notes:write",
        "exp": get_current_timestamp() + 300,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn sign(
    claims: &Value,
    alg: jsonwebtoken::Algorithm,
    kid: Option<&str>,
    key: &EncodingKey,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).unwrap()
}

fn hs_token(claims: &Value) -> String {
    sign(
        claims,
        jsonwebtoken::Algorithm::HS256,
        None,
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
}

fn rs_token(claims: &Value, kid: Option<&str>) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    sign(claims, jsonwebtoken::Algorithm::RS256, kid, &key)
}

fn es_token(claims: &Value, kid: Option<&str>) -> String {
    let key = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap();
    sign(claims, jsonwebtoken::Algorithm::ES256, kid, &key)
}

/// An unsigned token (`alg: none`) with the given claims.
fn unsigned(claims: &Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

struct Seen {
    response: Response<String>,
    calls: usize,
}

impl Seen {
    fn principal(&self) -> Option<&Principal> {
        self.response.extensions().get::<Principal>()
    }

    fn challenge(&self) -> &str {
        self.response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
    }

    /// Rejected with `status` and exactly `challenge`, with an empty body, without the inner
    /// service.
    fn assert_rejected(&self, status: StatusCode, challenge: &str) {
        assert_eq!(self.response.status(), status);
        assert_eq!(self.challenge(), challenge);
        assert_eq!(
            self.response.headers().len(),
            1,
            "{:?}",
            self.response.headers()
        );
        assert_eq!(self.response.body(), "");
        assert_eq!(self.calls, 0, "the inner service must not be called");
        assert!(self.principal().is_none());
    }

    fn assert_invalid_token(&self) {
        self.assert_rejected(StatusCode::UNAUTHORIZED, INVALID_TOKEN);
    }

    /// Let through once, with the principal and without the `Authorization` header.
    fn assert_passed(&self) -> &Principal {
        assert_eq!(
            self.response.status(),
            StatusCode::OK,
            "{:?}",
            self.response.headers()
        );
        assert_eq!(self.calls, 1);
        assert_eq!(self.response.body(), "authorization header: false");
        self.principal().expect("a principal in the request")
    }
}

async fn send_values(auth: &BearerAuth, authorization: Vec<HeaderValue>) -> Seen {
    send_headers(auth, &[], authorization).await
}

/// A request with these `Origin` and `Authorization` headers.
async fn send_headers(
    auth: &BearerAuth,
    origins: &[&[u8]],
    authorization: Vec<HeaderValue>,
) -> Seen {
    let echo = Echo::default();
    let mut request = Request::post("/mcp").body(String::new()).unwrap();
    for origin in origins {
        let value = HeaderValue::from_bytes(origin).unwrap();
        request.headers_mut().append(header::ORIGIN, value);
    }
    for value in authorization {
        request.headers_mut().append(header::AUTHORIZATION, value);
    }
    let response = auth.layer(echo.clone()).oneshot(request).await.unwrap();
    Seen {
        response,
        calls: echo.calls.load(Ordering::SeqCst),
    }
}

async fn send(auth: &BearerAuth, authorization: &[&str]) -> Seen {
    let values = authorization
        .iter()
        .map(|v| HeaderValue::from_str(v).unwrap())
        .collect();
    send_values(auth, values).await
}

async fn send_token(auth: &BearerAuth, token: &str) -> Seen {
    send(auth, &[&format!("Bearer {token}")]).await
}

// ---------------------------------------------------------------------------------------
// No token, or not a bearer token

#[tokio::test]
async fn no_authorization_header_gets_the_challenge_with_the_metadata_url() {
    let seen = send(&hs256().build().unwrap(), &[]).await;
    seen.assert_rejected(StatusCode::UNAUTHORIZED, CHALLENGE);
}

#[tokio::test]
async fn the_challenge_hints_at_the_required_scopes() {
    let auth = hs256()
        .required_scopes(["mcp:use", "notes:read"])
        .build()
        .unwrap();
    let seen = send(&auth, &[]).await;
    seen.assert_rejected(
        StatusCode::UNAUTHORIZED,
        &format!("{CHALLENGE}, scope=\"mcp:use notes:read\""),
    );
}

/// Without required scopes, the first challenge names the advertised ones (the MCP
/// specification's scope selection), never `offline_access`; required scopes win.
#[tokio::test]
async fn the_challenge_hints_at_the_advertised_scopes_without_required_ones() {
    let auth = hs256()
        .scopes_supported(["notes:read", "offline_access", "notes:write"])
        .build()
        .unwrap();
    send(&auth, &[]).await.assert_rejected(
        StatusCode::UNAUTHORIZED,
        &format!("{CHALLENGE}, scope=\"notes:read notes:write\""),
    );
    let auth = hs256()
        .scopes_supported(["notes:read", "notes:write"])
        .required_scopes(["mcp:use"])
        .build()
        .unwrap();
    send(&auth, &[]).await.assert_rejected(
        StatusCode::UNAUTHORIZED,
        &format!("{CHALLENGE}, scope=\"mcp:use\""),
    );
    let auth = hs256()
        .scopes_supported(["offline_access"])
        .build()
        .unwrap();
    send(&auth, &[])
        .await
        .assert_rejected(StatusCode::UNAUTHORIZED, CHALLENGE);
}

/// A token that brings its own key (`jwk`, `jku`, `x5u` in its header) is verified with the
/// server's keys only: a key the token names is never fetched nor trusted.
#[tokio::test]
async fn a_token_carrying_its_own_key_is_verified_with_the_servers_keys() {
    let auth = hs256().build().unwrap();
    let attacker = b"an attacker's secret of 32+ bytes";
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(json!({
        "kty": "oct",
        "k": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(attacker),
    }))
    .unwrap();
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.jwk = Some(jwk);
    header.jku = Some("https://evil.example.com/jwks".into());
    header.x5u = Some("https://evil.example.com/cert".into());
    let token = encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(attacker).unwrap(),
    )
    .unwrap();
    send_token(&auth, &token).await.assert_invalid_token();
    // The same header on a token the server's key signed: the extra fields change nothing.
    let token = encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    send_token(&auth, &token).await.assert_passed();
}

#[test]
fn a_configuration_shows_its_keys_algorithms_and_origins_but_no_secret() {
    let auth = hs256()
        .allowed_origins(["https://app.example.com"])
        .build()
        .unwrap();
    let shown = format!("{auth:?}");
    for part in ["HS256", "mcp.example.com", "app.example.com", METADATA_URL] {
        assert!(shown.contains(part), "{part} not in {shown}");
    }
    assert!(
        !shown.contains(std::str::from_utf8(SECRET).unwrap()),
        "{shown}"
    );
}

#[tokio::test]
async fn another_scheme_is_no_token() {
    let auth = hs256().build().unwrap();
    for value in ["Basic YWRhOnNlY3JldA==", "Basic", "Token abc", "Bearerabc"] {
        send(&auth, &[value])
            .await
            .assert_rejected(StatusCode::UNAUTHORIZED, CHALLENGE);
    }
}

#[tokio::test]
async fn malformed_bearer_credentials_are_an_invalid_token() {
    let auth = hs256().build().unwrap();
    let good = hs_token(&claims());
    let cases = [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer    ".to_owned(),
        format!("Bearer {good} {good}"),
        "Bearer a b".to_owned(),
        "Bearer ===".to_owned(),
        "Bearer not,a,token".to_owned(),
        "Bearer a.b.c".to_owned(),
        "Bearer ....".to_owned(),
        "Bearer eyJhbGciOiJIUzI1NiJ9.!!!.@@@".to_owned(),
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig".to_owned(),
        "Bearer eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln".to_owned(),
        "Bearer W10.W10.W10".to_owned(),
        format!("Bearer {}", good.replace('.', "..")),
    ];
    for value in &cases {
        send(&auth, &[value]).await.assert_invalid_token();
    }
}

#[test]
fn credentials_that_are_not_one_b64token_are_refused_before_decoding() {
    let auth = hs256().build().unwrap();
    let now = get_current_timestamp();
    for token in ["===", "not,a,token", "a%b", "abc=def", "tok\"en"] {
        let rejection = authenticate_at(&auth, token, now).unwrap_err();
        assert!(
            matches!(&rejection, Rejection::InvalidToken(reason) if reason == "the bearer credentials are not one b64token"),
            "{token}: {rejection:?}"
        );
    }
    // Trailing `=` and every allowed character are one b64token (then not a JWT).
    for token in ["abc==", "aZ09-._~+/"] {
        let rejection = authenticate_at(&auth, token, now).unwrap_err();
        assert!(
            matches!(&rejection, Rejection::InvalidToken(reason) if reason.starts_with("the token is not a JWT")),
            "{token}: {rejection:?}"
        );
    }
}

/// Every character, alone, before `=`s and inside a token, against RFC 6750's grammar.
#[test]
fn a_b64token_is_made_of_the_characters_rfc_6750_names_and_no_other() {
    let named = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
    let allowed: Vec<char> = (0..=0x10ffff_u32)
        .filter_map(char::from_u32)
        .filter(|c| super::verify::is_b64token(&c.to_string()))
        .collect();
    let expected: Vec<char> = (0..=0x7f_u8)
        .map(char::from)
        .filter(|&c| named(c))
        .collect();
    assert_eq!(allowed, expected);
    for c in (0..=0x10ffff_u32)
        .filter_map(char::from_u32)
        .step_by(97)
        .chain(['=', ' ', '\0'])
    {
        for token in [format!("ab{c}cd"), format!("{c}=="), format!("abcd{c}")] {
            let body = token.trim_end_matches('=');
            let expected = !body.is_empty() && body.chars().all(named);
            assert_eq!(super::verify::is_b64token(&token), expected, "{token:?}");
        }
    }
}

#[tokio::test]
async fn a_token_that_is_not_visible_ascii_is_invalid() {
    let auth = hs256().build().unwrap();
    let value = HeaderValue::from_bytes(b"Bearer \xff\xfe.\x80.abc").unwrap();
    send_values(&auth, vec![value]).await.assert_invalid_token();
}

#[tokio::test]
async fn a_huge_header_is_rejected_before_decoding() {
    let auth = hs256().build().unwrap();
    let huge = format!("Bearer {}", "eyJh".repeat(100_000));
    send(&auth, &[&huge]).await.assert_invalid_token();

    let small = hs256().max_token_len(64).build().unwrap();
    send_token(&small, &hs_token(&claims()))
        .await
        .assert_invalid_token();

    // The limit is on the whole header value, and a header of exactly the limit passes.
    let token = hs_token(&claims());
    let len = "Bearer ".len() + token.len();
    let exact = hs256().max_token_len(len).build().unwrap();
    send_token(&exact, &token).await.assert_passed();
    let under = hs256().max_token_len(len - 1).build().unwrap();
    send_token(&under, &token).await.assert_invalid_token();
}

/// Corrupted tokens (bytes changed, cut, doubled) never panic and never pass.
#[tokio::test]
async fn corrupted_tokens_are_invalid_and_never_panic() {
    const ALPHABET: &[u8] = b"ABCXYZabcxyz0189-_.+/~=";
    let auth = BearerAuth::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .jwks_file(JWKS)
        .hmac_secret(SECRET)
        .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::HS256])
        .build()
        .unwrap();
    let tokens = [
        rs_token(&claims(), Some("test-rsa-1")),
        es_token(&claims(), Some("test-ec-1")),
        hs_token(&claims()),
    ];
    // A fixed linear congruential sequence: the same cases on every run.
    let mut state: u64 = 0x5eed;
    let mut next = move |bound: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % bound
    };
    for round in 0..600 {
        let mut token = tokens[round % tokens.len()].clone().into_bytes();
        match round % 3 {
            0 => {
                for _ in 0..1 + next(4) {
                    let at = next(token.len());
                    let mut byte = ALPHABET[next(ALPHABET.len())];
                    if byte == token[at] {
                        byte = if byte == b'A' { b'B' } else { b'A' };
                    }
                    token[at] = byte;
                }
            }
            1 => token.truncate(next(token.len())),
            _ => {
                let at = next(token.len());
                let copy = token[at..].to_vec();
                token.extend_from_slice(&copy);
            }
        }
        let token = String::from_utf8(token).unwrap();
        let seen = send(&auth, &[&format!("Bearer {token}")]).await;
        if seen.response.status() == StatusCode::OK {
            // A change inside the base64 padding bits of a signature may still decode to
            // the same bytes: then the token is the signed one, and passing is right.
            assert!(tokens.iter().any(|t| same_jwt(t, &token)), "{token}");
        } else {
            seen.assert_invalid_token();
        }
    }
}

/// Whether two compact JWTs decode to the same three parts.
fn same_jwt(a: &str, b: &str) -> bool {
    let decode = |t: &str| -> Option<Vec<Vec<u8>>> {
        let parts: Vec<&str> = t.split('.').collect();
        (parts.len() == 3).then_some(())?;
        parts
            .iter()
            .map(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .collect()
    };
    decode(a).is_some() && decode(a) == decode(b)
}

#[tokio::test]
async fn two_authorization_headers_are_a_bad_request() {
    let auth = hs256().build().unwrap();
    let token = format!("Bearer {}", hs_token(&claims()));
    let seen = send(&auth, &[&token, &token]).await;
    seen.assert_rejected(
        StatusCode::BAD_REQUEST,
        &format!(
            "{CHALLENGE}, error=\"invalid_request\", error_description=\"The request carries \
             more than one Authorization header\""
        ),
    );
}

// ---------------------------------------------------------------------------------------
// Tokens that do not verify

#[tokio::test]
async fn a_bad_signature_is_an_invalid_token() {
    let auth = hs256().build().unwrap();
    let other = EncodingKey::from_secret(b"another secret, also 32+ bytes!!").unwrap();
    let forged = sign(&claims(), jsonwebtoken::Algorithm::HS256, None, &other);
    send_token(&auth, &forged).await.assert_invalid_token();

    // A valid token with its signature cut off, or with the payload of another token.
    let good = hs_token(&claims());
    let (unsigned_part, _) = good.rsplit_once('.').unwrap();
    send_token(&auth, &format!("{unsigned_part}."))
        .await
        .assert_invalid_token();
    let admin = hs_token(&with(claims(), "sub", json!("admin")));
    let mut parts: Vec<&str> = good.split('.').collect();
    parts[1] = admin.split('.').nth(1).unwrap();
    send_token(&auth, &parts.join("."))
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn a_wrong_issuer_is_an_invalid_token() {
    let auth = hs256().build().unwrap();
    for iss in [
        json!("https://evil.example.com"),
        json!(""),
        json!(42),
        json!(null),
    ] {
        let token = hs_token(&with(claims(), "iss", iss));
        send_token(&auth, &token).await.assert_invalid_token();
    }
    send_token(&auth, &hs_token(&without(claims(), "iss")))
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn a_wrong_audience_is_an_invalid_token() {
    let auth = hs256().build().unwrap();
    let cases = [
        json!("https://other.example.com/mcp"),
        json!("https://mcp.example.com/mcp/"),
        json!("https://mcp.example.com"),
        json!(["https://other.example.com/mcp"]),
        json!([]),
        json!(7),
    ];
    for aud in cases {
        let token = hs_token(&with(claims(), "aud", aud));
        send_token(&auth, &token).await.assert_invalid_token();
    }
    send_token(&auth, &hs_token(&without(claims(), "aud")))
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn an_audience_list_with_this_server_passes() {
    let auth = hs256().build().unwrap();
    let token = hs_token(&with(
        claims(),
        "aud",
        json!(["https://other.example.com", AUDIENCE]),
    ));
    send_token(&auth, &token).await.assert_passed();
}

#[tokio::test]
async fn an_expired_token_is_invalid() {
    let auth = hs256().build().unwrap();
    let now = get_current_timestamp();
    let token = hs_token(&with(claims(), "exp", json!(now - 3600)));
    send_token(&auth, &token).await.assert_invalid_token();
}

#[tokio::test]
async fn the_leeway_tolerates_clock_skew_and_no_more() {
    let now = get_current_timestamp();
    let just_expired = hs_token(&with(claims(), "exp", json!(now - 30)));
    // Within the default leeway of 60 seconds.
    send_token(&hs256().build().unwrap(), &just_expired)
        .await
        .assert_passed();
    // Without leeway.
    let strict = hs256().leeway(Duration::ZERO).build().unwrap();
    send_token(&strict, &just_expired)
        .await
        .assert_invalid_token();
    // Past the leeway.
    let long_expired = hs_token(&with(claims(), "exp", json!(now - 61)));
    send_token(&hs256().build().unwrap(), &long_expired)
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn a_token_not_yet_valid_is_invalid() {
    let auth = hs256().build().unwrap();
    let now = get_current_timestamp();
    let token = hs_token(&with(claims(), "nbf", json!(now + 3600)));
    send_token(&auth, &token).await.assert_invalid_token();
    // Valid from a moment ago: fine.
    let token = hs_token(&with(claims(), "nbf", json!(now - 1)));
    send_token(&auth, &token).await.assert_passed();
}

#[tokio::test]
async fn a_token_without_exp_is_invalid() {
    let auth = hs256().build().unwrap();
    for claims in [
        without(claims(), "exp"),
        with(claims(), "exp", json!(null)),
        with(claims(), "exp", json!("tomorrow")),
        with(claims(), "exp", json!(-5)),
    ] {
        send_token(&auth, &hs_token(&claims))
            .await
            .assert_invalid_token();
    }
}

#[tokio::test]
async fn an_unsigned_token_is_invalid() {
    let auth = hs256().build().unwrap();
    send_token(&auth, &unsigned(&claims()))
        .await
        .assert_invalid_token();
    send_token(&from_jwks(), &unsigned(&claims()))
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn an_algorithm_outside_the_allowed_set_is_invalid() {
    // RS256 only: an ES256 token from a key of the JWKS is refused for its algorithm.
    let rs_only = BearerAuth::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .jwks_file(JWKS)
        .algorithms([Algorithm::RS256])
        .build()
        .unwrap();
    send_token(&rs_only, &es_token(&claims(), Some("test-ec-1")))
        .await
        .assert_invalid_token();

    // The classic confusion: HS256 "signed" with the RSA public key as the HMAC secret.
    let confused = sign(
        &claims(),
        jsonwebtoken::Algorithm::HS256,
        Some("test-rsa-1"),
        &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()).unwrap(),
    );
    send_token(&rs_only, &confused).await.assert_invalid_token();
    send_token(&from_jwks(), &confused)
        .await
        .assert_invalid_token();

    // An allowed algorithm, but not the one of the key named by `kid`.
    let mismatched = es_token(&claims(), Some("test-rsa-1"));
    send_token(&from_jwks(), &mismatched)
        .await
        .assert_invalid_token();

    // HS512 with the right secret, when only HS256 is allowed.
    let hs512 = sign(
        &claims(),
        jsonwebtoken::Algorithm::HS512,
        None,
        &EncodingKey::from_secret(SECRET).unwrap(),
    );
    send_token(&hs256().build().unwrap(), &hs512)
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn an_unknown_kid_is_invalid() {
    let auth = from_jwks();
    send_token(&auth, &rs_token(&claims(), Some("rotated-away")))
        .await
        .assert_invalid_token();
    // The JWKS has this RSA key as an encryption key only.
    send_token(&auth, &rs_token(&claims(), Some("test-rsa-enc")))
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn claims_of_the_wrong_type_are_an_invalid_token() {
    let auth = hs256().roles_claim("roles").build().unwrap();
    let cases = [
        with(claims(), "sub", json!(42)),
        with(claims(), "sub", json!("")),
        with(claims(), "sub", json!(["ada"])),
        without(claims(), "sub"),
        with(claims(), "scope", json!(7)),
        with(claims(), "scope", json!({"notes": "read"})),
        with(claims(), "scope", json!(["notes:read", 1])),
        with(claims(), "roles", json!(true)),
        with(claims(), "nbf", json!("soon")),
    ];
    for claims in &cases {
        send_token(&auth, &hs_token(claims))
            .await
            .assert_invalid_token();
    }
    // Claims that are not an object at all.
    let key = EncodingKey::from_secret(SECRET).unwrap();
    for claims in [json!([1, 2]), json!("ada"), json!(null)] {
        let token = sign(&claims, jsonwebtoken::Algorithm::HS256, None, &key);
        send_token(&auth, &token).await.assert_invalid_token();
    }
}

// ---------------------------------------------------------------------------------------
// Tokens that verify, but are not short-lived access tokens of the issuer

/// An HS256 token with `typ` in its header (none for `None`).
fn hs_token_typ(claims: &Value, typ: Option<&str>) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = typ.map(str::to_owned);
    encode(&header, claims, &EncodingKey::from_secret(SECRET).unwrap()).unwrap()
}

/// Claims issued at `iat` that expire `lifetime` seconds later.
fn lifetime(iat: u64, lifetime: u64) -> Value {
    with(
        with(claims(), "iat", json!(iat)),
        "exp",
        json!(iat + lifetime),
    )
}

const DAY: u64 = 24 * 60 * 60;

#[tokio::test]
async fn an_issuer_array_is_an_invalid_token_even_with_the_issuer() {
    let auth = hs256().build().unwrap();
    for iss in [
        json!([ISSUER]),
        json!([ISSUER, ISSUER]),
        json!([ISSUER, "https://evil.example.com"]),
        json!([]),
    ] {
        let token = hs_token(&with(claims(), "iss", iss));
        send_token(&auth, &token).await.assert_invalid_token();
    }
}

#[tokio::test]
async fn a_typ_other_than_an_access_token_s_is_invalid() {
    let auth = hs256().build().unwrap();
    for typ in [
        "dpop+jwt",
        "logout+jwt",
        "secevent+jwt",
        "JWS",
        "id_token+jwt",
        "at+jws",
        "application/jwt+at",
        "",
    ] {
        let token = hs_token_typ(&claims(), Some(typ));
        send_token(&auth, &token).await.assert_invalid_token();
    }
}

#[tokio::test]
async fn a_critical_header_extension_is_invalid() {
    // Refused by this server's own rule (its reason in the log), whatever the JWT library
    // would say of the signature.
    let log = Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    let auth = hs256().build().unwrap();
    for critical in [vec!["exp".to_owned()], vec!["b64".to_owned()], Vec::new()] {
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.crit = Some(critical.clone());
        let token = encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap();
        send_token(&auth, &token).await.assert_invalid_token();
    }
    let log = log.text();
    assert_eq!(log.matches("names critical extensions").count(), 3, "{log}");
}

#[tokio::test]
async fn an_access_token_s_typ_or_none_passes() {
    let auth = hs256().build().unwrap();
    for typ in [
        Some("at+jwt"),
        Some("AT+JWT"),
        Some("application/at+jwt"),
        Some("Application/AT+JWT"),
        Some("JWT"),
        Some("jwt"),
        None,
    ] {
        let token = hs_token_typ(&claims(), typ);
        send_token(&auth, &token).await.assert_passed();
    }
}

#[tokio::test]
async fn a_token_living_longer_than_the_maximum_is_invalid() {
    let now = get_current_timestamp();
    let default = hs256().build().unwrap();
    let token = hs_token(&lifetime(now - 60, DAY + 1));
    send_token(&default, &token).await.assert_invalid_token();
    // A year-long token, issued a moment ago.
    let token = hs_token(&lifetime(now, 365 * DAY));
    send_token(&default, &token).await.assert_invalid_token();

    let hour = hs256()
        .max_token_lifetime(Duration::from_secs(3600))
        .build()
        .unwrap();
    let token = hs_token(&lifetime(now - 60, 3601));
    send_token(&hour, &token).await.assert_invalid_token();
}

#[tokio::test]
async fn a_lifetime_exactly_at_the_maximum_passes() {
    let now = get_current_timestamp();
    let token = hs_token(&lifetime(now - 60, DAY));
    send_token(&hs256().build().unwrap(), &token)
        .await
        .assert_passed();

    let hour = hs256()
        .max_token_lifetime(Duration::from_secs(3600))
        .build()
        .unwrap();
    let token = hs_token(&lifetime(now - 60, 3600));
    send_token(&hour, &token).await.assert_passed();
}

#[tokio::test]
async fn without_iat_an_exp_beyond_the_maximum_from_now_is_invalid() {
    let now = get_current_timestamp();
    let auth = hs256().build().unwrap();
    // Past the maximum and the leeway of 60 seconds.
    let token = hs_token(&with(claims(), "exp", json!(now + DAY + 120)));
    send_token(&auth, &token).await.assert_invalid_token();
    let token = hs_token(&with(claims(), "exp", json!(now + 10 * 365 * DAY)));
    send_token(&auth, &token).await.assert_invalid_token();

    // Within the maximum from now: fine.
    let token = hs_token(&with(claims(), "exp", json!(now + DAY - 10)));
    send_token(&auth, &token).await.assert_passed();
}

#[tokio::test]
async fn an_iat_in_the_future_is_invalid() {
    let now = get_current_timestamp();
    let auth = hs256().build().unwrap();
    let token = hs_token(&with(claims(), "iat", json!(now + 3600)));
    send_token(&auth, &token).await.assert_invalid_token();
    // Just past the leeway of 60 seconds.
    let token = hs_token(&with(claims(), "iat", json!(now + 90)));
    send_token(&auth, &token).await.assert_invalid_token();
}

#[tokio::test]
async fn an_iat_within_the_leeway_passes() {
    let now = get_current_timestamp();
    let token = hs_token(&with(claims(), "iat", json!(now + 30)));
    send_token(&hs256().build().unwrap(), &token)
        .await
        .assert_passed();
    // A fractional NumericDate is a number too.
    let token = hs_token(&with(claims(), "iat", json!(now as f64 - 0.5)));
    send_token(&hs256().build().unwrap(), &token)
        .await
        .assert_passed();
    // Without leeway, the same clock skew is refused.
    let strict = hs256().leeway(Duration::ZERO).build().unwrap();
    let token = hs_token(&with(claims(), "iat", json!(now + 30)));
    send_token(&strict, &token).await.assert_invalid_token();
}

#[tokio::test]
async fn an_iat_that_is_not_a_number_is_invalid() {
    let now = get_current_timestamp();
    let auth = hs256().build().unwrap();
    for iat in [
        json!("yesterday"),
        json!(now.to_string()),
        json!(null),
        json!(true),
        json!([now]),
        json!({"at": now}),
        // A number, but no NumericDate.
        json!(-5),
    ] {
        let token = hs_token(&with(claims(), "iat", iat));
        send_token(&auth, &token).await.assert_invalid_token();
    }
}

/// Each of these refusals is logged with its own reason, and answered like any invalid
/// token.
#[tokio::test]
async fn the_hardening_refusals_go_to_the_log_and_never_to_the_client() {
    let log = Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    let auth = hs256().build().unwrap();
    let now = get_current_timestamp();
    let tokens = [
        hs_token(&with(claims(), "iss", json!([ISSUER]))),
        hs_token_typ(&claims(), Some("logout+jwt")),
        hs_token(&lifetime(now, 2 * DAY)),
        hs_token(&with(claims(), "exp", json!(now + 2 * DAY))),
        hs_token(&with(claims(), "iat", json!(now + 3600))),
        hs_token(&with(claims(), "iat", json!("now"))),
    ];
    for token in &tokens {
        send_token(&auth, token).await.assert_invalid_token();
    }
    let log = log.text();
    for reason in [
        "the token's `iss` is an array, not a string",
        "the token's `typ` \"logout+jwt\" is not an access token's",
        "the token lives 172800s from `iat` to `exp`, more than the 86400s allowed",
        "the token has no `iat` and expires in",
        "the token's `iat` is 3600s in the future, more than the 60s leeway",
        "the token's `iat` is not a number",
    ] {
        assert!(log.contains(reason), "{reason}\n{log}");
    }
    assert_eq!(log.matches("WARN").count(), tokens.len(), "{log}");
    for token in &tokens {
        assert!(!log.contains(token.as_str()), "{log}");
    }
}

// ---------------------------------------------------------------------------------------
// The Origin of browser requests

/// Refused for its `Origin`: `403`, no header, no body, not even the token looked at.
fn assert_forbidden_origin(seen: &Seen) {
    assert_eq!(seen.response.status(), StatusCode::FORBIDDEN);
    assert!(
        seen.response.headers().is_empty(),
        "{:?}",
        seen.response.headers()
    );
    assert_eq!(seen.response.body(), "");
    assert_eq!(seen.calls, 0, "the inner service must not be called");
    assert!(seen.principal().is_none());
}

/// A request with these `Origin` headers and a valid token.
async fn send_from(auth: &BearerAuth, origins: &[&str]) -> Seen {
    let token = HeaderValue::from_str(&format!("Bearer {}", hs_token(&claims()))).unwrap();
    let origins: Vec<&[u8]> = origins.iter().map(|origin| origin.as_bytes()).collect();
    send_headers(auth, &origins, vec![token]).await
}

#[tokio::test]
async fn a_foreign_origin_is_forbidden_even_with_a_valid_token() {
    let auth = hs256().build().unwrap();
    for origin in [
        "https://evil.example.com",
        "http://mcp.example.com",
        "https://mcp.example.com:8443",
        "https://mcp.example.com.evil.example.com",
        "https://example.com",
        "wss://mcp.example.com",
    ] {
        assert_forbidden_origin(&send_from(&auth, &[origin]).await);
    }
}

/// The origin is checked before the token: no token, a bad one, or two `Authorization`
/// headers, a foreign origin gets the same `403`, without a challenge.
#[tokio::test]
async fn a_foreign_origin_is_forbidden_before_the_token_is_looked_at() {
    let auth = hs256().build().unwrap();
    let evil: &[&[u8]] = &[b"https://evil.example.com"];
    let bearer = |token: &str| HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    for authorization in [
        vec![],
        vec![bearer("not-a-token")],
        vec![bearer(&hs_token(&claims())), bearer(&hs_token(&claims()))],
    ] {
        assert_forbidden_origin(&send_headers(&auth, evil, authorization).await);
    }
}

#[tokio::test]
async fn the_audience_s_origin_passes_with_or_without_its_default_port() {
    let auth = hs256().build().unwrap();
    for origin in ["https://mcp.example.com", "https://mcp.example.com:443"] {
        send_from(&auth, &[origin]).await.assert_passed();
    }
    let http = hs256()
        .audience("http://127.0.0.1:8080/mcp")
        .build()
        .unwrap();
    let token = hs_token(&with(claims(), "aud", json!("http://127.0.0.1:8080/mcp")));
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    send_headers(&http, &[b"http://127.0.0.1:8080"], vec![bearer.clone()])
        .await
        .assert_passed();
    for other_port in [&b"http://127.0.0.1"[..], b"http://127.0.0.1:80"] {
        assert_forbidden_origin(&send_headers(&http, &[other_port], vec![bearer.clone()]).await);
    }
}

#[tokio::test]
async fn an_uppercase_origin_passes() {
    let auth = hs256()
        .allowed_origins(["https://App.Example.com"])
        .build()
        .unwrap();
    for origin in [
        "HTTPS://MCP.EXAMPLE.COM",
        "https://Mcp.Example.Com:443",
        "https://app.example.com",
        "HTTPS://APP.EXAMPLE.COM",
    ] {
        send_from(&auth, &[origin]).await.assert_passed();
    }
}

#[tokio::test]
async fn a_configured_origin_passes() {
    let auth = hs256()
        .allowed_origins(["https://app.example.com"])
        .allowed_origins(["http://localhost:5173", "https://tools.example.com:443"])
        .build()
        .unwrap();
    for origin in [
        "https://app.example.com",
        "https://app.example.com:443",
        "http://localhost:5173",
        "https://tools.example.com",
        "https://mcp.example.com",
    ] {
        send_from(&auth, &[origin]).await.assert_passed();
    }
    for origin in [
        "http://localhost:5174",
        "http://localhost",
        "http://app.example.com",
        "https://evil.example.com",
    ] {
        assert_forbidden_origin(&send_from(&auth, &[origin]).await);
    }
}

#[tokio::test]
async fn a_null_origin_is_forbidden() {
    let auth = hs256().build().unwrap();
    assert_forbidden_origin(&send_from(&auth, &["null"]).await);
}

#[tokio::test]
async fn a_malformed_origin_is_forbidden() {
    let auth = hs256().build().unwrap();
    for origin in [
        &b""[..],
        b"mcp.example.com",
        b"https://mcp.example.com/",
        b"https://mcp.example.com/mcp",
        b"https://user@mcp.example.com",
        b"https://mcp.example.com:99999",
        b"https://mcp.example.com https://evil.example.com",
        b"NULL",
        b"https://mcp.example.com\xff",
    ] {
        let token = HeaderValue::from_str(&format!("Bearer {}", hs_token(&claims()))).unwrap();
        assert_forbidden_origin(&send_headers(&auth, &[origin], vec![token]).await);
    }
}

#[tokio::test]
async fn several_origin_headers_are_forbidden() {
    let auth = hs256().build().unwrap();
    let own = "https://mcp.example.com";
    assert_forbidden_origin(&send_from(&auth, &[own, own]).await);
    assert_forbidden_origin(&send_from(&auth, &[own, "https://evil.example.com"]).await);
}

#[tokio::test]
async fn without_an_origin_a_request_passes() {
    let auth = hs256().build().unwrap();
    send_from(&auth, &[]).await.assert_passed();
}

#[tokio::test]
async fn a_refused_origin_is_logged_cut_and_escaped() {
    let log = Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    let auth = hs256().build().unwrap();
    let forged = format!("https://evil.example.com\u{202e}{}", "a".repeat(4000));
    let token = hs_token(&claims());
    assert_forbidden_origin(&send_from(&auth, &[&forged]).await);
    assert_forbidden_origin(&send_from(&auth, &["null"]).await);
    assert_forbidden_origin(&send_from(&auth, &["https://a.example", "https://b.example"]).await);

    let log = log.text();
    assert_eq!(log.matches("WARN").count(), 3, "{log}");
    assert!(log.contains("secure_tool::oauth"), "{log}");
    assert!(
        log.contains("refused a request from an origin that is not allowed"),
        "{log}"
    );
    assert!(log.contains("is `null`"), "{log}");
    assert!(log.contains("carries 2 Origin headers"), "{log}");
    assert!(log.contains("https://evil.example.com"), "{log}");
    assert!(!log.contains(&"a".repeat(200)), "the origin is cut: {log}");
    assert!(!log.contains('\u{202e}'), "{log}");
    assert!(!log.contains(&token), "{log}");
}

#[test]
fn origin_configuration_mistakes_are_errors_at_build() {
    let error = |origin: &str| {
        hs256()
            .allowed_origins([origin])
            .build()
            .unwrap_err()
            .to_string()
    };
    for origin in ["null", "NULL"] {
        let message = error(origin);
        assert!(
            message.contains("`null` is the origin of sandboxed frames"),
            "{message}"
        );
    }
    for origin in [
        "https://app.example.com/",
        "https://app.example.com/app",
        "https://app.example.com?x=1",
    ] {
        let message = error(origin);
        assert!(message.contains("it has a path"), "{message}");
    }
    for origin in [
        "app.example.com",
        "",
        "https://",
        "https://u@app.example.com",
        "https://app.example.com:x",
    ] {
        let message = error(origin);
        assert_eq!(
            message,
            format!(
                "the allowed origin `{origin}` is not an origin: it does not parse as \
                 `scheme://host[:port]` (expected a scheme and a host, e.g. \
                 `https://app.example.com` or `http://localhost:5173`)"
            )
        );
    }
}

#[test]
fn a_zero_maximum_lifetime_is_an_error_at_build() {
    for lifetime in [Duration::ZERO, Duration::from_millis(999)] {
        let message = hs256()
            .max_token_lifetime(lifetime)
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("a maximum token lifetime under one second"),
            "{message}"
        );
    }
    hs256()
        .max_token_lifetime(Duration::from_secs(1))
        .build()
        .unwrap();
}

/// Whatever the cause, the client sees the same answer: nothing of the verifier's text.
#[tokio::test]
async fn the_cause_goes_to_the_log_and_never_to_the_client() {
    let log = Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    let auth = hs256().build().unwrap();
    let expired = hs_token(&with(
        claims(),
        "exp",
        json!(get_current_timestamp() - 3600),
    ));
    let wrong_audience = hs_token(&with(claims(), "aud", json!("https://other.example.com")));

    send_token(&auth, &expired).await.assert_invalid_token();
    send_token(&auth, &wrong_audience)
        .await
        .assert_invalid_token();

    let log = log.text();
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("secure_tool::oauth"), "{log}");
    assert!(log.contains("reason=the token expired "), "{log}");
    assert!(log.contains("InvalidAudience"), "{log}");
    assert!(
        !log.contains(&expired) && !log.contains(&wrong_audience),
        "{log}"
    );
}

// ---------------------------------------------------------------------------------------
// Tokens that pass

#[tokio::test]
async fn a_valid_token_reaches_the_inner_service_as_a_principal_without_its_header() {
    let auth = hs256().roles_claim("roles").build().unwrap();
    let token = hs_token(&with(claims(), "roles", json!(["editor", "admin"])));
    let seen = send_token(&auth, &token).await;
    let principal = seen.assert_passed();
    assert_eq!(principal.subject(), Some("ada"));
    assert_eq!(
        principal.scopes().collect::<Vec<_>>(),
        ["notes:read", "notes:write"]
    );
    assert_eq!(principal.roles().collect::<Vec<_>>(), ["admin", "editor"]);
}

#[tokio::test]
async fn the_scheme_is_case_insensitive() {
    let auth = hs256().build().unwrap();
    let token = hs_token(&claims());
    for scheme in ["bearer", "BEARER", "Bearer"] {
        send(&auth, &[&format!("{scheme} {token}")])
            .await
            .assert_passed();
    }
}

#[tokio::test]
async fn scopes_come_from_scope_or_scp() {
    let auth = hs256().build().unwrap();
    let scp = with(without(claims(), "scope"), "scp", json!(["b", "a"]));
    let seen = send_token(&auth, &hs_token(&scp)).await;
    assert_eq!(
        seen.assert_passed().scopes().collect::<Vec<_>>(),
        ["a", "b"]
    );

    // `scope` wins over `scp`; no scope claim at all is no scopes.
    let both = with(claims(), "scp", json!(["admin:all"]));
    let seen = send_token(&auth, &hs_token(&both)).await;
    assert!(!seen.assert_passed().has_scope("admin:all"));
    let none = without(claims(), "scope");
    let seen = send_token(&auth, &hs_token(&none)).await;
    assert_eq!(seen.assert_passed().scopes().count(), 0);
}

#[tokio::test]
async fn claim_names_are_configurable_and_may_be_json_pointers() {
    let auth = hs256()
        .scope_claim("permissions")
        .roles_claim("/realm_access/roles")
        .build()
        .unwrap();
    let claims = with(
        with(claims(), "permissions", json!("notes:read")),
        "realm_access",
        json!({"roles": ["auditor"]}),
    );
    let seen = send_token(&auth, &hs_token(&claims)).await;
    let principal = seen.assert_passed();
    assert_eq!(principal.scopes().collect::<Vec<_>>(), ["notes:read"]);
    assert_eq!(principal.roles().collect::<Vec<_>>(), ["auditor"]);
}

#[tokio::test]
async fn rs256_and_es256_from_a_jwks_file_are_selected_by_kid() {
    let auth = from_jwks();
    let seen = send_token(&auth, &rs_token(&claims(), Some("test-rsa-1"))).await;
    assert_eq!(seen.assert_passed().subject(), Some("ada"));
    let seen = send_token(&auth, &es_token(&claims(), Some("test-ec-1"))).await;
    assert_eq!(seen.assert_passed().subject(), Some("ada"));
    // Without a kid, the one key that fits the algorithm.
    send_token(&auth, &rs_token(&claims(), None))
        .await
        .assert_passed();
}

#[tokio::test]
async fn a_pem_public_key_verifies_rs256() {
    let auth = BearerAuth::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .public_key_pem(RSA_PUBLIC)
        .algorithms([Algorithm::RS256])
        .build()
        .unwrap();
    // A key without a kid verifies tokens whatever their kid.
    send_token(&auth, &rs_token(&claims(), None))
        .await
        .assert_passed();
    send_token(&auth, &rs_token(&claims(), Some("any")))
        .await
        .assert_passed();
    send_token(&auth, &es_token(&claims(), None))
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn a_key_with_a_kid_verifies_only_its_tokens() {
    let key = VerificationKey::hmac_secret(SECRET).unwrap().with_kid("k1");
    let auth = BearerAuth::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(key)
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    let secret = EncodingKey::from_secret(SECRET).unwrap();
    let hs = |kid| sign(&claims(), jsonwebtoken::Algorithm::HS256, kid, &secret);
    send_token(&auth, &hs(Some("k1"))).await.assert_passed();
    send_token(&auth, &hs(None)).await.assert_passed();
    send_token(&auth, &hs(Some("k2")))
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn the_layer_trait_and_the_inherent_method_agree() {
    let auth = hs256().build().unwrap();
    let echo = Echo::default();
    let service = tower_layer::Layer::layer(&auth, echo.clone());
    let request = Request::post("/mcp")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", hs_token(&claims())),
        )
        .body(String::new())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(echo.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_outer_principal_is_replaced_by_the_token_s() {
    let auth = hs256().build().unwrap();
    let echo = Echo::default();
    let mut request = Request::post("/mcp")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", hs_token(&claims())),
        )
        .body(String::new())
        .unwrap();
    request
        .extensions_mut()
        .insert(Principal::new("mallory").with_roles(["admin"]));
    let response = auth.layer(echo).oneshot(request).await.unwrap();
    let principal = response.extensions().get::<Principal>().unwrap();
    assert_eq!(principal.subject(), Some("ada"));
    assert!(!principal.has_role("admin"));
}

// ---------------------------------------------------------------------------------------
// Server-wide scopes

#[tokio::test]
async fn a_token_without_the_required_scopes_is_forbidden() {
    let auth = hs256().required_scopes(["mcp:use"]).build().unwrap();
    let seen = send_token(&auth, &hs_token(&claims())).await;
    seen.assert_rejected(
        StatusCode::FORBIDDEN,
        &format!(
            "{CHALLENGE}, error=\"insufficient_scope\", scope=\"mcp:use\", \
             error_description=\"The access token lacks a scope this server requires\""
        ),
    );

    let token = hs_token(&with(claims(), "scope", json!("notes:read mcp:use")));
    send_token(&auth, &token).await.assert_passed();
}

// ---------------------------------------------------------------------------------------
// Tokens already verified

/// `config.authenticate_at(..)` for `Authorization: Bearer <token>` at `now`.
fn authenticate_at(auth: &BearerAuth, token: &str, now: u64) -> Result<Principal, Rejection> {
    let mut headers = http::HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    headers.insert(header::AUTHORIZATION, value);
    auth.config.authenticate_at(&headers, now)
}

#[test]
fn a_token_that_passed_is_remembered_with_its_caller() {
    let auth = hs256().build().unwrap();
    let now = get_current_timestamp();
    let token = hs_token(&claims());
    let verified = authenticate_at(&auth, &token, now).unwrap();
    assert_eq!(auth.config.verified_tokens.len(), 1);
    let remembered = authenticate_at(&auth, &token, now + 10).unwrap();
    assert_eq!(remembered, verified);
    assert_eq!(remembered.subject(), Some("ada"));
    assert!(remembered.has_scope("notes:write"));
    assert_eq!(auth.config.verified_tokens.len(), 1);
}

#[test]
fn a_remembered_token_expires_with_its_exp_and_the_leeway() {
    let auth = hs256().build().unwrap();
    let now = get_current_timestamp();
    let token = hs_token(&with(claims(), "exp", json!(now + 300)));
    authenticate_at(&auth, &token, now).unwrap();
    // Up to the leeway of 60 seconds after `exp`, and not a second more.
    authenticate_at(&auth, &token, now + 360).unwrap();
    let rejection = authenticate_at(&auth, &token, now + 361).unwrap_err();
    assert!(
        matches!(&rejection, Rejection::InvalidToken(reason) if reason == "the token expired 61s ago"),
        "{rejection:?}"
    );
    assert_eq!(
        auth.config.verified_tokens.len(),
        0,
        "an expired token is forgotten"
    );
}

#[test]
fn a_remembered_token_is_not_valid_before_its_lifetime_if_the_clock_goes_back() {
    let auth = hs256().build().unwrap();
    let now = get_current_timestamp();
    let token = hs_token(&with(claims(), "nbf", json!(now + 100)));
    // Valid from 40 seconds on (the leeway is 60), verified then.
    authenticate_at(&auth, &token, now + 40).unwrap();
    assert_eq!(auth.config.verified_tokens.len(), 1);
    // The clock set back: not remembered as valid, verified again, and refused.
    assert!(authenticate_at(&auth, &token, now + 39).is_err());
    assert_eq!(auth.config.verified_tokens.len(), 0);

    // The same for an `iat`, and for a token without `iat` whose `exp` is as far as a
    // token may live.
    let issued = hs_token(&with(claims(), "iat", json!(now + 100)));
    authenticate_at(&auth, &issued, now + 40).unwrap();
    assert!(authenticate_at(&auth, &issued, now + 39).is_err());
    const DAY: u64 = 24 * 60 * 60;
    let long = hs_token(&with(claims(), "exp", json!(now + DAY + 100)));
    authenticate_at(&auth, &long, now + 40).unwrap();
    assert!(authenticate_at(&auth, &long, now + 39).is_err());
}

#[test]
fn fractional_times_are_rounded_the_strict_way() {
    let auth = hs256().build().unwrap();
    let now = get_current_timestamp();
    let at = |claims: Value| authenticate_at(&auth, &hs_token(&claims), now);
    // `nbf` 60.5 s ahead is beyond the 60 s leeway; exactly 60 is not.
    assert!(at(with(claims(), "nbf", json!(now as f64 + 60.5))).is_err());
    at(with(claims(), "nbf", json!(now + 60))).unwrap();
    // The same for `iat`.
    assert!(at(with(claims(), "iat", json!(now as f64 + 60.5))).is_err());
    // `exp` 60.5 s ago is past the leeway.
    assert!(at(with(claims(), "exp", json!(now as f64 - 60.5))).is_err());
    at(with(claims(), "exp", json!(now - 60))).unwrap();
    // A lifetime of 24 h and half a second from `iat` to `exp` is over the maximum.
    const DAY: f64 = 24.0 * 60.0 * 60.0;
    let iat = now as f64 - 0.5;
    let long = with(
        with(claims(), "iat", json!(iat)),
        "exp",
        json!(iat + DAY + 1.0),
    );
    assert!(at(long).is_err());
    // Not numbers, or out of range.
    for nbf in [json!(null), json!(-5), json!(1e300), json!("1")] {
        assert!(at(with(claims(), "nbf", nbf.clone())).is_err(), "{nbf}");
    }
}

#[test]
fn time_checks_use_the_given_clock() {
    let auth = hs256().build().unwrap();
    let now = get_current_timestamp();
    let token = hs_token(&with(claims(), "nbf", json!(now + 100)));
    // Not yet valid now (beyond the leeway); valid 40 seconds later.
    assert!(authenticate_at(&auth, &token, now).is_err());
    assert_eq!(
        auth.config.verified_tokens.len(),
        0,
        "a failed token is not kept"
    );
    authenticate_at(&auth, &token, now + 40).unwrap();
    // Expired an hour later, when it was never seen before either.
    let fresh = hs_token(&with(claims(), "exp", json!(now + 300)));
    assert!(authenticate_at(&auth, &fresh, now + 3600).is_err());
}

#[test]
fn a_token_differing_only_in_its_signature_is_not_taken_for_a_remembered_one() {
    let auth = hs256().build().unwrap();
    let now = get_current_timestamp();
    let token = hs_token(&claims());
    authenticate_at(&auth, &token, now).unwrap();
    // The same header and claims, another signature (a character in its middle changed,
    // so that it still decodes).
    let signature = token.rfind('.').unwrap() + 1;
    let middle = signature + (token.len() - signature) / 2;
    let mut forged = token.clone().into_bytes();
    forged[middle] = if forged[middle] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let rejection = authenticate_at(&auth, &forged, now).unwrap_err();
    assert!(
        matches!(&rejection, Rejection::InvalidToken(reason) if reason.contains("InvalidSignature")),
        "{rejection:?}"
    );
    // Nor a prefix of it.
    let prefix = &token[..token.len() - 1];
    assert!(authenticate_at(&auth, prefix, now).is_err());
}

#[tokio::test]
async fn a_remembered_token_still_needs_the_required_scopes() {
    let auth = hs256().required_scopes(["mcp:use"]).build().unwrap();
    let token = hs_token(&claims());
    for _ in 0..2 {
        let seen = send_token(&auth, &token).await;
        assert_eq!(seen.response.status(), StatusCode::FORBIDDEN);
    }
    let token = hs_token(&with(claims(), "scope", json!("mcp:use")));
    for _ in 0..2 {
        send_token(&auth, &token).await.assert_passed();
    }
    assert_eq!(auth.config.verified_tokens.len(), 2);
}

#[test]
fn with_no_memory_for_them_no_token_is_kept() {
    let auth = hs256().verified_token_cache(0).build().unwrap();
    let now = get_current_timestamp();
    let token = hs_token(&claims());
    for _ in 0..2 {
        authenticate_at(&auth, &token, now).unwrap();
    }
    assert_eq!(auth.config.verified_tokens.len(), 0);
}

#[test]
fn the_tokens_kept_fit_in_the_memory_given() {
    let token = |n: usize| hs_token(&with(claims(), "jti", json!(n.to_string())));
    let now = get_current_timestamp();
    let one = hs256().build().unwrap();
    authenticate_at(&one, &token(0), now).unwrap();
    let weight = one.config.verified_tokens.weight();
    // Room for four tokens.
    let auth = hs256()
        .verified_token_cache(usize::try_from(4 * weight).unwrap())
        .build()
        .unwrap();
    for n in 0..64 {
        authenticate_at(&auth, &token(n), now).unwrap();
    }
    let kept = auth.config.verified_tokens.len();
    assert!((1..=4).contains(&kept), "{kept} tokens kept");
    assert!(auth.config.verified_tokens.weight() <= 4 * weight);
}

#[test]
fn a_token_weighs_what_its_caller_holds() {
    let now = get_current_timestamp();
    let weight = |claims: Value| {
        let auth = hs256().roles_claim("roles").build().unwrap();
        authenticate_at(&auth, &hs_token(&claims), now).unwrap();
        auth.config.verified_tokens.weight()
    };
    let few = weight(claims());
    // "ada", "notes:read" and "notes:write", each with its box.
    let names = [3, 10, 11].map(|len| len + cache::NAME_OVERHEAD);
    assert_eq!(few, cache::ENTRY_OVERHEAD + names.iter().sum::<u64>());
    let scopes: Vec<String> = (0..100).map(|n| format!("s{n}")).collect();
    let many = weight(with(claims(), "scope", json!(scopes.join(" "))));
    let roles = weight(with(claims(), "roles", json!(["a-role-name"])));
    // Each name its bytes and more (its box), whatever the token's own length.
    assert!(many >= few + 90 * 32, "{few} {many}");
    assert!(roles > few, "{few} {roles}");
}

#[test]
fn the_verified_tokens_debug_shows_no_token() {
    let auth = hs256().build().unwrap();
    let token = hs_token(&claims());
    authenticate_at(&auth, &token, get_current_timestamp()).unwrap();
    let debug = format!("{:?}", auth.config.verified_tokens);
    assert_eq!(
        debug,
        format!("VerifiedTokens {{ capacity: {DEFAULT_VERIFIED_TOKEN_CACHE}, len: 1 }}")
    );
    let none = hs256().verified_token_cache(0).build().unwrap();
    assert_eq!(
        format!("{:?}", none.config.verified_tokens),
        "VerifiedTokens { capacity: 0 }"
    );
}

// ---------------------------------------------------------------------------------------
// The protected resource metadata document

async fn get_metadata(auth: &BearerAuth, method: Method, path: &str) -> Response<String> {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(())
        .unwrap();
    auth.metadata_service().oneshot(request).await.unwrap()
}

#[tokio::test]
async fn the_metadata_document_is_served_at_both_well_known_paths() {
    let auth = hs256()
        .scopes_supported(["notes:read", "notes:write"])
        .build()
        .unwrap();
    assert_eq!(auth.metadata_url(), METADATA_URL);
    assert_eq!(
        auth.metadata_path(),
        "/.well-known/oauth-protected-resource/mcp"
    );
    let expected = json!({
        "resource": AUDIENCE,
        "authorization_servers": [ISSUER],
        "scopes_supported": ["notes:read", "notes:write"],
        "bearer_methods_supported": ["header"],
    });
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp?probe=1",
    ] {
        let response = get_metadata(&auth, Method::GET, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let document: Value = serde_json::from_str(response.body()).unwrap();
        assert_eq!(document, expected);
    }
    let head = get_metadata(&auth, Method::HEAD, auth.metadata_path()).await;
    assert_eq!(head.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_metadata_service_answers_only_its_paths_and_methods() {
    let auth = hs256().build().unwrap();
    let elsewhere = get_metadata(&auth, Method::GET, "/mcp").await;
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let other_suffix = get_metadata(
        &auth,
        Method::GET,
        "/.well-known/oauth-protected-resource/x",
    )
    .await;
    assert_eq!(other_suffix.status(), StatusCode::NOT_FOUND);

    let post = get_metadata(&auth, Method::POST, auth.metadata_path()).await;
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()[header::ALLOW], "GET, HEAD, OPTIONS");
    assert_eq!(post.body(), "");

    let preflight = get_metadata(&auth, Method::OPTIONS, auth.metadata_path()).await;
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        preflight.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "*"
    );
    assert_eq!(
        preflight.headers()[header::ACCESS_CONTROL_ALLOW_METHODS],
        "GET, HEAD, OPTIONS"
    );
}

#[test]
fn the_metadata_url_follows_rfc_9728_or_the_configuration() {
    let at = |audience: &str| {
        let auth = hs256().audience(audience).build().unwrap();
        (
            auth.metadata_url().to_owned(),
            auth.metadata_path().to_owned(),
        )
    };
    assert_eq!(
        at("https://mcp.example.com"),
        (
            "https://mcp.example.com/.well-known/oauth-protected-resource".into(),
            "/.well-known/oauth-protected-resource".into()
        )
    );
    let root = hs256().audience("https://mcp.example.com").build().unwrap();
    assert_eq!(root.metadata_paths().collect::<Vec<_>>(), [WELL_KNOWN_PATH]);
    assert_eq!(
        at("https://mcp.example.com/").1,
        "/.well-known/oauth-protected-resource"
    );
    assert_eq!(
        at("https://mcp.example.com/mcp/").1,
        "/.well-known/oauth-protected-resource/mcp/"
    );
    assert_eq!(
        at("http://127.0.0.1:8080/api/mcp"),
        (
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/api/mcp".into(),
            "/.well-known/oauth-protected-resource/api/mcp".into()
        )
    );

    let auth = hs256()
        .resource_metadata_url("https://docs.example.com/prm.json")
        .authorization_servers(["https://a.example.com", "https://b.example.com"])
        .build()
        .unwrap();
    assert_eq!(auth.metadata_path(), "/prm.json");
    let document: Value = serde_json::from_str(auth.metadata_document()).unwrap();
    assert_eq!(
        document["authorization_servers"],
        json!(["https://a.example.com", "https://b.example.com"])
    );
    assert!(document.get("scopes_supported").is_none());
}

#[tokio::test]
async fn a_configured_metadata_url_is_the_one_in_the_challenge() {
    let auth = hs256()
        .resource_metadata_url("https://docs.example.com/prm.json")
        .build()
        .unwrap();
    let seen = send(&auth, &[]).await;
    seen.assert_rejected(
        StatusCode::UNAUTHORIZED,
        "Bearer resource_metadata=\"https://docs.example.com/prm.json\"",
    );
}

// ---------------------------------------------------------------------------------------
// Configuration errors

#[test]
fn configuration_mistakes_are_errors_at_build() {
    let base = || {
        BearerAuth::builder()
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .algorithms([Algorithm::HS256])
    };
    let error = |builder: BearerAuthBuilder| builder.build().unwrap_err().to_string();

    assert!(error(base()).starts_with("no verification key configured"));
    assert!(error(hs256().algorithms([])).starts_with("no signature algorithm allowed"));
    assert!(
        error(BearerAuth::builder().audience(AUDIENCE).hmac_secret(SECRET))
            .starts_with("no issuer")
    );
    assert!(
        error(BearerAuth::builder().issuer(ISSUER).hmac_secret(SECRET)).starts_with("no audience")
    );
    assert_eq!(
        error(base().hmac_secret(b"short")),
        "an HMAC secret must be at least 32 bytes long, this one has 5"
    );
    assert!(error(base().public_key_pem("garbage")).starts_with("not a PEM public key"));
    assert_eq!(
        error(hs256().algorithms([Algorithm::RS256])),
        "none of the configured keys can verify the allowed algorithms (RS256)"
    );
    assert_eq!(
        error(hs256().leeway(Duration::from_secs(3600))),
        "a leeway of 3600s is more than the 300s allowed"
    );
    assert_eq!(
        error(hs256().leeway(MAX_LEEWAY + Duration::from_secs(1))),
        "a leeway of 301s is more than the 300s allowed"
    );
    // The largest leeway allowed is allowed.
    assert!(hs256().leeway(MAX_LEEWAY).build().is_ok());
    assert!(
        error(hs256().required_scopes(["mcp", "offline_access"])).contains("offline_access"),
        "a refresh token is no resource's requirement"
    );
    for audience in [
        "mcp.example.com/mcp",
        "/mcp",
        "ftp://mcp.example.com/mcp",
        "https://mcp.example.com/mcp?x=1",
        "https://mcp.example.com/mcp#top",
        "https://user@mcp.example.com/mcp",
        "",
    ] {
        let message = error(hs256().audience(audience));
        assert!(
            message.starts_with(&format!("the audience `{audience}` is not a resource URI")),
            "{message}"
        );
    }
    for scope in ["two words", "quo\"te", "", "back\\slash"] {
        let message = error(hs256().scopes_supported([scope]));
        assert!(message.ends_with("(RFC 6749 §3.3)"), "{message}");
        let message = error(hs256().required_scopes([scope]));
        assert!(message.ends_with("(RFC 6749 §3.3)"), "{message}");
    }
    assert!(error(hs256().resource_metadata_url("/relative")).contains("absolute"));
    assert!(
        error(hs256().resource_metadata_url("ftp://docs.example.com/prm.json"))
            .contains("absolute")
    );
    assert!(
        error(hs256().resource_metadata_url("https://docs.example.com/prm.json?v=1"))
            .contains("must not have a query or fragment")
    );
    assert!(
        error(hs256().jwks_file("/nonexistent/jwks.json")).starts_with("cannot read JWKS file")
    );
    assert!(error(base().jwks("{\"keys\": 5}")).starts_with("the JWKS is not a JWK set"));
    assert_eq!(
        error(base().jwks(r#"{"keys": [{"kty": "RSA", "kid": "bad", "n": "!!", "e": "AQAB"}]}"#)),
        "the JWKS: key `bad` is not a valid public key"
    );
    // A JWKS of encryption keys only has no verification key.
    assert!(
        error(base().jwks(r#"{"keys": [{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]}"#))
            .starts_with("no verification key configured")
    );
    assert_eq!(
        "none".parse::<Algorithm>().unwrap_err().to_string(),
        "`none` is not a supported signature algorithm: expected one of HS256, HS384, HS512, \
         RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
    );
}

#[test]
fn debug_output_shows_no_key_material() {
    let auth = hs256().build().unwrap();
    let debug = format!("{auth:?}");
    assert!(
        debug.contains("HS256") && debug.contains(METADATA_URL),
        "{debug}"
    );
    assert!(!debug.contains("test-only secret"), "{debug}");
    assert!(!format!("{:?}", auth.layer(())).contains("test-only secret"));
    // The builder shows what it checks against, and no key either.
    let builder = format!("{:?}", hs256());
    assert!(builder.starts_with("BearerAuthBuilder {"), "{builder}");
    assert!(
        builder.contains(ISSUER) && builder.contains(AUDIENCE) && builder.contains("HS256"),
        "{builder}"
    );
    assert!(!builder.contains("test-only secret"), "{builder}");
}

#[test]
fn algorithm_names_round_trip() {
    for alg in Algorithm::ALL {
        assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
        assert_eq!(alg.to_string(), alg.as_str());
        assert_eq!(Algorithm::from_jwt(alg.to_jwt()), Some(alg));
    }
}

// ---------------------------------------------------------------------------------------
// In front of rmcp's streamable HTTP server, behind axum

#[cfg(feature = "macros")]
mod behind_axum {
    use std::sync::Arc;

    use axum::Router;
    use axum::body::Body;
    use http::{Request, StatusCode};
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    use serde_json::{Value, json};
    use tower::ServiceExt as _;

    use super::{BindSessions, CHALLENGE, claims, hs_token, hs256, with};
    use crate::prelude::*;

    #[derive(Clone, Default)]
    struct Notes;

    #[secure_tool_router]
    impl Notes {
        /// Lists the notes.
        #[secure_tool(authz = scopes("notes:read"), mode = read)]
        async fn list_notes(&self) -> Result<String, ToolError> {
            Ok("two notes".into())
        }
    }

    impl rmcp::ServerHandler for Notes {}

    fn app() -> Router {
        let auth = hs256().build().unwrap();
        let server = SecureServer::new(Notes);
        let mcp = StreamableHttpService::new(
            move || Ok(server.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default()
                .with_legacy_session_mode(false)
                .with_json_response(true),
        );
        let mut app = Router::new().route_service("/mcp", auth.layer(mcp));
        for path in auth.metadata_paths() {
            app = app.route_service(path, auth.metadata_service());
        }
        app
    }

    fn call_tool(authorization: Option<String>) -> Request<Body> {
        let body = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "list_notes", "arguments": {}},
        });
        let mut request = Request::post("http://localhost/mcp")
            .header("host", "localhost")
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.body(Body::from(body.to_string())).unwrap()
    }

    async fn result(response: axum::response::Response) -> Value {
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let message: Value = serde_json::from_slice(&bytes).unwrap();
        message["result"].clone()
    }

    #[tokio::test]
    async fn without_a_token_the_mcp_endpoint_answers_the_challenge() {
        let response = app().oneshot(call_tool(None)).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], CHALLENGE);
    }

    #[tokio::test]
    async fn the_tool_s_policy_sees_the_token_s_scopes() {
        let token = hs_token(&claims());
        let response = app()
            .oneshot(call_tool(Some(format!("Bearer {token}"))))
            .await
            .unwrap();
        let allowed = result(response).await;
        assert_eq!(allowed["isError"], json!(false), "{allowed}");
        assert_eq!(allowed["content"][0]["text"], "two notes", "{allowed}");

        let token = hs_token(&with(claims(), "scope", json!("notes:write")));
        let response = app()
            .oneshot(call_tool(Some(format!("Bearer {token}"))))
            .await
            .unwrap();
        let denied = result(response).await;
        assert_eq!(denied["isError"], json!(true), "{denied}");
        assert!(!denied.to_string().contains("two notes"), "{denied}");
    }

    #[tokio::test]
    async fn the_metadata_document_is_mounted_beside_it() {
        for path in [
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource",
        ] {
            let request = Request::get(path).body(Body::empty()).unwrap();
            let response = app().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            let document: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(document["resource"], "https://mcp.example.com/mcp");
        }
    }

    type Mcp = StreamableHttpService<SecureServer<Notes>, LocalSessionManager>;

    /// A stateful MCP endpoint (sessions) behind the bearer layer, its sessions bound to
    /// their subjects; and the binding, to count what it holds.
    fn bound_app() -> (Router, BindSessions<Mcp, LocalSessionManager>) {
        let (mcp, sessions) = stateful_mcp();
        let bound = BindSessions::new(mcp, sessions);
        let app =
            Router::new().route_service("/mcp", hs256().build().unwrap().layer(bound.clone()));
        (app, bound)
    }

    /// A stateful MCP endpoint (sessions) of a secure server, and its session manager.
    fn stateful_mcp() -> (Mcp, Arc<LocalSessionManager>) {
        let server = SecureServer::new(Notes);
        let sessions = Arc::new(LocalSessionManager::default());
        let mcp = StreamableHttpService::new(
            move || Ok(server.clone()),
            Arc::clone(&sessions),
            StreamableHttpServerConfig::default(),
        );
        (mcp, sessions)
    }

    fn token_of(subject: &str) -> String {
        format!(
            "Bearer {}",
            hs_token(&with(claims(), "sub", json!(subject)))
        )
    }

    /// A JSON-RPC message to the endpoint, as `subject`, in `session` if any.
    fn post(subject: &str, session: Option<&str>, message: Value) -> Request<Body> {
        let mut request = Request::post("http://localhost/mcp")
            .header("host", "localhost")
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("authorization", token_of(subject));
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request.body(Body::from(message.to_string())).unwrap()
    }

    fn delete(subject: &str, session: &str) -> Request<Body> {
        Request::delete("http://localhost/mcp")
            .header("host", "localhost")
            .header("authorization", token_of(subject))
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25")
            .body(Body::empty())
            .unwrap()
    }

    async fn body_text(response: axum::response::Response) -> String {
        let bytes = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            axum::body::to_bytes(response.into_body(), 1 << 20),
        )
        .await
        .expect("the response body ends")
        .unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn a_session_answers_only_the_subject_that_created_it() {
        let (app, bound) = bound_app();
        let initialize = json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "0"},
            },
        });
        let response = app
            .clone()
            .oneshot(post("ada", None, initialize))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(bound.bound(), 1);
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = app
            .clone()
            .oneshot(post("ada", Some(&session), initialized))
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());

        let call = json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "list_notes", "arguments": {}},
        });
        // Another subject, with a valid token and the session's id: as if it did not exist.
        let response = app
            .clone()
            .oneshot(post("bob", Some(&session), call.clone()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(body_text(response).await, "");
        let response = app.clone().oneshot(delete("bob", &session)).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(bound.bound(), 1, "another subject cannot end the session");

        // Its owner goes on, and ends it.
        let response = app
            .clone()
            .oneshot(post("ada", Some(&session), call))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let text = body_text(response).await;
        assert!(text.contains("two notes"), "{text}");
        let response = app.clone().oneshot(delete("ada", &session)).await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        assert_eq!(bound.bound(), 0, "an ended session is forgotten");
    }

    fn initialize() -> Value {
        json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "0"},
            },
        })
    }

    /// A session opened by `subject` through `app`: its id, or the answer's status.
    async fn open_session(app: &Router, subject: &str) -> Result<String, StatusCode> {
        let response = app
            .clone()
            .oneshot(post(subject, None, initialize()))
            .await
            .unwrap();
        if response.status() != StatusCode::OK {
            return Err(response.status());
        }
        Ok(response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned())
    }

    #[tokio::test]
    async fn a_session_the_binding_never_bound_is_nobodys() {
        // Two bindings of one session manager: two replicas sharing a session store, or a
        // binding restarted while its sessions lived on.
        let auth = hs256().build().unwrap();
        let (mcp, sessions) = stateful_mcp();
        let first = Router::new().route_service(
            "/mcp",
            auth.layer(BindSessions::new(mcp.clone(), Arc::clone(&sessions))),
        );
        let second =
            Router::new().route_service("/mcp", auth.layer(BindSessions::new(mcp, sessions)));
        let session = open_session(&first, "ada").await.unwrap();
        let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
        for subject in ["bob", "ada"] {
            let response = second
                .clone()
                .oneshot(post(subject, Some(&session), ping.clone()))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{subject}");
        }
        // Where it was bound, its owner goes on.
        let response = first
            .clone()
            .oneshot(post("ada", Some(&session), ping))
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }

    #[tokio::test]
    async fn one_subject_cannot_open_more_than_its_share_of_sessions() {
        let auth = hs256().build().unwrap();
        let (mcp, sessions) = stateful_mcp();
        let bound = BindSessions::new(mcp, Arc::clone(&sessions)).max_sessions_per_subject(2);
        let app = Router::new().route_service("/mcp", auth.layer(bound.clone()));
        let first = open_session(&app, "ada").await.unwrap();
        open_session(&app, "ada").await.unwrap();
        assert_eq!(
            open_session(&app, "ada").await,
            Err(StatusCode::TOO_MANY_REQUESTS)
        );
        // The session the refused request opened is closed, not left to idle out.
        assert_eq!(sessions.sessions.read().await.len(), 2);
        assert_eq!(bound.bound(), 2);
        // Another subject has its own share.
        open_session(&app, "bob").await.unwrap();
        // Once one of its sessions ends, the subject may open another.
        let response = app.clone().oneshot(delete("ada", &first)).await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        open_session(&app, "ada").await.unwrap();
    }

    #[tokio::test]
    async fn without_an_authenticated_subject_nothing_reaches_the_service() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let inner = super::Echo {
            calls: Arc::clone(&calls),
        };
        let service = BindSessions::new(inner, Arc::new(LocalSessionManager::default()));
        let request = Request::post("http://localhost/mcp")
            .body(String::new())
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    /// The binding is ready when the service it wraps is, not before, and shows what it
    /// holds without a session id or a subject.
    #[tokio::test(start_paused = true)]
    async fn sessions_are_bound_by_a_service_ready_only_when_the_inner_one_is() {
        use super::NeverReady;
        let sessions = Arc::new(LocalSessionManager::default());
        let mut bound = BindSessions::new(NeverReady, sessions).prune_above(7);
        let ready = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            tower::ServiceExt::<Request<String>>::ready(&mut bound),
        )
        .await;
        assert!(ready.is_err(), "bound sessions ready before the service");
        let shown = format!("{bound:?}");
        assert!(
            shown.starts_with("BindSessions { inner: NeverReady, bound: 0, prune_above: 7"),
            "{shown}"
        );
    }

    #[test]
    fn the_metadata_service_shows_the_paths_it_answers() {
        let shown = format!("{:?}", hs256().build().unwrap().metadata_service());
        assert!(shown.starts_with("MetadataService {"), "{shown}");
        assert!(
            shown.contains("/.well-known/oauth-protected-resource/mcp"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn past_the_threshold_closed_sessions_are_forgotten_and_open_ones_kept() {
        use rmcp::transport::streamable_http_server::session::SessionManager as _;

        let sessions = Arc::new(LocalSessionManager::default());
        let (open, _transport) = sessions.create_session().await.unwrap();
        let ids = ["closed-1", "closed-2", &open].map(str::to_owned);
        let inner = StandIn::opening(ids);
        let bound = BindSessions::new(inner, sessions).prune_above(2);
        for created in 1..=3 {
            let mut request = Request::post("http://localhost/mcp")
                .body(String::new())
                .unwrap();
            request
                .extensions_mut()
                .insert(crate::Principal::new("ada"));
            bound.clone().oneshot(request).await.unwrap();
            if created == 2 {
                // At the threshold, not above it: nothing is pruned.
                for _ in 0..100 {
                    tokio::task::yield_now().await;
                }
                assert_eq!(bound.bound(), 2, "pruned at the threshold");
            }
        }
        // The third binding started the pruning task: let it run.
        for _ in 0..1000 {
            if bound.bound() < 3 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(bound.bound(), 1, "only the open session stays bound");

        // Its binding holds: another subject is refused.
        let mut request = Request::post("http://localhost/mcp")
            .header("mcp-session-id", &*open)
            .body(String::new())
            .unwrap();
        request
            .extensions_mut()
            .insert(crate::Principal::new("bob"));
        let response = bound.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    /// A stand-in for the MCP service: it answers with the status it is set to (200 at
    /// first), opens a session of the next of its ids for each request that names none,
    /// and counts its copies.
    struct StandIn {
        ids: Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
        status: Arc<std::sync::atomic::AtomicU16>,
        copies: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl StandIn {
        fn opening(ids: impl IntoIterator<Item = String>) -> Self {
            Self {
                ids: Arc::new(std::sync::Mutex::new(ids.into_iter().collect())),
                status: Arc::new(std::sync::atomic::AtomicU16::new(200)),
                copies: Arc::default(),
            }
        }
    }

    impl Clone for StandIn {
        fn clone(&self) -> Self {
            self.copies
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Self {
                ids: Arc::clone(&self.ids),
                status: Arc::clone(&self.status),
                copies: Arc::clone(&self.copies),
            }
        }
    }

    impl tower_service::Service<Request<String>> for StandIn {
        type Response = http::Response<String>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<http::Response<String>, Self::Error>>;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<String>) -> Self::Future {
            let status = self.status.load(std::sync::atomic::Ordering::SeqCst);
            let mut response = http::Response::builder().status(status);
            if !request.headers().contains_key("mcp-session-id") {
                let id = self.ids.lock().unwrap().pop_front();
                response = response.header("mcp-session-id", id.expect("an id to hand out"));
            }
            std::future::ready(Ok(response.body(String::new()).unwrap()))
        }
    }

    /// Each request is handed to the service made ready, not to a copy of it; a session
    /// is forgotten only when its owner's `DELETE` succeeded.
    #[tokio::test]
    async fn the_service_made_ready_is_called_and_a_failed_close_keeps_the_owner() {
        use tower_service::Service as _;

        let inner = StandIn::opening(["s-1".to_owned()]);
        let (status, copies) = (Arc::clone(&inner.status), Arc::clone(&inner.copies));
        let mut bound = BindSessions::new(inner, Arc::new(LocalSessionManager::default()));
        let request = |method: http::Method, session: Option<&str>| {
            let mut request = Request::builder()
                .method(method)
                .uri("http://localhost/mcp");
            if let Some(session) = session {
                request = request.header("mcp-session-id", session);
            }
            let mut request = request.body(String::new()).unwrap();
            request
                .extensions_mut()
                .insert(crate::Principal::new("ada"));
            request
        };
        // Made ready, then called: as a server drives a service.
        async fn send(
            bound: &mut BindSessions<StandIn, LocalSessionManager>,
            request: Request<String>,
        ) -> StatusCode {
            let ready = tower::ServiceExt::<Request<String>>::ready(bound)
                .await
                .unwrap();
            ready.call(request).await.unwrap().status()
        }

        let opening = request(http::Method::POST, None);
        assert_eq!(send(&mut bound, opening).await, StatusCode::OK);
        let in_session = request(http::Method::POST, Some("s-1"));
        assert_eq!(send(&mut bound, in_session).await, StatusCode::OK);
        status.store(500, std::sync::atomic::Ordering::SeqCst);
        let failed_close = request(http::Method::DELETE, Some("s-1"));
        let failed = send(&mut bound, failed_close).await;
        assert_eq!(failed, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(bound.bound(), 1, "a close that failed forgot the session");
        status.store(200, std::sync::atomic::Ordering::SeqCst);
        let close = request(http::Method::DELETE, Some("s-1"));
        assert_eq!(send(&mut bound, close).await, StatusCode::OK);
        assert_eq!(bound.bound(), 0, "a close that succeeded kept the session");
        assert_eq!(copies.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}

#[test]
fn a_configured_jwk_set_holds_hmac_secrets_of_at_least_32_bytes() {
    let set = |len: usize| {
        let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vec![7_u8; len]);
        json!({ "keys": [{ "kty": "oct", "kid": "s", "k": k }] }).to_string()
    };
    let error = VerificationKey::from_jwks(&set(31), "jwks.json").unwrap_err();
    assert_eq!(
        error.to_string(),
        "jwks.json: key `s` is an HMAC secret shorter than 32 bytes"
    );
    for len in [32, 33] {
        let keys = VerificationKey::from_jwks(&set(len), "jwks.json").unwrap();
        assert_eq!(keys.len(), 1, "a secret of {len} bytes");
        assert_eq!(keys[0].kid(), Some("s"));
    }
}

#[test]
fn a_jwk_set_logs_the_keys_it_left_out_only_when_it_left_some_out() {
    let log = Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET);
    let signing = json!({ "kty": "oct", "kid": "sig", "k": secret });
    let set = json!({ "keys": [signing] }).to_string();
    assert_eq!(
        VerificationKey::from_jwks(&set, "jwks.json").unwrap().len(),
        1
    );
    assert!(!log.text().contains("left out"), "{}", log.text());
    let encryption = json!({ "kty": "oct", "kid": "enc", "use": "enc", "k": secret });
    let set = json!({ "keys": [signing, encryption] }).to_string();
    assert_eq!(
        VerificationKey::from_jwks(&set, "jwks.json").unwrap().len(),
        1
    );
    let text = log.text();
    assert!(
        text.contains("keys of the JWK set left out") && text.contains("left_out=1 kept=1"),
        "{text}"
    );
}

#[test]
fn a_key_shows_its_id_algorithm_and_family_and_no_key_material() {
    let key = VerificationKey::hmac_secret(SECRET).unwrap().with_kid("k1");
    let shown = format!("{key:?}");
    assert!(shown.starts_with("VerificationKey {"), "{shown}");
    assert!(
        shown.contains("\"k1\"") && shown.contains("algorithm") && shown.contains("Hmac"),
        "{shown}"
    );
    assert!(!shown.contains("test-only secret"), "{shown}");
}

/// A verified caller carries what is left of its token's life (with the leeway): what
/// outlives the request (a subscription, a listen stream) ends with the token. From the
/// cache of verified tokens too.
#[tokio::test(start_paused = true)]
async fn a_caller_is_valid_for_what_is_left_of_its_token() {
    use std::time::Duration;
    let auth = hs256().leeway(Duration::from_secs(5)).build().unwrap();
    let now = get_current_timestamp();
    let token = hs_token(&with(claims(), "exp", json!(now + 100)));
    let start = tokio::time::Instant::now();
    let until = Some(start + Duration::from_secs(105));
    let verified = authenticate_at(&auth, &token, now).unwrap();
    assert_eq!(verified.valid_until(), until);
    // Fifty seconds on, from the cache: the same end.
    tokio::time::advance(Duration::from_secs(50)).await;
    let cached = authenticate_at(&auth, &token, now + 50).unwrap();
    assert_eq!(cached.valid_until(), until);
    tokio::time::advance(Duration::from_secs(54)).await;
    assert!(!cached.has_expired());
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(cached.has_expired() && verified.has_expired());
}

#[test]
fn scopes_are_separated_by_spaces_only_and_each_is_one_scope() {
    let auth = hs256().build().unwrap();
    let now = get_current_timestamp();
    let scopes_of = |claims: Value| {
        authenticate_at(&auth, &hs_token(&claims), now)
            .map(|principal| principal.scopes().map(str::to_owned).collect::<Vec<_>>())
    };
    // Spaces separate, however many.
    let spaced = with(claims(), "scope", json!("notes:read  notes:write "));
    assert_eq!(scopes_of(spaced).unwrap(), ["notes:read", "notes:write"]);
    // Any other whitespace, or a character no scope holds, makes the token invalid: not
    // two scopes a lenient reader would grant.
    for scope in [
        "notes:read\tnotes:write",
        "notes:read\nnotes:write",
        "a\"b",
        "a\\b",
    ] {
        let rejection = scopes_of(with(claims(), "scope", json!(scope))).unwrap_err();
        assert!(
            matches!(rejection, Rejection::InvalidToken(_)),
            "{scope:?}: {rejection:?}"
        );
    }
    // An array's item is one scope: one with a space is not.
    let scp = with(
        without(claims(), "scope"),
        "scp",
        json!(["notes:read notes:write"]),
    );
    let rejection = scopes_of(scp).unwrap_err();
    assert!(
        matches!(rejection, Rejection::InvalidToken(_)),
        "{rejection:?}"
    );
}

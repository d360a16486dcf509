//! The OpenID provider of the tests (`support::oidc`: panva's `oidc-provider` 9 on Node.js
//! 22, `tests/e2e/oidc/provider.mjs`), exercised on its own, before any test relies on it:
//! it starts on loopback with key A, issues JWT access tokens (RFC 9068) for a resource
//! with the client-credentials grant, serves discovery and its public keys, and rotates
//! its keys in place ([B, A], then [B]) and across a restart on the same port.
//!
//! Needs what `support::oidc::setup` needs: `node` and `npm` (18 or newer) and, on a first
//! run, the npm registry; without them it is skipped with a message, except under `CI`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use secure_tool_tests::support::oidc::{self, Provider, decode_unverified};
use serde_json::Value;

/// The MCP server the tokens are for (nothing listens there: only the `aud` matters).
const RESOURCE: &str = "http://127.0.0.1:9/mcp";
/// Private members of an RSA JWK, none of which may be published.
const PRIVATE: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

#[test]
fn the_openid_provider_issues_jwt_access_tokens_and_rotates_its_keys() {
    let Some(setup) = oidc::setup() else {
        return;
    };

    let started = Instant::now();
    let keys = setup.keys(&["key-a", "key-b", "key-c"]);
    let generation = started.elapsed();
    let (a, b, c) = (&keys[0], &keys[1], &keys[2]);
    for key in &keys {
        let public = key.public_jwk();
        assert!(PRIVATE.iter().all(|member| public.get(member).is_none()));
        assert!(key.private_jwk().get("d").is_some());
    }

    let started = Instant::now();
    let mut provider = Provider::start(&setup, std::slice::from_ref(a));
    let startup = started.elapsed();
    let issuer = provider.issuer();
    assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");
    assert!(!issuer.ends_with('/'), "{issuer}");

    // Discovery, at both well-known paths.
    let discovery = provider.discovery();
    assert_eq!(discovery["issuer"], issuer.as_str());
    assert_eq!(discovery["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(discovery["token_endpoint"], format!("{issuer}/token"));
    assert!(
        discovery["grant_types_supported"]
            .as_array()
            .is_some_and(|grants| grants.iter().any(|grant| grant == "client_credentials")),
        "{discovery}"
    );
    let rfc8414 = provider.get("/.well-known/oauth-authorization-server");
    assert_eq!(rfc8414.status, 200, "{rfc8414:?}");
    assert_eq!(
        rfc8414.json(),
        discovery,
        "the two discovery documents differ"
    );
    assert_eq!(jwks_kids(&provider), ["key-a"]);

    // A token for the resource, with one scope the provider does not grant.
    let started = Instant::now();
    let token = provider.token(RESOURCE, "notes:read notes:write other");
    let first_token = started.elapsed();
    let (header, claims) = decode_unverified(&token);
    eprintln!("token header: {header}\ntoken claims: {claims}");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], "key-a");
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["scope"], "notes:read notes:write");
    assert_eq!(claims["sub"], oidc::CLIENT_ID);
    assert_eq!(claims["client_id"], oidc::CLIENT_ID);
    assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    let iat = claims["iat"].as_u64().expect("iat is a number");
    let exp = claims["exp"].as_u64().expect("exp is a number");
    assert!(iat.abs_diff(now) <= 5, "iat {iat}, now {now}");
    assert_eq!(exp - iat, oidc::ACCESS_TOKEN_TTL);
    verify(&provider, &token);

    // Only what is asked of what is allowed; nothing asked, no scope.
    let (_, claims) = decode_unverified(&provider.token(RESOURCE, "notes:read"));
    assert_eq!(claims["scope"], "notes:read");
    let (_, claims) = decode_unverified(&provider.token(RESOURCE, ""));
    assert!(claims.get("scope").is_none(), "{claims}");
    // Without a resource indicator the token is opaque (not for a resource server).
    let opaque = provider.token_request(&[("scope", "notes:read")]);
    assert_eq!(opaque.status, 200, "{opaque:?}");
    let opaque = opaque.json()["access_token"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(!opaque.is_empty() && !opaque.contains('.'), "{opaque}");

    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        provider.token(RESOURCE, "notes:read");
    }
    let per_token = started.elapsed() / rounds;

    // Rotation in place: [B, A] signs with B and publishes both; then [B].
    let started = Instant::now();
    provider.rotate(&[b.clone(), a.clone()]);
    let reload = started.elapsed();
    assert_eq!(provider.issuer(), issuer);
    assert_eq!(jwks_kids(&provider), ["key-b", "key-a"]);
    let token_b = provider.token(RESOURCE, "notes:write");
    assert_eq!(decode_unverified(&token_b).0["kid"], "key-b");
    verify(&provider, &token_b);
    verify(&provider, &token);

    provider.rotate(std::slice::from_ref(b));
    assert_eq!(jwks_kids(&provider), ["key-b"]);
    let token_b = provider.token(RESOURCE, "notes:write");
    assert_eq!(decode_unverified(&token_b).0["kid"], "key-b");
    verify(&provider, &token_b);
    let published: JwkSet = serde_json::from_value(provider.jwks()).expect("a JWK Set");
    assert!(
        published.find("key-a").is_none(),
        "key A is still published"
    );

    // A restart on the same port and issuer, with [C, B].
    let started = Instant::now();
    provider.restart(&[c.clone(), b.clone()]);
    let restart = started.elapsed();
    assert_eq!(provider.issuer(), issuer);
    assert_eq!(jwks_kids(&provider), ["key-c", "key-b"]);
    let token_c = provider.token(RESOURCE, "notes:read");
    assert_eq!(decode_unverified(&token_c).0["kid"], "key-c");
    verify(&provider, &token_c);
    assert_eq!(provider.kids(), ["key-c", "key-b"]);

    let started = Instant::now();
    drop(provider);
    let shutdown = started.elapsed();
    eprintln!(
        "oidc provider: 3 RSA keys generated in {}, started in {}, first token in {}, \
         {} per token over {rounds}, key reload in {}, restart in {}, exit in {}",
        ms(generation),
        ms(startup),
        ms(first_token),
        ms(per_token),
        ms(reload),
        ms(restart),
        ms(shutdown)
    );
}

/// The kids `/jwks` publishes, in order, after checking that it publishes public keys only.
fn jwks_kids(provider: &Provider) -> Vec<String> {
    let jwks = provider.jwks();
    let keys = jwks["keys"].as_array().expect("a JWK Set");
    keys.iter()
        .map(|key| {
            for member in PRIVATE {
                assert!(
                    key.get(member).is_none(),
                    "/jwks publishes `{member}`: {key}"
                );
            }
            assert_eq!(key["kty"], "RSA");
            assert_eq!(key["alg"], "RS256");
            assert_eq!(key["use"], "sig");
            key["kid"].as_str().expect("a kid").to_owned()
        })
        .collect()
}

/// Verifies `token`'s signature with the key of its kid in the published JWK Set, its
/// issuer and its audience.
fn verify(provider: &Provider, token: &str) {
    let jwks: JwkSet = serde_json::from_value(provider.jwks()).expect("a JWK Set");
    let kid = decode_header(token)
        .expect("a JWT header")
        .kid
        .expect("a kid");
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("{kid} is not published"));
    let key = DecodingKey::from_jwk(jwk).expect("an RSA public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[provider.issuer()]);
    validation.set_audience(&[RESOURCE]);
    decode::<Value>(token, &key, &validation)
        .unwrap_or_else(|error| panic!("the token of {kid} does not verify: {error}"));
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

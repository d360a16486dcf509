//! Keys from the issuer: discovery, refresh on a schedule and on demand, the cooldown, the
//! last good set, no keys yet; on a paused clock with a scripted issuer, then over real
//! HTTP on loopback.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, StatusCode, Uri};
use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Value, json};
use tower::{Service, ServiceExt, service_fn};

use super::MAX_WAITING;
use super::fetch::{Fetch, FetchFuture, Fetched};
use crate::authz::Principal;
use crate::oauth::keys::Keys;
use crate::oauth::{Algorithm, BearerAuth, BearerAuthBuilder};

const ISSUER: &str = "https://auth.example.com/tenant";
const AUDIENCE: &str = "https://mcp.example.com/mcp";
const RFC8414: &str = "https://auth.example.com/.well-known/oauth-authorization-server/tenant";
const OIDC_INSERTED: &str = "https://auth.example.com/.well-known/openid-configuration/tenant";
const OIDC_APPENDED: &str = "https://auth.example.com/tenant/.well-known/openid-configuration";
const JWKS_URL: &str = "https://keys.example.com/jwks.json";

const RSA_PRIVATE: &str = include_str!("../../../tests/fixtures/oauth/test-only-rsa-private.pem");
const FIXTURE_JWKS: &str = include_str!("../../../tests/fixtures/oauth/test-only-jwks.json");

/// The fixture's RSA public key as a JWK named `kid`.
fn rsa_jwk(kid: &str) -> Value {
    let set: Value = serde_json::from_str(FIXTURE_JWKS).unwrap();
    let mut key = set["keys"][0].clone();
    key["kid"] = json!(kid);
    key
}

fn jwks(kids: &[&str]) -> String {
    json!({ "keys": kids.iter().map(|kid| rsa_jwk(kid)).collect::<Vec<_>>() }).to_string()
}

fn metadata(issuer: &str) -> String {
    json!({ "issuer": issuer, "jwks_uri": JWKS_URL, "token_endpoint": "https://auth.example.com/token" })
        .to_string()
}

fn token(kid: &str) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let claims = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "ada",
        "exp": get_current_timestamp() + 300,
    });
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// An issuer whose answers the test sets, counting what is asked.
#[derive(Clone, Default)]
struct Scripted {
    answers: Arc<Mutex<HashMap<String, (StatusCode, String)>>>,
    asked: Arc<Mutex<Vec<String>>>,
    /// Answers never come (a hung issuer).
    hung: Arc<std::sync::atomic::AtomicBool>,
}

impl Scripted {
    fn answer(&self, url: &str, status: StatusCode, body: impl Into<String>) {
        self.answers
            .lock()
            .unwrap()
            .insert(url.to_owned(), (status, body.into()));
    }

    /// A discoverable issuer (RFC 8414) publishing keys `kids`.
    fn publishing(kids: &[&str]) -> Self {
        let issuer = Self::default();
        issuer.answer(RFC8414, StatusCode::OK, metadata(ISSUER));
        issuer.answer(JWKS_URL, StatusCode::OK, jwks(kids));
        issuer
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    fn jwks_fetches(&self) -> usize {
        self.asked().iter().filter(|url| *url == JWKS_URL).count()
    }
}

impl Fetch for Scripted {
    fn get<'a>(&'a self, url: &'a Uri, limit: usize) -> FetchFuture<'a> {
        Box::pin(async move {
            self.asked.lock().unwrap().push(url.to_string());
            if self.hung.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            let answer = self.answers.lock().unwrap().get(&url.to_string()).cloned();
            match answer {
                Some((status, body)) if body.len() <= limit => Ok(Fetched {
                    status,
                    body: if status == StatusCode::OK {
                        body.into_bytes()
                    } else {
                        Vec::new()
                    },
                }),
                Some(_) => Err(format!("{url} is longer than {limit} bytes")),
                None => Ok(Fetched {
                    status: StatusCode::NOT_FOUND,
                    body: Vec::new(),
                }),
            }
        })
    }
}

fn builder() -> BearerAuthBuilder {
    BearerAuth::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .keys_from_issuer()
        .algorithms([Algorithm::RS256])
        .key_refresh(Duration::from_secs(600))
        .key_refresh_cooldown(Duration::from_secs(30))
        .key_fetch_timeout(Duration::from_secs(5))
}

fn auth(issuer: &Scripted) -> BearerAuth {
    builder().fetch_with(issuer.clone()).build().unwrap()
}

/// What a request with `token` is answered, and the subject the inner service saw.
async fn call(auth: &BearerAuth, token: &str) -> (StatusCode, Option<String>) {
    let inner = service_fn(|request: Request<String>| async move {
        let subject = request
            .extensions()
            .get::<Principal>()
            .and_then(|principal| principal.subject().map(str::to_owned));
        let mut response = Response::new(String::new());
        response.extensions_mut().insert(subject);
        Ok::<_, Infallible>(response)
    });
    let request = Request::post("/mcp")
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .unwrap();
    let response = auth.layer(inner).oneshot(request).await.unwrap();
    let subject = response
        .extensions()
        .get::<Option<String>>()
        .cloned()
        .flatten();
    (response.status(), subject)
}

#[tokio::test(start_paused = true)]
async fn keys_are_discovered_in_the_specified_order_and_verify_tokens() {
    let issuer = Scripted::default();
    issuer.answer(OIDC_APPENDED, StatusCode::OK, metadata(ISSUER));
    issuer.answer(JWKS_URL, StatusCode::OK, jwks(&["k1"]));
    let auth = auth(&issuer);
    assert!(auth.wait_for_keys(Duration::from_secs(5)).await);
    assert_eq!(
        issuer.asked(),
        [RFC8414, OIDC_INSERTED, OIDC_APPENDED, JWKS_URL]
    );
    assert_eq!(
        call(&auth, &token("k1")).await,
        (StatusCode::OK, Some("ada".into()))
    );
}

#[test]
fn an_issuer_without_a_path_is_looked_up_at_the_root() {
    let urls: Vec<String> = super::discovery_urls("https://auth.example.com/")
        .unwrap()
        .iter()
        .map(Uri::to_string)
        .collect();
    assert_eq!(
        urls,
        [
            "https://auth.example.com/.well-known/oauth-authorization-server",
            "https://auth.example.com/.well-known/openid-configuration",
        ]
    );
    assert!(super::discovery_urls("https://auth.example.com/?tenant=1").is_err());
    assert!(super::discovery_urls("https://auth.example.com/tenant#x").is_err());
    assert!(super::discovery_urls("http://auth.example.com").is_err());
}

#[tokio::test(start_paused = true)]
async fn metadata_naming_another_issuer_gives_no_keys_and_no_request_through() {
    let issuer = Scripted::default();
    issuer.answer(
        RFC8414,
        StatusCode::OK,
        metadata("https://evil.example.com/tenant"),
    );
    issuer.answer(JWKS_URL, StatusCode::OK, jwks(&["k1"]));
    let auth = auth(&issuer);
    assert!(!auth.wait_for_keys(Duration::from_secs(5)).await);
    assert!(
        !issuer.asked().contains(&JWKS_URL.to_owned()),
        "{:?}",
        issuer.asked()
    );
    let (status, subject) = call(&auth, &token("k1")).await;
    assert_eq!((status, subject), (StatusCode::SERVICE_UNAVAILABLE, None));
}

#[tokio::test(start_paused = true)]
async fn an_issuer_that_never_answered_gets_requests_answered_503_never_accepted() {
    let issuer = Scripted::publishing(&["k1"]);
    issuer.hung.store(true, Ordering::SeqCst);
    let auth = auth(&issuer);
    let started = tokio::time::Instant::now();
    let (status, subject) = call(&auth, &token("k1")).await;
    assert_eq!((status, subject), (StatusCode::SERVICE_UNAVAILABLE, None));
    // The request waited for the first refresh, at most four fetch timeouts (three
    // discovery URLs and the set).
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    assert!(!auth.keys_ready());
}

#[tokio::test(start_paused = true)]
async fn at_most_256_requests_wait_for_a_refresh_the_others_are_answered_at_once() {
    let issuer = Scripted::publishing(&["k1"]);
    issuer.hung.store(true, Ordering::SeqCst);
    let auth = auth(&issuer);
    let started = tokio::time::Instant::now();
    let calls = (0..300).map(|_| {
        let auth = auth.clone();
        async move {
            let status = call(&auth, &token("k1")).await.0;
            (status, started.elapsed())
        }
    });
    let answers = futures::future::join_all(calls).await;
    let at_once = answers.iter().filter(|(_, after)| after.is_zero()).count();
    assert_eq!(at_once, 44, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == StatusCode::SERVICE_UNAVAILABLE)
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_during_a_scheduled_refresh_waits_for_it() {
    let issuer = Scripted::publishing(&["k1"]);
    let auth = auth(&issuer);
    assert!(auth.wait_for_keys(Duration::from_secs(5)).await);
    // A token with a new kid makes a refresh, which fails: its retry comes 1 s later.
    issuer.answer(JWKS_URL, StatusCode::INTERNAL_SERVER_ERROR, "");
    assert_eq!(call(&auth, &token("k2")).await.0, StatusCode::UNAUTHORIZED);
    // The retry begins and hangs. Within the cooldown of the first request's refresh, a
    // second one waits for the retry under way rather than being answered at once.
    issuer.hung.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let started = tokio::time::Instant::now();
    let _ = call(&auth, &token("k2")).await;
    assert!(!started.elapsed().is_zero(), "answered without waiting");
}

#[tokio::test(start_paused = true)]
async fn a_request_that_stops_waiting_gives_its_place_back() {
    let issuer = Scripted::publishing(&["k1"]);
    issuer.hung.store(true, Ordering::SeqCst);
    let auth = auth(&issuer);
    let Keys::Issuer(keys) = &auth.config.keys else {
        panic!("keys from the issuer")
    };
    // The first fetch hangs: every request waits for it, up to the limit.
    let mut waiting: Vec<_> = (0..MAX_WAITING)
        .map(|_| keys.refresh_now().expect("a place to wait"))
        .collect();
    assert!(keys.refresh_now().is_none(), "no place left");
    assert!(
        keys.refresh_now().is_none(),
        "a refused request takes no place"
    );
    drop(waiting.pop());
    assert!(keys.refresh_now().is_some(), "the place given back");
}

#[test]
fn keys_of_a_runtime_that_shut_down_are_not_waited_for() {
    let issuer = Scripted::publishing(&["k1"]);
    issuer.hung.store(true, Ordering::SeqCst);
    let paused = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
    };
    let first = paused();
    let auth = first.block_on(async { auth(&issuer) });
    drop(first);
    let log = crate::test_log::Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    paused().block_on(async {
        let started = tokio::time::Instant::now();
        for _ in 0..3 {
            assert_eq!(
                call(&auth, &token("k1")).await.0,
                StatusCode::SERVICE_UNAVAILABLE
            );
        }
        assert!(started.elapsed().is_zero(), "{:?}", started.elapsed());
    });
    // Said once, however many requests come.
    assert_eq!(log.text().matches("is gone").count(), 1, "{}", log.text());
}

#[tokio::test(start_paused = true)]
async fn discovery_goes_on_past_a_url_that_fails_and_keeps_https_issuers_on_https() {
    let issuer = Scripted::default();
    // The first URL answers nothing usable (over the metadata limit), the second names a
    // plain-HTTP key set: refused for an HTTPS issuer.
    issuer.answer(RFC8414, StatusCode::OK, " ".repeat(70 * 1024));
    let plain = json!({ "issuer": ISSUER, "jwks_uri": "http://127.0.0.1:9/jwks" });
    issuer.answer(OIDC_INSERTED, StatusCode::OK, plain.to_string());
    let auth = auth(&issuer);
    assert!(!auth.wait_for_keys(Duration::from_secs(5)).await);
    assert!(
        issuer.asked().contains(&OIDC_INSERTED.to_owned()),
        "{:?}",
        issuer.asked()
    );
    assert!(
        !issuer.asked().iter().any(|url| url.starts_with("http://")),
        "{:?}",
        issuer.asked()
    );
    // The same document naming the HTTPS set: keys.
    issuer.answer(OIDC_INSERTED, StatusCode::OK, metadata(ISSUER));
    issuer.answer(JWKS_URL, StatusCode::OK, jwks(&["k1"]));
    assert!(auth.wait_for_keys(Duration::from_secs(120)).await);
    assert_eq!(call(&auth, &token("k1")).await.0, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_token_with_a_new_kid_makes_the_set_fetched_at_once_and_goes_through() {
    let issuer = Scripted::publishing(&["k1"]);
    let auth = auth(&issuer);
    assert!(auth.wait_for_keys(Duration::from_secs(5)).await);
    assert_eq!(issuer.jwks_fetches(), 1);

    // The issuer rotates: the new key signs, the old one is still published.
    issuer.answer(JWKS_URL, StatusCode::OK, jwks(&["k2", "k1"]));
    let started = tokio::time::Instant::now();
    assert_eq!(
        call(&auth, &token("k2")).await,
        (StatusCode::OK, Some("ada".into()))
    );
    // Answered as soon as the set came, not at the end of the wait's bound.
    assert!(started.elapsed().is_zero(), "{:?}", started.elapsed());
    assert_eq!(issuer.jwks_fetches(), 2);
    assert_eq!(call(&auth, &token("k1")).await.0, StatusCode::OK);

    // The old key is removed: at the next scheduled refresh, its tokens are refused.
    issuer.answer(JWKS_URL, StatusCode::OK, jwks(&["k2"]));
    tokio::time::sleep(Duration::from_secs(601)).await;
    assert_eq!(issuer.jwks_fetches(), 3);
    assert_eq!(call(&auth, &token("k1")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&auth, &token("k2")).await.0, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_token_verified_before_is_verified_again_with_each_new_set() {
    let issuer = Scripted::publishing(&["k1", "k2"]);
    let auth = auth(&issuer);
    assert!(auth.wait_for_keys(Duration::from_secs(5)).await);
    let token = token("k1");
    assert_eq!(call(&auth, &token).await.0, StatusCode::OK);
    assert_eq!(call(&auth, &token).await.0, StatusCode::OK);

    // Its key leaves the set: the same token, remembered as valid, is refused.
    issuer.answer(JWKS_URL, StatusCode::OK, jwks(&["k2"]));
    tokio::time::sleep(Duration::from_secs(601)).await;
    assert_eq!(issuer.jwks_fetches(), 2);
    assert_eq!(call(&auth, &token).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test(start_paused = true)]
async fn made_up_kids_refresh_the_set_at_most_once_per_cooldown() {
    let issuer = Scripted::publishing(&["k1"]);
    let auth = auth(&issuer);
    assert!(auth.wait_for_keys(Duration::from_secs(5)).await);

    for attempt in 0..50 {
        let (status, _) = call(&auth, &token(&format!("made-up-{attempt}"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        issuer.jwks_fetches(),
        2,
        "one refresh for fifty unknown kids"
    );

    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        call(&auth, &token("made-up-again")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(issuer.jwks_fetches(), 3, "one more after the cooldown");
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_keeps_the_last_good_set_and_is_retried_with_backoff() {
    let issuer = Scripted::publishing(&["k1"]);
    let auth = auth(&issuer);
    assert!(auth.wait_for_keys(Duration::from_secs(5)).await);

    // The scheduled refresh at 600 s fails.
    issuer.answer(JWKS_URL, StatusCode::INTERNAL_SERVER_ERROR, "");
    tokio::time::sleep(Duration::from_millis(600_500)).await;
    assert_eq!(issuer.jwks_fetches(), 2);
    assert_eq!(call(&auth, &token("k1")).await.0, StatusCode::OK);

    // After a failure the JWK set's URL is discovered again, 1 s, then 2 s, then 4 s later.
    let discoveries = || issuer.asked().iter().filter(|url| *url == RFC8414).count();
    assert_eq!(discoveries(), 1);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!((discoveries(), issuer.jwks_fetches()), (2, 3));
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!((discoveries(), issuer.jwks_fetches()), (3, 4));
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert_eq!(issuer.jwks_fetches(), 4, "the third retry waits 4 s");

    // A set with no usable key is a failure too: the last good set stays.
    issuer.answer(
        JWKS_URL,
        StatusCode::OK,
        json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "kid": "k1" }] })
            .to_string(),
    );
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(issuer.jwks_fetches(), 5);
    assert_eq!(call(&auth, &token("k1")).await.0, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_bad_key_in_the_published_set_does_not_take_the_others_down() {
    let log = crate::test_log::Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    let issuer = Scripted::default();
    issuer.answer(RFC8414, StatusCode::OK, metadata(ISSUER));
    let mut broken = rsa_jwk("broken");
    broken["n"] = json!("!!not base64!!");
    let secret = json!({ "kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA" });
    let mut encryption = rsa_jwk("encryption");
    encryption["use"] = json!("enc");
    let mut oaep = rsa_jwk("oaep");
    oaep["alg"] = json!("RSA-OAEP");
    issuer.answer(
        JWKS_URL,
        StatusCode::OK,
        json!({ "keys": [broken, secret, encryption, oaep, rsa_jwk("k1")] }).to_string(),
    );
    let auth = auth(&issuer);
    assert!(auth.wait_for_keys(Duration::from_secs(5)).await);
    assert_eq!(call(&auth, &token("k1")).await.0, StatusCode::OK);
    // One line says how many were left out, the published secret among them.
    let text = log.text();
    assert!(
        text.contains("keys of the JWK set left out") && text.contains("left_out=4 kept=1"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_refresh_task_ends_with_the_configuration() {
    let issuer = Scripted::publishing(&["k1"]);
    let auth = auth(&issuer);
    assert!(auth.wait_for_keys(Duration::from_secs(5)).await);
    drop(auth);
    tokio::time::sleep(Duration::from_secs(3_600)).await;
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn remote_keys_are_one_source_with_public_key_algorithms() {
    let mixed = builder()
        .hmac_secret(b"0123456789abcdef0123456789abcdef")
        .build()
        .unwrap_err();
    assert!(mixed.to_string().contains("only source of keys"), "{mixed}");
    let hmac = builder()
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap_err();
    assert!(hmac.to_string().contains("public keys only"), "{hmac}");
    let zero = builder().key_refresh(Duration::ZERO).build().unwrap_err();
    assert!(zero.to_string().contains("key_refresh"), "{zero}");
    let url = BearerAuth::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .jwks_url("http://keys.example.com/jwks")
        .algorithms([Algorithm::RS256])
        .build()
        .unwrap_err();
    assert!(url.to_string().contains("plain HTTP"), "{url}");
}

#[test]
fn keys_from_the_issuer_need_a_runtime() {
    let error = builder().build().unwrap_err();
    assert!(error.to_string().contains("Tokio runtime"), "{error}");
}

/// The real fetcher against a real HTTP server on loopback: discovery, the key set, its
/// size limit, and no redirect followed.
#[tokio::test]
async fn keys_are_fetched_over_http_from_a_loopback_issuer() {
    use axum::Router;
    use axum::routing::get;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{base}/tenant");
    let document = json!({ "issuer": issuer, "jwks_uri": format!("{base}/jwks") }).to_string();
    let set = Arc::new(Mutex::new(jwks(&["k1"])));
    let fetches = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/.well-known/oauth-authorization-server/tenant",
            get(move || std::future::ready(document.clone())),
        )
        .route(
            "/jwks",
            get({
                let set = Arc::clone(&set);
                let fetches = Arc::clone(&fetches);
                move || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    std::future::ready(set.lock().unwrap().clone())
                }
            }),
        )
        .route(
            "/moved",
            get(|| std::future::ready((StatusCode::FOUND, [("location", "/jwks")], ""))),
        )
        .route(
            "/huge",
            get(|| std::future::ready(" ".repeat(300 * 1024) + &jwks(&["k1"]))),
        );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let auth = BearerAuth::builder()
        .issuer(&issuer)
        .audience(AUDIENCE)
        .keys_from_issuer()
        .algorithms([Algorithm::RS256])
        .build()
        .unwrap();
    assert!(auth.wait_for_keys(Duration::from_secs(10)).await);
    let token_for = |kid: &str| {
        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        let claims = json!({ "iss": issuer, "aud": AUDIENCE, "sub": "ada", "exp": get_current_timestamp() + 300 });
        encode(
            &header,
            &claims,
            &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(call(&auth, &token_for("k1")).await.0, StatusCode::OK);
    *set.lock().unwrap() = jwks(&["k2"]);
    assert_eq!(call(&auth, &token_for("k2")).await.0, StatusCode::OK);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);

    for (path, what) in [("/moved", "a redirect"), ("/huge", "a set over 256 KiB")] {
        let auth = BearerAuth::builder()
            .issuer(&issuer)
            .audience(AUDIENCE)
            .jwks_url(format!("{base}{path}"))
            .algorithms([Algorithm::RS256])
            .key_fetch_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut layer = auth.layer(service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        }));
        let request = Request::post("/mcp")
            .header("authorization", format!("Bearer {}", token_for("k1")))
            .body(String::new())
            .unwrap();
        let response = layer.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert!(!auth.keys_ready(), "{what}");
    }
    server.abort();
}

/// An inner service with room for one request, reserved in `poll_ready` (as tower's
/// concurrency limits and buffers do); a clone holds no reservation.
struct OneAtATime {
    room: Arc<tokio::sync::Semaphore>,
    reserved: Option<tokio::sync::OwnedSemaphorePermit>,
    reserving: Option<
        std::pin::Pin<
            Box<dyn std::future::Future<Output = tokio::sync::OwnedSemaphorePermit> + Send>,
        >,
    >,
}

impl Clone for OneAtATime {
    fn clone(&self) -> Self {
        Self {
            room: Arc::clone(&self.room),
            reserved: None,
            reserving: None,
        }
    }
}

impl Service<Request<String>> for OneAtATime {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        if self.reserved.is_none() {
            let room = Arc::clone(&self.room);
            let reserving = self.reserving.get_or_insert_with(|| {
                Box::pin(async move { room.acquire_owned().await.unwrap() })
            });
            let permit = std::task::ready!(reserving.as_mut().poll(cx));
            self.reserving = None;
            self.reserved = Some(permit);
        }
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        let permit = self.reserved.take().expect("polled ready");
        drop(permit);
        std::future::ready(Ok(Response::new(String::new())))
    }
}

/// A request waiting for a refresh holds no room of the inner service: another request,
/// with a known key, goes through meanwhile.
#[tokio::test(start_paused = true)]
async fn a_request_waiting_for_keys_holds_no_room_of_the_inner_service() {
    let issuer = Scripted::publishing(&["k1"]);
    let auth = auth(&issuer);
    assert!(auth.wait_for_keys(Duration::from_secs(5)).await);
    issuer.hung.store(true, Ordering::SeqCst);
    let service = auth.layer(OneAtATime {
        room: Arc::new(tokio::sync::Semaphore::new(1)),
        reserved: None,
        reserving: None,
    });
    let request = |kid: &str| {
        Request::post("/mcp")
            .header("authorization", format!("Bearer {}", token(kid)))
            .body(String::new())
            .unwrap()
    };
    let started = tokio::time::Instant::now();
    let waiting = tokio::spawn(service.clone().oneshot(request("rotated")));
    tokio::task::yield_now().await;
    let known = service.clone().oneshot(request("k1")).await.unwrap();
    assert_eq!(known.status(), StatusCode::OK);
    assert!(started.elapsed().is_zero(), "{:?}", started.elapsed());
    let waited = waiting.await.unwrap().unwrap();
    assert_eq!(waited.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(started.elapsed(), Duration::from_secs(20));
}

#[test]
fn the_defaults_are_those_documented() {
    use crate::oauth::{
        DEFAULT_KEY_FETCH_TIMEOUT, DEFAULT_KEY_REFRESH, DEFAULT_KEY_REFRESH_COOLDOWN,
    };
    assert_eq!(DEFAULT_KEY_REFRESH, Duration::from_secs(600));
    assert_eq!(DEFAULT_KEY_REFRESH_COOLDOWN, Duration::from_secs(30));
    assert_eq!(DEFAULT_KEY_FETCH_TIMEOUT, Duration::from_secs(5));
}

/// A metadata document up to 64 KiB and a key set up to 256 KiB are read; more is not.
#[tokio::test(start_paused = true)]
async fn documents_up_to_their_limits_are_read() {
    let issuer = Scripted::default();
    let padded = |json: String, bytes: usize| format!("{json}{}", " ".repeat(bytes - json.len()));
    issuer.answer(RFC8414, StatusCode::OK, padded(metadata(ISSUER), 64 * 1024));
    issuer.answer(JWKS_URL, StatusCode::OK, padded(jwks(&["k1"]), 256 * 1024));
    let auth = auth(&issuer);
    assert!(auth.wait_for_keys(Duration::from_secs(5)).await);
    assert_eq!(call(&auth, &token("k1")).await.0, StatusCode::OK);
}

/// At most 64 keys of a set are kept: the first 64.
#[tokio::test(start_paused = true)]
async fn at_most_64_keys_of_a_set_are_kept() {
    let kids: Vec<String> = (0..70).map(|n| format!("k{n}")).collect();
    let kids: Vec<&str> = kids.iter().map(String::as_str).collect();
    let log = crate::test_log::Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    for (published, kept) in [(&kids[..64], true), (&kids[..], false)] {
        let issuer = Scripted::default();
        issuer.answer(RFC8414, StatusCode::OK, metadata(ISSUER));
        issuer.answer(JWKS_URL, StatusCode::OK, jwks(published));
        let auth = auth(&issuer);
        assert!(auth.wait_for_keys(Duration::from_secs(5)).await);
        assert_eq!(call(&auth, &token("k63")).await.0, StatusCode::OK);
        let last = published.last().unwrap();
        let status = call(&auth, &token(last)).await.0;
        assert_eq!(status == StatusCode::OK, kept, "{last}");
        assert_eq!(log.text().contains("more keys than are kept"), !kept);
    }
}

/// A refresh that brings the same set says so at debug level; a new set at info level.
#[tokio::test(start_paused = true)]
async fn an_unchanged_set_is_not_announced_again() {
    let log = crate::test_log::Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    let issuer = Scripted::publishing(&["k1"]);
    let auth = auth(&issuer);
    assert!(auth.wait_for_keys(Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_secs(601)).await;
    assert_eq!(issuer.jwks_fetches(), 2);
    let text = log.text();
    assert_eq!(
        text.matches("fetched the issuer's key set").count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("the issuer's key set is unchanged").count(),
        1,
        "{text}"
    );
    assert!(format!("{auth:?}").contains("Discovered"), "{auth:?}");

    // After a failed refresh, the same set fetched again is announced: the keys are back.
    issuer.answer(JWKS_URL, StatusCode::INTERNAL_SERVER_ERROR, "");
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(issuer.jwks_fetches(), 3);
    issuer.answer(JWKS_URL, StatusCode::OK, jwks(&["k1"]));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(issuer.jwks_fetches(), 4);
    let text = log.text();
    assert_eq!(
        text.matches("fetched the issuer's key set").count(),
        2,
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn discovery_goes_on_past_a_url_that_answers_ok_with_no_usable_metadata() {
    // A catch-all page, then metadata without a `jwks_uri` (optional in RFC 8414): each is
    // one more URL that failed; the OpenID document after them has the keys.
    for first in [
        "<html>welcome</html>".to_owned(),
        json!({ "issuer": ISSUER }).to_string(),
    ] {
        let issuer = Scripted::default();
        issuer.answer(RFC8414, StatusCode::OK, first.clone());
        issuer.answer(OIDC_INSERTED, StatusCode::OK, metadata(ISSUER));
        issuer.answer(JWKS_URL, StatusCode::OK, jwks(&["k1"]));
        let auth = auth(&issuer);
        assert!(auth.wait_for_keys(Duration::from_secs(5)).await, "{first}");
        assert_eq!(call(&auth, &token("k1")).await.0, StatusCode::OK, "{first}");
    }
}

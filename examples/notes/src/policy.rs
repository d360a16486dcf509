//! A remote policy service: an HTTP endpoint that decides who may call a tool, asked by a
//! custom [`Authorize`] policy.
//!
//! `delete_note` is for administrators, or for whoever the policy service named by
//! `--policy-url` (or `NOTES_POLICY_URL`) allows (say, a note's owner, by rules that live
//! outside this server). The service gets one `POST` per decision with a JSON body naming
//! the caller, the tool and the call's arguments (which note; `null` for a call without
//! any), never the caller's token:
//!
//! ```json
//! {"subject": "ada", "scopes": ["notes:read"], "roles": [], "tool": "delete_note", "mode": "write", "arguments": {"id": 1}}
//! ```
//!
//! and answers `200` with `{"decision": "allow"}` or `{"decision": "deny"}`. Anything else
//! denies: another status, a body that is not that JSON (or longer than 64 KiB), an unknown
//! decision, a refused connection, and a service slower than the server's authorization
//! deadline (2 s), which the runtime enforces around every policy. Without a policy
//! service the policy abstains, which denies: only administrators delete.
//!
//! The policy is built where the tool is declared (`authz = ...`), with no server in
//! reach: the command line names the service once, with [`RemotePolicy::configure`],
//! before the server is built, and [`RemotePolicy::configured`] asks it.
//!
//! The client is hyper's, plain HTTP: a policy service is a sidecar next to the server (an
//! OPA or Cedar agent on loopback, for instance), not something to reach across networks.

use std::sync::OnceLock;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secure_tool::authz::{AccessRequest, Authorize, Decision, PolicyFuture};
use serde::Deserialize;

/// The variable naming the policy service's endpoint, e.g. `http://127.0.0.1:8181/notes`:
/// the fallback of `--policy-url`.
pub const POLICY_URL_VAR: &str = "NOTES_POLICY_URL";

/// The policy service the command line names, once set.
static CONFIGURED: OnceLock<Option<Uri>> = OnceLock::new();

/// The longest answer read from the policy service.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Asks an HTTP policy service; see the [module](self) docs.
pub struct RemotePolicy {
    endpoint: Endpoint,
    client: Client<HttpConnector, Full<Bytes>>,
}

enum Endpoint {
    /// No service configured: abstain.
    None,
    Url(Uri),
    /// A configuration that cannot work: every decision is an error (a denial).
    Invalid(String),
}

impl RemotePolicy {
    /// The policy service the command line named ([`configure`](Self::configure)), or
    /// none: what `delete_note` asks.
    pub fn configured() -> Self {
        let endpoint = match CONFIGURED.get() {
            Some(Some(uri)) => Endpoint::Url(uri.clone()),
            Some(None) | None => Endpoint::None,
        };
        Self::with_endpoint(endpoint)
    }

    /// The endpoint of a policy service: `url`, given by `source` (the flag or the
    /// variable), as an `http://` URL; none for none, or for an empty `url`.
    ///
    /// # Errors
    ///
    /// What is wrong with `url`, naming `source`.
    pub fn endpoint(url: Option<&str>, source: &str) -> Result<Option<Uri>, String> {
        let url = url.map(str::trim).filter(|url| !url.is_empty());
        url.map(|url| {
            parse_endpoint(url).map_err(|why| format!("{source} {url:?} is not usable: {why}"))
        })
        .transpose()
    }

    /// Names the policy service that [`configured`](Self::configured) policies ask, or
    /// none: once per process, before the server is built.
    ///
    /// # Errors
    ///
    /// Another service is configured already.
    pub fn configure(endpoint: Option<Uri>) -> Result<(), String> {
        if *CONFIGURED.get_or_init(|| endpoint.clone()) != endpoint {
            return Err("another policy service is configured already".to_owned());
        }
        Ok(())
    }

    /// The policy service at `endpoint` (an `http://` URL), or none.
    pub fn new(endpoint: Option<&str>) -> Self {
        let endpoint = match endpoint.map(str::trim).filter(|url| !url.is_empty()) {
            None => Endpoint::None,
            Some(url) => match parse_endpoint(url) {
                Ok(uri) => Endpoint::Url(uri),
                Err(why) => Endpoint::Invalid(format!("{url:?} is not usable: {why}")),
            },
        };
        Self::with_endpoint(endpoint)
    }

    fn with_endpoint(endpoint: Endpoint) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(1)));
        connector.set_nodelay(true);
        Self {
            endpoint,
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    async fn ask(&self, endpoint: &Uri, request: AccessRequest<'_>) -> Result<Decision, String> {
        let principal = request.principal;
        let question = serde_json::json!({
            "subject": principal.subject(),
            "scopes": principal.scopes().collect::<Vec<_>>(),
            "roles": principal.roles().collect::<Vec<_>>(),
            "tool": request.tool,
            "mode": request.mode.as_str(),
            // Which note: an allow is for this call's, never for every note.
            "arguments": request.arguments,
        });
        let json = HeaderValue::from_static("application/json");
        let mut http_request = Request::new(Full::new(Bytes::from(question.to_string())));
        *http_request.method_mut() = Method::POST;
        *http_request.uri_mut() = endpoint.clone();
        http_request
            .headers_mut()
            .insert(CONTENT_TYPE, json.clone());
        http_request.headers_mut().insert(ACCEPT, json);

        let response = self
            .client
            .request(http_request)
            .await
            .map_err(|e| format!("the policy service at {endpoint} did not answer: {e:#}"))?;
        let status = response.status();
        if status != StatusCode::OK {
            return Err(format!(
                "the policy service at {endpoint} answered {status}"
            ));
        }
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| format!("cannot read the policy service's answer: {e}"))?
            .to_bytes();
        #[derive(Deserialize)]
        struct Answer {
            decision: String,
        }
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            format!("the policy service's answer is not {{\"decision\": ...}}: {e}")
        })?;
        match answer.decision.as_str() {
            "allow" => Ok(Decision::Allow),
            "deny" => Ok(Decision::Deny),
            other => Err(format!(
                "the policy service answered the unknown decision {other:?}"
            )),
        }
    }
}

impl Authorize for RemotePolicy {
    fn authorize<'a>(&'a self, request: AccessRequest<'a>) -> PolicyFuture<'a> {
        Box::pin(async move {
            match &self.endpoint {
                Endpoint::None => Ok(Decision::Abstain),
                Endpoint::Invalid(error) => Err(error.clone().into()),
                Endpoint::Url(endpoint) => Ok(self.ask(endpoint, request).await?),
            }
        })
    }

    fn describe(&self) -> String {
        format!("remote policy service (${POLICY_URL_VAR})")
    }
}

/// `url` as the endpoint of a policy service, or why not.
fn parse_endpoint(url: &str) -> Result<Uri, &'static str> {
    let uri: Uri = url.parse().map_err(|_| "it does not parse as a URL")?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(
            "expected an http:// URL of a policy service next to this server, e.g. \
             http://127.0.0.1:8181/notes",
        );
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Instant;

    use axum::Router;
    use axum::body::Body;
    use axum::http::Response;
    use axum::routing::post;
    use secure_tool::authz::{DenialCause, Mode, Policy, Principal, any_of, custom, roles};
    use serde_json::Value;

    use super::*;

    const DEADLINE: Duration = Duration::from_millis(300);

    fn json(body: impl Into<Body>) -> Response<Body> {
        Response::builder()
            .header(CONTENT_TYPE, "application/json")
            .body(body.into())
            .unwrap()
    }

    /// A real policy service on loopback, with one path per behaviour.
    async fn policy_service() -> SocketAddr {
        let app = Router::new()
            .route(
                "/owners",
                post(|body: Bytes| async move {
                    let question: Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(question["tool"], "delete_note");
                    assert_eq!(question["mode"], "write");
                    // Ada owns note 1, and no other.
                    if question["subject"] == "ada" && question["arguments"]["id"] == 1 {
                        json(r#"{"decision": "allow"}"#)
                    } else {
                        json(r#"{"decision": "deny"}"#)
                    }
                }),
            )
            .route(
                "/error",
                post(|| async {
                    Response::builder()
                        .status(StatusCode::INTERNAL_SERVER_ERROR)
                        .body(Body::from("policy engine crashed"))
                        .unwrap()
                }),
            )
            .route("/hang", post(std::future::pending::<Response<Body>>))
            .route("/garbage", post(|| async { json("<html>allow</html>") }))
            .route(
                "/unknown",
                post(|| async { json(r#"{"decision": "yes"}"#) }),
            )
            .route(
                "/huge",
                post(|| async {
                    let padding = "x".repeat(MAX_ANSWER_BYTES);
                    json(format!(
                        r#"{{"decision": "allow", "padding": "{padding}"}}"#
                    ))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        address
    }

    /// `delete_note`'s policy, with the service at `url`.
    fn delete_policy(url: Option<&str>) -> Policy {
        any_of([roles("admin"), custom(RemotePolicy::new(url))])
    }

    /// The decision on `principal` deleting note 1.
    async fn decide(policy: &Policy, principal: &Principal) -> Result<(), DenialCause> {
        decide_on(policy, principal, 1).await
    }

    /// The decision on `principal` deleting note `id`.
    async fn decide_on(policy: &Policy, principal: &Principal, id: u64) -> Result<(), DenialCause> {
        let arguments = serde_json::Map::from_iter([("id".to_owned(), id.into())]);
        policy
            .evaluate(
                AccessRequest::new("delete_note", Mode::Write, principal)
                    .with_arguments(&arguments),
                DEADLINE,
            )
            .await
    }

    fn ada() -> Principal {
        Principal::new("ada").with_scopes(["notes:read", "notes:write"])
    }

    #[tokio::test]
    async fn the_service_decides_for_non_admins_and_admins_need_no_service() {
        let service = policy_service().await;
        let policy = delete_policy(Some(&format!("http://{service}/owners")));
        assert_eq!(decide(&policy, &ada()).await, Ok(()));
        assert_eq!(
            decide(&policy, &Principal::new("bob")).await,
            Err(DenialCause::Denied)
        );
        // The service is told which note: an allow for ada's is not one for another's.
        assert_eq!(
            decide_on(&policy, &ada(), 2).await,
            Err(DenialCause::Denied)
        );
        // An admin is allowed before the service is asked, even a hanging one.
        let hanging = delete_policy(Some(&format!("http://{service}/hang")));
        let admin = Principal::new("root").with_roles(["admin"]);
        assert_eq!(decide(&hanging, &admin).await, Ok(()));
    }

    #[tokio::test]
    async fn failures_garbage_and_slowness_of_the_service_deny() {
        let service = policy_service().await;
        let refused = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        for (path, expected) in [
            ("error", "answered 500 Internal Server Error"),
            ("garbage", "is not {\"decision\": ...}"),
            ("unknown", "unknown decision \"yes\""),
            ("huge", "cannot read the policy service's answer"),
        ] {
            let policy = delete_policy(Some(&format!("http://{service}/{path}")));
            match decide(&policy, &ada()).await {
                Err(DenialCause::PolicyError(error)) => {
                    assert!(error.contains(expected), "/{path}: {error}");
                }
                other => panic!("/{path}: expected a policy error, got {other:?}"),
            }
        }
        let policy = delete_policy(Some(&format!("http://{refused}/owners")));
        assert!(
            matches!(decide(&policy, &ada()).await, Err(DenialCause::PolicyError(e)) if e.contains("did not answer")),
            "a refused connection denies"
        );

        let policy = delete_policy(Some(&format!("http://{service}/hang")));
        let started = Instant::now();
        assert_eq!(
            decide(&policy, &ada()).await,
            Err(DenialCause::DeadlineExceeded(DEADLINE))
        );
        assert!(
            started.elapsed() < DEADLINE * 5,
            "a hanging service is cut off at the deadline, not waited for ({:?})",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn without_a_service_only_admins_delete_and_a_bad_url_denies() {
        assert_eq!(
            decide(&delete_policy(None), &ada()).await,
            Err(DenialCause::Abstained)
        );
        let policy = delete_policy(Some("https://policy.example.com/notes"));
        assert!(matches!(
            decide(&policy, &ada()).await,
            Err(DenialCause::PolicyError(e)) if e.contains("expected an http:// URL")
        ));
        assert_eq!(
            delete_policy(None).to_string(),
            "any of (roles: admin; custom: remote policy service ($NOTES_POLICY_URL))"
        );
    }

    #[test]
    fn an_endpoint_is_an_http_url_named_by_its_source() {
        assert_eq!(RemotePolicy::endpoint(None, "--policy-url"), Ok(None));
        assert_eq!(RemotePolicy::endpoint(Some(" "), POLICY_URL_VAR), Ok(None));
        let uri = RemotePolicy::endpoint(Some(" http://127.0.0.1:8181/notes "), "--policy-url");
        assert_eq!(uri.unwrap().unwrap(), "http://127.0.0.1:8181/notes");
        assert_eq!(
            RemotePolicy::endpoint(Some("http://"), POLICY_URL_VAR).unwrap_err(),
            "NOTES_POLICY_URL \"http://\" is not usable: it does not parse as a URL"
        );
    }

    #[tokio::test]
    async fn the_configured_service_is_the_one_the_tools_ask() {
        // The service is process-wide: this test has a process of its own.
        if !crate::cli::in_a_child_process(
            module_path!(),
            "the_configured_service_is_the_one_the_tools_ask",
            &[],
        ) {
            return;
        }
        assert_eq!(
            decide(&any_of([custom(RemotePolicy::configured())]), &ada()).await,
            Err(DenialCause::Abstained),
            "none configured yet"
        );
        let service = policy_service().await;
        let owners: Uri = format!("http://{service}/owners").parse().unwrap();
        RemotePolicy::configure(Some(owners.clone())).unwrap();
        RemotePolicy::configure(Some(owners)).unwrap();
        let other = format!("http://{service}/error").parse().unwrap();
        assert_eq!(
            RemotePolicy::configure(Some(other)).unwrap_err(),
            "another policy service is configured already"
        );
        let policy = any_of([roles("admin"), custom(RemotePolicy::configured())]);
        assert_eq!(decide(&policy, &ada()).await, Ok(()));
        assert_eq!(
            decide(&policy, &Principal::new("bob")).await,
            Err(DenialCause::Denied)
        );
    }
}

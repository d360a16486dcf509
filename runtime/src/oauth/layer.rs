//! The tower middleware in front of the MCP service: [`RequireBearer`] refuses requests from
//! browser origins that are not allowed, lets through only authenticated requests, without
//! their `Authorization` header, and answers the others with the `WWW-Authenticate`
//! challenges of RFC 6750.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};

#[cfg(feature = "oauth-issuer")]
use super::keys::Keys;
use super::origin::Refusal;
use super::verify::Rejection;
use super::{BearerAuth, Config, ConfigError};
use crate::util::LogSafe;

const INVALID_TOKEN_DESCRIPTION: &str = "The access token is not valid";
const INVALID_REQUEST_DESCRIPTION: &str = "The request carries more than one Authorization header";
const INSUFFICIENT_SCOPE_DESCRIPTION: &str = "The access token lacks a scope this server requires";

/// The [`Service`](tower_service::Service) of [`BearerAuth`]: lets through only requests with
/// a valid bearer token, and no `Origin` or an allowed one, with their [`Principal`] in the
/// extensions and without their `Authorization` header.
///
/// The answers, all with an empty body; all but the first with a `WWW-Authenticate`
/// challenge naming the protected resource metadata document:
///
/// | request | status | challenge |
/// |---|---|---|
/// | an `Origin` header that is not [allowed](super::BearerAuthBuilder::allowed_origins) (another origin, `null`, not an origin, more than one `Origin` header), whatever its token: checked first | `403` | none |
/// | no `Authorization` header, or another scheme (`Basic`) | `401` | `Bearer resource_metadata="…"` and `scope="…"`: the scopes to ask for first (the required scopes, else `scopes_supported`; omitted if there are none) |
/// | a token that does not verify (malformed, bad signature, wrong `iss` or `aud`, `iss` not a string, expired, not yet valid, no `exp`, `iat` in the future or not a number, living longer than the [maximum](super::BearerAuthBuilder::max_token_lifetime), a `typ` other than `at+jwt`, `application/at+jwt` or `JWT`, disallowed `alg`, unknown `kid`, bad claims) | `401` | `error="invalid_token"` with a generic `error_description` |
/// | more than one `Authorization` header | `400` | `error="invalid_request"` |
/// | a valid token without the [required scopes](super::BearerAuthBuilder::required_scopes) | `403` | `error="insufficient_scope"`, `scope="…"` |
///
/// The client learns nothing of why it was refused; the reason goes to `tracing` at
/// `warn` (target `secure_tool::oauth`), without the token, and with a refused `Origin`
/// cut and escaped.
///
/// [`Principal`]: crate::authz::Principal
pub struct RequireBearer<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> RequireBearer<S> {
    pub(super) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }
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
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Before the token: a page of another origin gets nothing, not even a challenge.
        if let Err(refusal) = self.config.allowed_origins.check(request.headers()) {
            return ResponseFuture::rejected(refuse_origin(&refusal));
        }
        match self.config.authenticate(request.headers()) {
            Ok(principal) => ResponseFuture::inner(pass(&mut self.inner, request, principal)),
            Err(rejection) => match self.config.refresh_for(&rejection) {
                Some(refreshed) => {
                    // A clone waits with the request, and is polled ready after the wait:
                    // the service polled ready now stays for the next request, so that a
                    // request that waits holds no capacity the inner service reserved.
                    let inner = self.inner.clone();
                    ResponseFuture::waiting(refreshed, inner, request, Arc::clone(&self.config))
                }
                None => ResponseFuture::rejected(self.config.reject(rejection)),
            },
        }
    }
}

/// Hands an authenticated request to `inner`: the principal in, the token out.
fn pass<S, ReqBody>(
    inner: &mut S,
    mut request: Request<ReqBody>,
    principal: crate::authz::Principal,
) -> S::Future
where
    S: tower_service::Service<Request<ReqBody>>,
{
    request.headers_mut().remove(header::AUTHORIZATION);
    request.extensions_mut().insert(principal);
    inner.call(request)
}

impl<S> tower_layer::Layer<S> for BearerAuth {
    type Service = RequireBearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth::layer(self, inner)
    }
}

/// The answer to a request from an origin that is not allowed: `403`, no header, no body.
fn refuse_origin<B: Default>(refusal: &Refusal) -> Response<B> {
    tracing::warn!(target: "secure_tool::oauth", reason = %refusal, "refused a request from an origin that is not allowed");
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

impl Config {
    /// A refresh of the issuer's keys to wait for before answering: the token names a key
    /// the set lacks, or there is no set yet.
    fn refresh_for(&self, rejection: &Rejection) -> Option<Refresh> {
        match (rejection, &self.keys) {
            #[cfg(feature = "oauth-issuer")]
            (Rejection::UnknownKey(_) | Rejection::KeysUnavailable, Keys::Issuer(issuer)) => {
                let refreshed = issuer.refresh_now()?;
                Some(Box::pin(refreshed.wait()))
            }
            _ => None,
        }
    }

    fn reject<B: Default>(&self, rejection: Rejection) -> Response<B> {
        let (status, challenge) = match rejection {
            Rejection::KeysUnavailable => {
                tracing::warn!(target: "secure_tool::oauth", "no key set from the issuer yet: a request with a token was answered 503");
                let mut response = Response::new(B::default());
                *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                return response;
            }
            Rejection::UnknownKey(reason) => {
                tracing::warn!(target: "secure_tool::oauth", reason = %LogSafe::new(&reason, 512), "rejected a bearer token");
                (StatusCode::UNAUTHORIZED, &self.challenges.invalid_token)
            }
            Rejection::Missing => {
                tracing::debug!(target: "secure_tool::oauth", "request without a bearer token");
                (StatusCode::UNAUTHORIZED, &self.challenges.missing)
            }
            Rejection::Ambiguous => {
                tracing::warn!(target: "secure_tool::oauth", "rejected a request with more than one Authorization header");
                (StatusCode::BAD_REQUEST, &self.challenges.invalid_request)
            }
            Rejection::InvalidToken(reason) => {
                tracing::warn!(target: "secure_tool::oauth", reason = %LogSafe::new(&reason, 512), "rejected a bearer token");
                (StatusCode::UNAUTHORIZED, &self.challenges.invalid_token)
            }
            Rejection::InsufficientScope { subject, missing } => {
                tracing::warn!(
                    target: "secure_tool::oauth",
                    subject = %LogSafe::new(&subject, 256),
                    %missing,
                    "rejected a bearer token without the required scopes"
                );
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

/// A wait for the issuer's keys, before a request is verified again.
type Refresh = Pin<Box<dyn Future<Output = ()> + Send>>;

pin_project_lite::pin_project! {
    /// The response future of [`RequireBearer`].
    pub struct ResponseFuture<S, ReqBody, ResBody>
    where
        S: tower_service::Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, ResBody>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, ResBody>
    where
        S: tower_service::Service<Request<ReqBody>>,
    {
        Inner { #[pin] future: S::Future },
        Rejected { response: Option<Response<ResBody>> },
        /// Waiting for the issuer's keys; then the request is verified again.
        Waiting {
            refresh: Refresh,
            retry: Option<(S, Request<ReqBody>, Arc<Config>)>,
        },
        /// Verified after the wait: the service is polled ready, then called.
        Ready {
            inner: S,
            request: Option<(Request<ReqBody>, crate::authz::Principal)>,
        },
    }
}

impl<S, ReqBody, ResBody> ResponseFuture<S, ReqBody, ResBody>
where
    S: tower_service::Service<Request<ReqBody>>,
{
    fn inner(future: S::Future) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    fn rejected(response: Response<ResBody>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }

    fn waiting(refresh: Refresh, inner: S, request: Request<ReqBody>, config: Arc<Config>) -> Self {
        Self {
            state: State::Waiting {
                refresh,
                retry: Some((inner, request, config)),
            },
        }
    }
}

impl<S, ReqBody, ResBody> fmt::Debug for ResponseFuture<S, ReqBody, ResBody>
where
    S: tower_service::Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody, ResBody>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Inner { future } => return future.poll(cx),
                StateProj::Rejected { response } => {
                    return Poll::Ready(Ok(response
                        .take()
                        .expect("`ResponseFuture` polled after it completed")));
                }
                StateProj::Waiting { refresh, retry } => {
                    std::task::ready!(refresh.as_mut().poll(cx));
                    let (inner, request, config) = retry
                        .take()
                        .expect("`ResponseFuture` polled after it completed");
                    match config.authenticate(request.headers()) {
                        Ok(principal) => State::Ready {
                            inner,
                            request: Some((request, principal)),
                        },
                        Err(rejection) => State::Rejected {
                            response: Some(config.reject(rejection)),
                        },
                    }
                }
                StateProj::Ready { inner, request } => {
                    std::task::ready!(inner.poll_ready(cx))?;
                    let (request, principal) = request
                        .take()
                        .expect("`ResponseFuture` polled after it completed");
                    State::Inner {
                        future: pass(inner, request, principal),
                    }
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}

/// The `WWW-Authenticate` values, computed once from the configuration.
pub(super) struct Challenges {
    missing: HeaderValue,
    invalid_token: HeaderValue,
    invalid_request: HeaderValue,
    insufficient_scope: HeaderValue,
}

impl Challenges {
    /// The challenges naming `metadata_url`. The `401` one, to a request without a token,
    /// names the scopes to ask for first (the MCP authorization specification's scope
    /// selection): `required_scopes`, or else `scopes_supported` (never `offline_access`).
    pub(super) fn new(
        metadata_url: &str,
        required_scopes: &[String],
        scopes_supported: &[String],
    ) -> Result<Self, ConfigError> {
        let base = format!("Bearer resource_metadata=\"{metadata_url}\"");
        let scope = required_scopes.join(" ");
        let first = if required_scopes.is_empty() {
            scopes_supported
        } else {
            required_scopes
        };
        let first: Vec<&str> = first
            .iter()
            .map(String::as_str)
            .filter(|scope| *scope != super::OFFLINE_ACCESS)
            .collect();
        let scope_hint = if first.is_empty() {
            String::new()
        } else {
            format!(", scope=\"{}\"", first.join(" "))
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

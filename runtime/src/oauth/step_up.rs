//! Step-up authorization (MCP authorization, "Scope Challenge Handling"): a caller whose
//! valid token lacks the scopes an operation's policy requires gets `403` with an
//! `insufficient_scope` challenge naming every scope the operation needs, so that its
//! client can ask for them and retry.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine as _;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full, Limited};

use super::{BearerAuth, Config};
use crate::authz::Principal;
use crate::util::LogSafe;

/// The most of a request body read to find the operation: rmcp's own limit (4 MiB).
const MAX_BODY: usize = 4 * 1024 * 1024;
const INSUFFICIENT_SCOPE_DESCRIPTION: &str =
    "The access token lacks a scope this operation requires";

/// An MCP operation a request asks for, as far as step-up cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation<'a> {
    /// `tools/call` of the tool named.
    CallTool(&'a str),
    /// `prompts/get` of the prompt named.
    GetPrompt(&'a str),
    /// `resources/read` of the URI.
    ReadResource(&'a str),
}

impl<'a> Operation<'a> {
    /// The operation of a JSON-RPC method and its name (`params.name`, or `params.uri` for
    /// `resources/read`); `None` for any other method.
    ///
    /// ```
    /// use secure_tool::oauth::Operation;
    ///
    /// assert_eq!(Operation::of("tools/call", "create_note"), Some(Operation::CallTool("create_note")));
    /// assert_eq!(Operation::of("tools/list", ""), None);
    /// ```
    pub fn of(method: &str, name: &'a str) -> Option<Self> {
        match method {
            "tools/call" => Some(Self::CallTool(name)),
            "prompts/get" => Some(Self::GetPrompt(name)),
            "resources/read" => Some(Self::ReadResource(name)),
            _ => None,
        }
    }
}

/// What decides which scopes an operation needs: implemented by
/// [`SecureServer`](crate::SecureServer), from each tool's, prompt's and resource's policy
/// (and the server's) with [`Policy::scope_challenge`](crate::authz::Policy::scope_challenge).
pub trait ScopeChallenge: Send + Sync + 'static {
    /// Every scope `principal` needs for `operation`, when scopes are all it lacks; `None`
    /// when the operation's policy would not be met by scopes alone (roles, a custom
    /// policy), when nothing is missing, or when there is no such operation.
    fn scope_challenge(
        &self,
        operation: Operation<'_>,
        principal: &Principal,
    ) -> Option<Vec<String>>;

    /// Whether some operation could ask `principal` to step up: `false` only when no
    /// [`scope_challenge`](Self::scope_challenge) of any operation can be `Some` for it
    /// (it holds every scope there is to ask for). The layer then hands a 2025-11-25
    /// request on without reading its body. The default, `true`, reads every body.
    ///
    /// ```
    /// use secure_tool::authz::Principal;
    /// use secure_tool::oauth::{Operation, ScopeChallenge};
    ///
    /// struct Never;
    /// impl ScopeChallenge for Never {
    ///     fn scope_challenge(&self, _: Operation<'_>, _: &Principal) -> Option<Vec<String>> {
    ///         None
    ///     }
    /// }
    /// assert!(Never.may_challenge(&Principal::new("ada")));
    /// ```
    fn may_challenge(&self, _principal: &Principal) -> bool {
        true
    }
}

/// The service of [`BearerAuth::step_up`]: answers `403 insufficient_scope` before an
/// operation whose scopes the caller's token lacks, and hands every other request on.
///
/// Inside [`RequireBearer`](super::RequireBearer) (it reads the caller's
/// [`Principal`]). A 2026-07-28 request names its operation in its `Mcp-Method` and
/// `Mcp-Name` headers (which rmcp checks against the body); a 2025-11-25 request's body is
/// read (at most 4 MiB, rmcp's own limit) and handed on whole, unless the caller holds
/// every scope there is to ask for ([`ScopeChallenge::may_challenge`]).
pub struct StepUp<S> {
    inner: S,
    challenges: Arc<dyn ScopeChallenge>,
    config: Arc<Config>,
}

impl<S: Clone> Clone for StepUp<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            challenges: Arc::clone(&self.challenges),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for StepUp<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepUp")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl BearerAuth {
    /// Wraps `inner` (the MCP service) so that a caller whose token lacks the scopes of the
    /// operation it asks for gets `403` with `WWW-Authenticate: Bearer
    /// error="insufficient_scope", scope="<every scope the operation needs>",
    /// resource_metadata="…"`, and can re-authorize: the MCP step-up flow. Operations whose
    /// policies scopes cannot satisfy (roles, custom policies) keep their generic denial, in
    /// the MCP answer. Put it inside the bearer layer: `auth.layer(auth.step_up(mcp,
    /// server.clone()))`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use http::{Request, Response, StatusCode};
    /// use secure_tool::Principal;
    /// use secure_tool::oauth::{Algorithm, BearerAuth, Operation, ScopeChallenge};
    /// use tower::{ServiceExt, service_fn};
    ///
    /// /// `deploy` needs `ops:deploy`.
    /// struct Deploy;
    /// impl ScopeChallenge for Deploy {
    ///     fn scope_challenge(&self, op: Operation<'_>, caller: &Principal) -> Option<Vec<String>> {
    ///         let needed = op == Operation::CallTool("deploy") && !caller.has_scope("ops:deploy");
    ///         needed.then(|| vec!["ops:deploy".to_owned()])
    ///     }
    /// }
    ///
    /// let auth = BearerAuth::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .hmac_secret(b"0123456789abcdef0123456789abcdef")
    ///     .algorithms([Algorithm::HS256])
    ///     .build()?;
    /// let mcp = service_fn(|_: Request<_>| async { Ok::<_, std::convert::Infallible>(Response::new(String::new())) });
    /// let service = auth.step_up(mcp, Deploy);
    ///
    /// let mut call = Request::post("/mcp")
    ///     .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deploy"}}"#.to_owned())?;
    /// call.extensions_mut().insert(Principal::new("ada").with_scopes(["ops:read"]));
    /// let response = service.oneshot(call).await?;
    /// assert_eq!(response.status(), StatusCode::FORBIDDEN);
    /// assert!(response.headers()["www-authenticate"].to_str()?.contains(r#"scope="ops:deploy""#));
    /// # Ok(())
    /// # }
    /// ```
    pub fn step_up<S>(&self, inner: S, challenges: impl ScopeChallenge) -> StepUp<S> {
        StepUp {
            inner,
            challenges: Arc::new(challenges),
            config: Arc::clone(&self.config),
        }
    }
}

/// The request body [`StepUp`] hands on: the original one, or the one it read.
pub type StepUpBody<B> = Either<B, Full<bytes::Bytes>>;

/// The response future of [`StepUp`].
pub type StepUpFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B, ResBody> tower_service::Service<Request<B>> for StepUp<S>
where
    S: tower_service::Service<Request<StepUpBody<B>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    S::Error: Send,
    B: Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = StepUpFuture<Response<ResBody>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Only a POST carries an operation, and only a caller the bearer layer let in can
        // be asked to step up.
        if request.method() != Method::POST {
            return Box::pin(self.inner.call(request.map(Either::Left)));
        }
        // A caller that holds every scope there is to ask for is asked for none: its
        // request goes on as it came, its body unread.
        if !request
            .extensions()
            .get::<Principal>()
            .is_some_and(|principal| self.challenges.may_challenge(principal))
        {
            return Box::pin(self.inner.call(request.map(Either::Left)));
        }
        if let Some((method, name)) = named_in_headers(request.headers()) {
            let challenge = Operation::of(&method, &name)
                .and_then(|operation| {
                    self.challenges
                        .scope_challenge(operation, request.extensions().get::<Principal>()?)
                })
                .and_then(|scopes| self.config.step_up(&scopes));
            if let Some(answer) = challenge {
                return Box::pin(std::future::ready(Ok(answer)));
            }
            return Box::pin(self.inner.call(request.map(Either::Left)));
        }
        // The body is read first: a clone goes with it, polled ready once it is in, so that
        // a slow body holds no capacity the inner service reserved.
        let mut inner = self.inner.clone();
        let challenges = Arc::clone(&self.challenges);
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = match Limited::new(body, MAX_BODY).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(error) => {
                    let too_large = error.is::<http_body_util::LengthLimitError>();
                    tracing::debug!(target: "secure_tool::oauth", error = %LogSafe::new(&error.to_string(), 256), "could not read a request body");
                    let mut response = Response::new(ResBody::default());
                    *response.status_mut() = if too_large {
                        StatusCode::PAYLOAD_TOO_LARGE
                    } else {
                        StatusCode::BAD_REQUEST
                    };
                    return Ok(response);
                }
            };
            let challenge = parts.extensions.get::<Principal>().and_then(|principal| {
                let message: Peek<'_> = serde_json::from_slice(&bytes).ok()?;
                let params = message.params?;
                let name = if message.method == "resources/read" {
                    params.uri
                } else {
                    params.name
                }?;
                let operation = Operation::of(&message.method, &name)?;
                challenges.scope_challenge(operation, principal)
            });
            if let Some(answer) = challenge.and_then(|scopes| config.step_up(&scopes)) {
                return Ok(answer);
            }
            futures::future::poll_fn(|cx| inner.poll_ready(cx)).await?;
            inner
                .call(Request::from_parts(parts, Either::Right(Full::new(bytes))))
                .await
        })
    }
}

/// What step-up reads of a JSON-RPC request: its method, and the name (or URI) its
/// parameters give. The rest (the arguments) is skipped, not built.
#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    method: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    params: Option<PeekParams<'a>>,
}

#[derive(serde::Deserialize)]
struct PeekParams<'a> {
    #[serde(borrow)]
    name: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    uri: Option<std::borrow::Cow<'a, str>>,
}

/// The method and name a 2026-07-28 request's `Mcp-Method` and `Mcp-Name` headers give
/// (the name decoded from its `=?base64?…?=` form), if it has both.
fn named_in_headers(headers: &HeaderMap) -> Option<(String, String)> {
    let method = headers.get("mcp-method")?.to_str().ok()?;
    let raw = headers.get("mcp-name")?.to_str().ok()?;
    let name = match raw
        .strip_prefix("=?base64?")
        .and_then(|inner| inner.strip_suffix("?="))
    {
        Some(inner) => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(inner)
                .ok()?,
        )
        .ok()?,
        None => raw.to_owned(),
    };
    Some((method.to_owned(), name))
}

impl Config {
    /// The `403 insufficient_scope` answer naming `scopes` and the scopes every request
    /// needs (never `offline_access`: refresh tokens are no resource's requirement); `None`
    /// if that leaves nothing to name, and the request goes on to its generic denial.
    fn step_up<B: Default>(&self, scopes: &[String]) -> Option<Response<B>> {
        let mut named: Vec<&str> = scopes
            .iter()
            .chain(&self.required_scopes)
            .map(String::as_str)
            .filter(|scope| *scope != super::OFFLINE_ACCESS && is_scope_token(scope))
            .collect();
        named.sort_unstable();
        named.dedup();
        if named.is_empty() {
            return None;
        }
        let scope = named.join(" ");
        tracing::info!(target: "secure_tool::oauth", %scope, "asked the client to step up");
        let challenge = format!(
            "Bearer error=\"insufficient_scope\", scope=\"{scope}\", resource_metadata=\"{}\", \
             error_description=\"{INSUFFICIENT_SCOPE_DESCRIPTION}\"",
            self.metadata_url
        );
        let value = HeaderValue::try_from(challenge).ok()?;
        let mut response = Response::new(B::default());
        *response.status_mut() = StatusCode::FORBIDDEN;
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
        Some(response)
    }
}

/// A scope that can go into a quoted challenge parameter (RFC 6749 §3.3 `NQCHAR`s).
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

#[cfg(all(test, feature = "macros"))]
mod tests;

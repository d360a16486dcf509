//! [`SafeErrors`]: the refusals of rmcp's streamable HTTP transport, which quote what the
//! client sent, answered with a fixed text and an incident id instead.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use serde_json::{Value, json};

use crate::sanitize::IncidentId;
use crate::util::LogSafe;

/// The most of a refusal's body read, to log it: rmcp's are a line or two.
const MAX_READ: usize = 16 * 1024;

/// Wraps rmcp's `StreamableHttpService` so that its refusals never quote the request.
///
/// Before a request reaches the server, rmcp's transport checks its headers against its
/// body and its protocol version, and answers a mismatch itself, quoting both sides:
/// ``Mcp-Name header `…` does not match body value `…` `` (a tool's name, a resource's
/// URI, a prompt's name, an argument's value), `Unsupported MCP-Protocol-Version: …`,
/// `… does not match request _meta protocolVersion (…)`. Those texts reach the model, and
/// quote whatever the client (or whoever wrote its request) put there.
///
/// Every answer of the wrapped service with an error status (`4xx`, `5xx`) and a body has
/// that body replaced: a JSON-RPC error keeps its code and id, with a fixed message for
/// the code and the incident id in its `data` (beside what the server said of itself that
/// a client negotiates with: `-32022`'s `supported` versions, `-32021`'s
/// `requiredCapabilities`; never `-32022`'s `requested`); any other body becomes the status's reason
/// and the incident id, as text. The status and the other headers are kept, so clients
/// act on them as before (`404` for an unknown session, `413`, `415`, …). What the body
/// said is logged at `warn` (target `secure_tool::http`) under the incident id, cut and
/// escaped. Success answers, and error answers without a body (the bearer layer's, the
/// session binding's), pass through untouched.
///
/// Put it directly around rmcp's service, inside [`BindSessions`](super::BindSessions),
/// the step-up layer and [`BearerAuth::layer`](super::BearerAuth::layer):
///
/// ```
/// use std::sync::Arc;
///
/// use axum::Router;
/// use secure_tool::oauth::{Algorithm, BearerAuth, BindSessions, SafeErrors};
/// use secure_tool::rmcp::transport::streamable_http_server::{
///     StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
/// };
/// # use secure_tool::rmcp::ServerHandler;
/// # #[derive(Clone)] struct MyServer;
/// # impl ServerHandler for MyServer {}
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = BearerAuth::builder()
///     .issuer("https://auth.example.com")
///     .audience("https://mcp.example.com/mcp")
///     .hmac_secret(b"0123456789abcdef0123456789abcdef")
///     .algorithms([Algorithm::HS256])
///     .build()?;
/// let sessions = Arc::new(LocalSessionManager::default());
/// let mcp = StreamableHttpService::new(
///     || Ok(MyServer),
///     Arc::clone(&sessions),
///     StreamableHttpServerConfig::default(),
/// );
/// let mcp = BindSessions::new(SafeErrors::new(mcp), sessions);
/// let app: Router = Router::new().route_service("/mcp", auth.layer(mcp));
/// # drop(app);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SafeErrors<S> {
    inner: S,
}

impl<S> SafeErrors<S> {
    /// Wraps `inner` (rmcp's `StreamableHttpService`).
    ///
    /// ```
    /// let wrapped = secure_tool::oauth::SafeErrors::new(());
    /// # drop(wrapped);
    /// ```
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, B, R> tower_service::Service<Request<B>> for SafeErrors<S>
where
    S: tower_service::Service<Request<B>, Response = Response<R>>,
    R: Body<Data = Bytes>,
{
    type Response = Response<SafeBody<R>>;
    type Error = S::Error;
    type Future = SafeErrorsFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        SafeErrorsFuture {
            state: State::Answering {
                future: self.inner.call(request),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The body of a [`SafeErrors`] answer: the wrapped service's, or the fixed text that
    /// replaced it.
    pub struct SafeBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Passed { #[pin] body: B },
        Replaced { #[pin] body: Full<Bytes> },
    }
}

impl<B> SafeBody<B> {
    fn passed(body: B) -> Self {
        Self {
            kind: Kind::Passed { body },
        }
    }

    fn replaced(text: String) -> Self {
        Self {
            kind: Kind::Replaced {
                body: Full::new(Bytes::from(text)),
            },
        }
    }
}

impl<B> Default for SafeBody<B> {
    /// An empty body.
    fn default() -> Self {
        Self {
            kind: Kind::Replaced {
                body: Full::default(),
            },
        }
    }
}

impl<B> fmt::Debug for SafeBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Passed { .. } => f.write_str("SafeBody::Passed"),
            Kind::Replaced { body } => f.debug_tuple("SafeBody::Replaced").field(body).finish(),
        }
    }
}

impl<B: Body<Data = Bytes>> Body for SafeBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            // rmcp's answers in sessions can quote the client (`-32022`'s `requested`).
            KindProj::Passed { body } => body.poll_frame(cx).map(|frame| {
                frame.map(|frame| {
                    frame.map(|frame| {
                        frame.map_data(|data| match crate::echo::forget_requested_in(&data) {
                            Some(rewritten) => Bytes::from(rewritten),
                            None => data,
                        })
                    })
                })
            }),
            KindProj::Replaced { body } => body
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| Ok(frame.unwrap_or_else(|never| match never {})))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Passed { body } => body.is_end_stream(),
            Kind::Replaced { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Passed { body } => body.size_hint(),
            Kind::Replaced { body } => body.size_hint(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`SafeErrors`].
    pub struct SafeErrorsFuture<F, R> {
        #[pin]
        state: State<F, R>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, R> {
        /// The wrapped service answers.
        Answering { #[pin] future: F },
        /// An error answer's body is read (up to [`MAX_READ`] bytes), to be logged and
        /// replaced.
        Reading {
            parts: Option<http::response::Parts>,
            #[pin]
            body: R,
            read: Vec<u8>,
        },
    }
}

impl<F, R> fmt::Debug for SafeErrorsFuture<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SafeErrorsFuture").finish_non_exhaustive()
    }
}

impl<F, R, E> Future for SafeErrorsFuture<F, R>
where
    F: Future<Output = Result<Response<R>, E>>,
    R: Body<Data = Bytes>,
{
    type Output = Result<Response<SafeBody<R>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Answering { future } => {
                    let response = ready!(future.poll(cx))?;
                    let status = response.status();
                    let refusal = status.is_client_error() || status.is_server_error();
                    if !refusal || response.body().size_hint().exact() == Some(0) {
                        return Poll::Ready(Ok(response.map(SafeBody::passed)));
                    }
                    let (parts, body) = response.into_parts();
                    State::Reading {
                        parts: Some(parts),
                        body,
                        read: Vec::new(),
                    }
                }
                StateProj::Reading {
                    parts,
                    mut body,
                    read,
                } => {
                    // To its end, an error or the most that is read; whatever the body
                    // held, it is replaced.
                    let said = loop {
                        match ready!(body.as_mut().poll_frame(cx)) {
                            Some(Ok(frame)) => {
                                if let Some(data) = frame.data_ref() {
                                    read.extend_from_slice(data);
                                }
                                if read.len() > MAX_READ {
                                    break None;
                                }
                            }
                            Some(Err(_)) => break None,
                            None => break Some(&read[..]),
                        }
                    };
                    let parts = parts
                        .take()
                        .expect("`SafeErrorsFuture` polled after it completed");
                    return Poll::Ready(Ok(replaced(parts, said)));
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}

/// The refusal `parts` with its body (`said`, if it could be read) replaced by a fixed
/// text and an incident id, under which what it said is logged.
fn replaced<R>(mut parts: http::response::Parts, said: Option<&[u8]>) -> Response<SafeBody<R>> {
    let incident = IncidentId::new();
    let text = said.map_or(
        std::borrow::Cow::Borrowed("(unreadable)"),
        String::from_utf8_lossy,
    );
    tracing::warn!(
        target: "secure_tool::http",
        incident_id = %incident,
        status = parts.status.as_u16(),
        said = %LogSafe::new(&text, 512),
        "the MCP transport refused a request; its answer's text was replaced"
    );
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    let error = said
        .filter(|_| json)
        .and_then(|said| serde_json::from_slice::<Value>(said).ok())
        .and_then(|said| {
            let error = said.get("error")?;
            let code = error.get("code")?.as_i64()?;
            let data = error.get("data").and_then(Value::as_object);
            let mut kept = serde_json::Map::new();
            // What the server said of itself, which a client negotiates with: the versions
            // it supports, the capabilities it requires. Never what the client sent.
            if let Some(data) = data {
                for key in KEPT_DATA {
                    if let Some(value) = data.get(*key) {
                        kept.insert((*key).to_owned(), value.clone());
                    }
                }
            }
            Some((code, said.get("id").cloned().unwrap_or(Value::Null), kept))
        });
    let (body, content_type) = match error {
        Some((code, id, mut data)) => {
            data.insert("incident_id".to_owned(), incident.to_string().into());
            let answer = json!({
                "jsonrpc": "2.0",
                "id": id,
                "error": {
                    "code": code,
                    "message": format!("{}. (incident {incident})", message_for(code)),
                    "data": data,
                },
            });
            (answer.to_string(), "application/json")
        }
        None => (
            format!("{}. (incident {incident})", reason(parts.status)),
            "text/plain; charset=utf-8",
        ),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Response::from_parts(parts, SafeBody::replaced(body))
}

/// The members of a refusal's `data` kept: the server's own words a client negotiates
/// with (`-32022`'s supported versions, `-32021`'s required capabilities), never the
/// client's (`-32022`'s `requested`).
const KEPT_DATA: &[&str] = &["supported", "requiredCapabilities"];

/// The fixed message of a JSON-RPC error code.
fn message_for(code: i64) -> &'static str {
    match code {
        -32700 => "Parse error: the request is not valid JSON",
        -32600 => "Invalid request",
        -32601 => "Method not found",
        -32602 => "Invalid params",
        -32603 => "Internal error",
        // rmcp's `HEADER_MISMATCH` (SEP-2243).
        -32020 => "The request's Mcp-* headers do not match its body",
        // rmcp's `MISSING_REQUIRED_CLIENT_CAPABILITY`.
        -32021 => "The client lacks a capability this request requires",
        // rmcp's `UNSUPPORTED_PROTOCOL_VERSION`.
        -32022 => "Unsupported protocol version",
        _ => "The request was refused",
    }
}

/// A status's reason phrase, or its number.
fn reason(status: StatusCode) -> String {
    status
        .canonical_reason()
        .map_or_else(|| format!("HTTP status {}", status.as_u16()), str::to_owned)
}

#[cfg(test)]
mod tests;

//! [`BindSessions`]: each MCP session of rmcp's streamable HTTP server bound to the subject
//! whose request created it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use http::{Method, Request, Response, StatusCode};
use rmcp::transport::streamable_http_server::session::SessionManager;

use crate::authz::Principal;
use crate::util::LogSafe;

/// The header that names a request's MCP session.
const SESSION_HEADER: &str = "mcp-session-id";

/// The number of bound sessions above which, by default, the ones the session manager has
/// closed are forgotten ([`BindSessions::prune_above`]).
///
/// ```
/// assert_eq!(secure_tool::oauth::DEFAULT_PRUNE_ABOVE, 1024);
/// ```
pub const DEFAULT_PRUNE_ABOVE: usize = 1024;

/// How many open sessions one subject may have at once, by default
/// ([`BindSessions::max_sessions_per_subject`]).
///
/// ```
/// assert_eq!(secure_tool::oauth::DEFAULT_SESSIONS_PER_SUBJECT, 64);
/// ```
pub const DEFAULT_SESSIONS_PER_SUBJECT: usize = 64;

/// Binds every MCP session to the subject whose request created it: a request naming a
/// session (`Mcp-Session-Id`) of another subject, or one it never bound (a session restored
/// from a shared store, or made behind its back), is answered `404 Not Found`, as an unknown
/// session is, and never reaches the MCP service.
///
/// rmcp's sessions carry no identity: their ids, though random, travel in headers and logs,
/// and whoever learned one could, with a valid token of their own, read that session's
/// notifications and resume its response streams. (Tool calls are safe either way: each
/// request's own [`Principal`] decides them.)
///
/// Put it *inside* [`BearerAuth::layer`](super::BearerAuth::layer), around rmcp's
/// `StreamableHttpService`, and give it the service's session manager: it reads the
/// caller's subject from the [`Principal`] the bearer layer put into the request. A request
/// without an authenticated subject is refused with `403 Forbidden` (and an error in the
/// log): that is a server mounted the wrong way round, and nothing is bound to nobody.
///
/// A session is forgotten when its owner deletes it (`DELETE` with its id). Sessions that
/// idled out are forgotten once more than [`prune_above`](Self::prune_above) sessions are
/// bound: the session manager is then asked which of them it still has.
///
/// One subject may have at most [`max_sessions_per_subject`](Self::max_sessions_per_subject)
/// sessions open at once (each holds its client's `initialize` parameters and a task until it
/// idles out): a request that would open one more is answered `429 Too Many Requests`, and
/// the session it opened is closed at once.
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
/// // `SafeErrors`: rmcp's own refusals, which quote the request, get a fixed text.
/// let mcp = BindSessions::new(SafeErrors::new(mcp), sessions);
/// let app: Router = Router::new().route_service("/mcp", auth.layer(mcp));
/// # drop(app);
/// # Ok(())
/// # }
/// ```
pub struct BindSessions<S, M> {
    inner: S,
    owners: Arc<Owners<M>>,
}

impl<S: Clone, M> Clone for BindSessions<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            owners: Arc::clone(&self.owners),
        }
    }
}

impl<S: fmt::Debug, M> fmt::Debug for BindSessions<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BindSessions")
            .field("inner", &self.inner)
            .field("bound", &self.owners.subjects().len())
            .field(
                "prune_above",
                &self.owners.prune_above.load(Ordering::Relaxed),
            )
            .finish()
    }
}

/// Who owns which session, shared by the clones of one [`BindSessions`].
struct Owners<M> {
    /// Session id → subject.
    subjects: Mutex<HashMap<Arc<str>, Arc<str>>>,
    /// Asked which sessions still exist, to forget the owners of the others.
    sessions: Arc<M>,
    prune_above: AtomicUsize,
    pruning: AtomicBool,
    per_subject: AtomicUsize,
}

impl<S, M: SessionManager> BindSessions<S, M> {
    /// Binds the sessions of `inner`, whose session manager is `sessions`.
    pub fn new(inner: S, sessions: Arc<M>) -> Self {
        Self {
            inner,
            owners: Arc::new(Owners {
                subjects: Mutex::default(),
                sessions,
                prune_above: AtomicUsize::new(DEFAULT_PRUNE_ABOVE),
                pruning: AtomicBool::new(false),
                per_subject: AtomicUsize::new(DEFAULT_SESSIONS_PER_SUBJECT),
            }),
        }
    }

    /// Above how many bound sessions the ones the session manager no longer has are
    /// forgotten (default [`DEFAULT_PRUNE_ABOVE`]). A session that is still open is never
    /// forgotten, however many there are.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use secure_tool::oauth::BindSessions;
    /// # use secure_tool::rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    /// let sessions = Arc::new(LocalSessionManager::default());
    /// let bound = BindSessions::new((), sessions).prune_above(64);
    /// assert_eq!(bound.bound(), 0);
    /// ```
    #[must_use]
    pub fn prune_above(self, sessions: usize) -> Self {
        self.owners.prune_above.store(sessions, Ordering::Relaxed);
        self
    }

    /// How many sessions one subject may have open at once (default
    /// [`DEFAULT_SESSIONS_PER_SUBJECT`]); past it, a request that opens one more is answered
    /// `429 Too Many Requests` and that session is closed.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use secure_tool::oauth::BindSessions;
    /// # use secure_tool::rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    /// let sessions = Arc::new(LocalSessionManager::default());
    /// let bound = BindSessions::new((), sessions).max_sessions_per_subject(8);
    /// assert_eq!(bound.bound(), 0);
    /// ```
    #[must_use]
    pub fn max_sessions_per_subject(self, sessions: usize) -> Self {
        self.owners.per_subject.store(sessions, Ordering::Relaxed);
        self
    }

    /// How many sessions are bound now.
    pub fn bound(&self) -> usize {
        self.owners.subjects().len()
    }
}

impl<M> Owners<M> {
    fn subjects(&self) -> MutexGuard<'_, HashMap<Arc<str>, Arc<str>>> {
        self.subjects.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<M: SessionManager> Owners<M> {
    /// Binds `session` to `subject` if the subject may own one more session: it owns fewer
    /// than its share, once the sessions of its that the manager has closed are forgotten.
    /// Counted and bound under one lock, so that concurrent requests cannot all slip in.
    async fn admit(self: &Arc<Self>, session: &str, subject: &str) -> bool {
        let limit = self.per_subject.load(Ordering::Relaxed);
        let Err(owned) = self.bind_within(session, subject, limit) else {
            return true;
        };
        for known in owned {
            // An error of the manager counts the session as open: its owner is kept.
            if let Ok(false) = self.sessions.has_session(&known).await {
                self.subjects().remove(&known);
            }
        }
        self.bind_within(session, subject, limit).is_ok()
    }

    /// Records `subject` as the owner of a session the MCP service just created, if it has
    /// room for it (see [`admit`](Self::admit)), and forgets closed sessions when there are
    /// many.
    fn bind_within(
        self: &Arc<Self>,
        session: &str,
        subject: &str,
        limit: usize,
    ) -> Result<(), Vec<Arc<str>>> {
        let count = {
            let mut subjects = self.subjects();
            let owned: Vec<Arc<str>> = subjects
                .iter()
                .filter(|(_, owner)| ***owner == *subject)
                .map(|(session, _)| Arc::clone(session))
                .collect();
            if owned.len() >= limit {
                return Err(owned);
            }
            subjects
                .entry(Arc::from(session))
                .or_insert_with(|| Arc::from(subject));
            subjects.len()
        };
        let prune_above = self.prune_above.load(Ordering::Relaxed);
        if count > prune_above && !self.pruning.swap(true, Ordering::AcqRel) {
            let owners = Arc::clone(self);
            tokio::spawn(async move {
                let known: Vec<Arc<str>> = owners.subjects().keys().cloned().collect();
                let mut closed = Vec::new();
                for session in known {
                    // An error of the manager keeps the binding: forgetting a live session's
                    // owner would open it to anyone.
                    if let Ok(false) = owners.sessions.has_session(&session).await {
                        closed.push(session);
                    }
                }
                let mut subjects = owners.subjects();
                for session in &closed {
                    subjects.remove(session);
                }
                drop(subjects);
                owners.pruning.store(false, Ordering::Release);
            });
        }
        Ok(())
    }
}

impl<S, M, B, R> tower_service::Service<Request<B>> for BindSessions<S, M>
where
    S: tower_service::Service<Request<B>, Response = Response<R>, Error = Infallible>,
    S::Future: Send + 'static,
    M: SessionManager,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = Response<R>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let answer = |status| {
            let mut response = Response::new(R::default());
            *response.status_mut() = status;
            Box::pin(std::future::ready(Ok(response))) as Self::Future
        };
        let Some((principal, subject)) = request
            .extensions()
            .get::<Principal>()
            .and_then(|principal| Some((principal, principal.subject()?)))
        else {
            tracing::error!(
                "refused an MCP request without an authenticated subject: BindSessions must be \
                 inside BearerAuth::layer"
            );
            return answer(StatusCode::FORBIDDEN);
        };
        let session = request
            .headers()
            .get(SESSION_HEADER)
            .and_then(|value| value.to_str().ok());
        if let Some(session) = session {
            let owner = self.owners.subjects().get(session).cloned();
            match owner {
                Some(owner) if *owner == *subject => {}
                Some(owner) => {
                    tracing::warn!(
                        subject = %LogSafe::new(subject, 256),
                        owner = %LogSafe::new(&owner, 256),
                        "refused a request for another subject's MCP session"
                    );
                    return answer(StatusCode::NOT_FOUND);
                }
                // Every session opened through this layer is bound before its id reaches
                // the client: one it never bound (restored from a store the sessions share
                // with other replicas, or opened behind its back) has no owner to check
                // the caller against, and is nobody's to resume.
                None => {
                    tracing::warn!(
                        subject = %LogSafe::new(subject, 256),
                        "refused a request for an MCP session this server never bound"
                    );
                    return answer(StatusCode::NOT_FOUND);
                }
            }
        }
        // What the answer is followed by, copied out of the request before it is handed on.
        let after = match session {
            // The caller, not a copy of its name: most requests open no session.
            None => After::Bind(principal.clone()),
            Some(session) if request.method() == Method::DELETE => {
                After::Forget(Arc::from(session))
            }
            Some(_) => After::Nothing,
        };
        // The service made ready is the one called (tower's contract): no clone is needed,
        // as nothing is awaited before the call.
        let response = self.inner.call(request);
        if let After::Nothing = after {
            return Box::pin(response);
        }
        let owners = Arc::clone(&self.owners);
        Box::pin(async move {
            let response = response.await?;
            match after {
                After::Forget(session) if response.status().is_success() => {
                    owners.subjects().remove(&session);
                }
                After::Bind(principal) => {
                    if let Some(created) = response
                        .headers()
                        .get(SESSION_HEADER)
                        .and_then(|created| created.to_str().ok())
                        && let Some(subject) = principal.subject()
                        && !owners.admit(created, subject).await
                    {
                        tracing::warn!(
                            subject = %LogSafe::new(subject, 256),
                            "refused to open one more MCP session: the subject has its \
                             share open already"
                        );
                        let created = created.to_owned().into();
                        let _ = owners.sessions.close_session(&created).await;
                        let mut refused = Response::new(R::default());
                        *refused.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                        return Ok(refused);
                    }
                }
                _ => {}
            }
            Ok(response)
        })
    }
}

/// What follows the inner service's answer to a request.
enum After {
    /// A request without a session: a session it opened belongs to this caller's subject.
    Bind(Principal),
    /// A `DELETE` of this session: once it succeeded, its owner is forgotten.
    Forget(Arc<str>),
    /// A request in a session: nothing.
    Nothing,
}

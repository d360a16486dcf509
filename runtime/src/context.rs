//! The context of one call: what a secure handler may reach of the MCP session once the
//! call is authorized — progress notifications, the client's cancellation, messages to the
//! client's log, and questions to the user (elicitation) or to the client's model
//! (sampling).
//!
//! A handler asks for it by taking a [`CallContext`] after its arguments (and before a
//! write tool's `WriteAccess`):
//!
//! ```
//! use secure_tool::prelude::*;
//! use secure_tool::context::{CallContext, LogLevel, Progress};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Reindex { shards: u32 }
//!
//! #[derive(serde::Serialize, schemars::JsonSchema)]
//! struct Reindexed { shards: u32 }
//!
//! struct Search;
//!
//! #[secure_tool_router]
//! impl Search {
//!     /// Rebuilds the index, shard by shard.
//!     #[secure_tool(authz = scopes("search:admin"), mode = read)]
//!     async fn reindex(&self, args: Reindex, cx: CallContext<'_>) -> Result<Reindexed, ToolError> {
//!         for shard in 0..args.shards {
//!             if cx.is_cancelled() {
//!                 return Err(ToolError::public(ErrorCategory::Unavailable, "Reindexing was cancelled."));
//!             }
//!             cx.progress(Progress::new(f64::from(shard + 1)).of(f64::from(args.shards))).await;
//!         }
//!         cx.log(LogLevel::Info, format!("{} shards reindexed", args.shards)).await;
//!         Ok(Reindexed { shards: args.shards })
//!     }
//! }
//! # impl secure_tool::rmcp::ServerHandler for Search {}
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let server = SecureServer::new(Search);
//! let arguments = serde_json::json!({ "shards": 3 }).as_object().cloned();
//! let admin = Principal::new("ada").with_scopes(["search:admin"]);
//! // In process there is no session: progress and log messages go nowhere.
//! let done = server.call("reindex", arguments, admin).await.unwrap();
//! assert_eq!(done.structured_content.unwrap()["shards"], 3);
//! # }
//! ```
//!
//! The context exists only inside a call the guard let through: the runtime makes it after
//! authorization (and the write gate, and the arguments' checks), and its lifetime ends
//! with the call. Everything it sends to the client is text the handler wrote as public,
//! the same rule as [`ToolError::public`]'s message: no method takes an error and sends its
//! text, and each message is capped at [`MAX_MESSAGE_BYTES`].

// rmcp marks logging and sampling deprecated (SEP-2577, for 2026-07-28), but both are part
// of the 2025-11-25 protocol its clients speak.
#![allow(deprecated)]

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    ClientCapabilities, ClientResult, CreateMessageRequest, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequest, ElicitRequestParams, ElicitationAction, InputRequest,
    InputRequests, LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken,
    ServerRequest,
};
use rmcp::service::{Peer, PeerRequestOptions, RequestContext, RoleServer, ServiceError};
use tokio_util::sync::CancellationToken;

use crate::authz::Principal;
use crate::confirm::Carried;
use crate::sanitize::{ErrorCategory, ToolError};

/// The form of an elicitation, for [`CallContext::elicit_form`].
pub use rmcp::model::ElicitationSchema;
/// The severity of a message to the client's log (MCP's `LoggingLevel`).
pub use rmcp::model::LoggingLevel as LogLevel;

/// The most bytes of one message sent through the context (a progress message, a log
/// message, an elicitation's question); longer text is cut at a character boundary.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// How long the user has to answer an elicitation, unless the call's deadline comes first.
pub const ELICITATION_TIMEOUT: Duration = Duration::from_secs(300);

/// What the runtime knows of the session a call came in on.
#[derive(Clone)]
pub(crate) struct Session {
    peer: Peer<RoleServer>,
    progress_token: Option<ProgressToken>,
    cancelled: CancellationToken,
    /// What the client declared it can do (for a 2026-07-28 request, in the request's own
    /// capabilities): the two the runtime asks about, read once.
    declared: Declared,
    /// Whether the request came without an `initialize` handshake (2026-07-28, or a
    /// request that named an older version without one): the server may not send
    /// requests to the client.
    stateless: bool,
    /// Whether the request speaks 2026-07-28, where a server asks through an
    /// `InputRequiredResult`.
    input_required: bool,
    /// The least severe level the client wants (`logging/setLevel`), else the default.
    log_level: LogLevel,
}

impl Session {
    /// The session of `context`, whose client asked for messages at `log_level` or above.
    ///
    /// As rmcp's `RequestContext::protocol_version` and `client_capabilities`, without
    /// their copies: what the request's `_meta` names wins, else the handshake's, read
    /// once. (rmcp falls back to the handshake only for a session that began with one; a
    /// session that began without one never reaches a handler with `_meta` lacking valid
    /// capabilities, as rmcp refuses such a request first.)
    pub(crate) fn of(context: &RequestContext<RoleServer>, log_level: Option<LogLevel>) -> Self {
        let handshake = context.peer.peer_info();
        let input_required = match context.meta.protocol_version() {
            Some(version) => !version.has_initialize(),
            None => handshake
                .as_ref()
                .is_some_and(|info| !info.protocol_version.has_initialize()),
        };
        let declared = match context.meta.client_capabilities() {
            Some(capabilities) => Declared::of(&capabilities),
            None => handshake
                .as_ref()
                .map_or(Declared::NOTHING, |info| Declared::of(&info.capabilities)),
        };
        // Only a session that shook hands can be sent a request: a request that names an
        // older version without a handshake cannot answer one.
        let stateless = input_required || handshake.is_none();
        Self {
            peer: context.peer.clone(),
            progress_token: context.meta.get_progress_token(),
            cancelled: context.ct.clone(),
            declared,
            stateless,
            input_required,
            // A 2026-07-28 request carries its own level; a session keeps the one it set.
            log_level: context
                .meta
                .log_level()
                .or(log_level)
                .unwrap_or(DEFAULT_LOG_LEVEL),
        }
    }

    /// Whether the client can answer a form elicitation now.
    fn elicits(&self) -> bool {
        // An empty `elicitation: {}` means form mode (2025-11-25).
        !self.stateless && self.answers_forms()
    }

    /// Whether the request speaks 2026-07-28: the server asks through an
    /// `InputRequiredResult`.
    pub(crate) fn asks_by_input_required(&self) -> bool {
        self.input_required
    }

    /// Whether the session shook hands and can be sent a request (2025-11-25).
    pub(crate) fn takes_requests(&self) -> bool {
        !self.stateless
    }

    /// Whether the client declared form elicitation (for a 2026-07-28 request, in the
    /// request's own capabilities): it can answer an `InputRequiredResult`'s form.
    pub(crate) fn answers_forms(&self) -> bool {
        self.declared.forms
    }

    /// Whether the client can sample its model now.
    fn samples(&self) -> bool {
        !self.stateless && self.declared.sampling
    }
}

/// The capabilities of a client the runtime asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Declared {
    /// Form elicitation: `elicitation` with `form`, or without `url` (an empty
    /// `elicitation: {}` means form mode, 2025-11-25).
    forms: bool,
    /// Sampling.
    sampling: bool,
}

impl Declared {
    /// A client that declared no capabilities.
    const NOTHING: Self = Self {
        forms: false,
        sampling: false,
    };

    fn of(capabilities: &ClientCapabilities) -> Self {
        Self {
            forms: capabilities
                .elicitation
                .as_ref()
                .is_some_and(|elicitation| elicitation.form.is_some() || elicitation.url.is_none()),
            sampling: capabilities.sampling.is_some(),
        }
    }
}

/// The level of log messages sent to a client that never asked for one.
pub(crate) const DEFAULT_LOG_LEVEL: LogLevel = LogLevel::Info;

/// The log level each session asked for with `logging/setLevel`.
///
/// Every call asks for its session's level, so the lookup is one hash probe under a
/// short lock, and no lock at all while no session has set a level. (A list searched
/// on every call cost each call a scan of every session that had set one, under a lock
/// all calls share: some 45 ns a session, 11.9 µs a call with 256 such sessions.)
pub(crate) struct LogLevels {
    /// How many sessions have a level: while none has, a call takes no lock.
    remembered: AtomicUsize,
    table: Mutex<LevelTable>,
    /// The most sessions remembered ([`MAX_LOG_LEVELS`]).
    max: usize,
}

impl Default for LogLevels {
    fn default() -> Self {
        Self {
            remembered: AtomicUsize::new(0),
            table: Mutex::default(),
            max: MAX_LOG_LEVELS,
        }
    }
}

#[derive(Default)]
struct LevelTable {
    /// Each session's level, keyed by the address of its handshake
    /// ([`session_key`]), which the entry keeps alive: no other session's handshake
    /// can be at that address while the entry is there.
    levels: HashMap<usize, SessionLevel>,
    /// The keys of `levels`, the session that first set its level longest ago first.
    order: VecDeque<usize>,
}

/// What a client sent to open its session (`initialize`).
type Handshake = <RoleServer as rmcp::service::ServiceRole>::PeerInfo;

struct SessionLevel {
    peer: Peer<RoleServer>,
    /// Held for its address, the entry's key.
    _handshake: Arc<Handshake>,
    level: LogLevel,
}

/// The key of `peer`'s session: the address of the handshake it shook hands with (two
/// peers are one session when they share it), or `None` without a handshake.
fn session_key(peer: &Peer<RoleServer>) -> Option<(usize, Arc<Handshake>)> {
    peer.peer_info()
        .map(|handshake| (Arc::as_ptr(&handshake) as usize, handshake))
}

/// The most sessions whose log level is remembered; beyond it, the session that first set
/// its level longest ago is forgotten (and gets the default level again).
const MAX_LOG_LEVELS: usize = 4096;

impl LogLevels {
    /// Remembers that `peer`'s session wants messages at `level` or above.
    pub(crate) fn set(&self, peer: &Peer<RoleServer>, level: LogLevel) {
        // A request without a handshake has no session to remember a level for (a
        // 2026-07-28 request carries its own).
        let Some((key, handshake)) = session_key(peer) else {
            return;
        };
        let mut table = crate::server::lock(&self.table);
        let LevelTable { levels, order } = &mut *table;
        // Closed sessions go now: a peer holds its client's `initialize` parameters,
        // which must not outlive the session.
        levels.retain(|_, entry| !entry.peer.is_transport_closed());
        order.retain(|key| levels.contains_key(key));
        if let Some(known) = levels.get_mut(&key) {
            known.level = level;
        } else {
            if levels.len() >= self.max
                && let Some(oldest) = order.pop_front()
            {
                levels.remove(&oldest);
            }
            order.push_back(key);
            levels.insert(
                key,
                SessionLevel {
                    peer: peer.clone(),
                    _handshake: handshake,
                    level,
                },
            );
        }
        self.remembered.store(levels.len(), Ordering::Relaxed);
    }

    /// The level `peer`'s session asked for, if it did.
    pub(crate) fn get(&self, peer: &Peer<RoleServer>) -> Option<LogLevel> {
        // The store that made the count non-zero happened before any request that could
        // rely on it was read (the `logging/setLevel` was answered first).
        if self.remembered.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let (key, _handshake) = session_key(peer)?;
        let table = crate::server::lock(&self.table);
        table.levels.get(&key).map(|entry| entry.level)
    }

    /// Remembers at most `max` sessions' levels.
    #[cfg(test)]
    fn at_most(max: usize) -> Self {
        Self {
            max,
            ..Self::default()
        }
    }

    /// How many sessions have a level remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        crate::server::lock(&self.table).levels.len()
    }
}

/// The rounds of a 2026-07-28 call: what earlier rounds settled, and what this round asks.
/// The handler runs again on each round; its `n`-th question of a kind is keyed
/// `elicit-n` (`sample-n`), and finds its answer under that key.
pub(crate) struct Rounds {
    carried: Carried,
    asked: Mutex<InputRequests>,
    next: AtomicUsize,
}

impl Rounds {
    pub(crate) fn new(carried: Carried) -> Self {
        Self {
            carried,
            asked: Mutex::default(),
            next: AtomicUsize::new(0),
        }
    }

    fn key(&self, kind: &str) -> String {
        format!("{kind}-{}", self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// The answer an earlier round got to the question `key`, read as `T`; `invalid` is
    /// the public message when it does not read.
    fn answer<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        invalid: &'static str,
    ) -> Option<Result<T, ToolError>> {
        let answer = self.carried.answers.get(key)?;
        Some(serde_json::from_value(answer.clone()).map_err(|_| ToolError::invalid_input(invalid)))
    }

    fn ask(&self, key: String, request: InputRequest) {
        crate::server::lock(&self.asked).insert(key, request);
    }

    /// What this round asked, with what the call settled so far; `None` if it asked
    /// nothing.
    pub(crate) fn asked(&self) -> Option<(InputRequests, Carried)> {
        let asked = std::mem::take(&mut *crate::server::lock(&self.asked));
        (!asked.is_empty()).then(|| (asked, self.carried.clone()))
    }
}

/// The error a handler's question returns while its answer is asked for (2026-07-28):
/// the runtime answers the round with the question instead, whatever the handler made of
/// it. Never counted against a breaker.
fn input_pending() -> ToolError {
    client_fault(ToolError::public(
        ErrorCategory::Unavailable,
        "The user's answer is needed: the client is asked for it.",
    ))
}

/// What a secure handler may reach of the MCP session, during its call only.
///
/// Made by the runtime once the call is authorized; a handler takes it as
/// `cx: CallContext<'_>` (see the [module docs](self)). In a call without a session (an
/// in-process [`SecureServer::call`](crate::SecureServer::call)), notifications go nowhere,
/// nothing is cancelled, and elicitation and sampling answer
/// [`Elicited::Unsupported`] and `None`.
pub struct CallContext<'call> {
    session: Option<Session>,
    /// The rounds of a 2026-07-28 tool call.
    rounds: Option<Arc<Rounds>>,
    /// Who is talking: the name of the tool, resource or prompt (the logger's name).
    name: &'call str,
    /// Who called, as the policy saw them.
    caller: Principal,
    _call: PhantomData<fn(&'call ()) -> &'call ()>,
}

impl std::fmt::Debug for CallContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("name", &self.name)
            .field("session", &self.session.is_some())
            .field("caller", &self.caller)
            .finish()
    }
}

/// One progress notification: how far the call is, out of how much, and a public message.
///
/// ```
/// use secure_tool::context::Progress;
/// let step = Progress::new(3.0).of(10.0).with_message("3 of 10 notes indexed");
/// # let _ = step;
/// ```
#[derive(Debug, Clone)]
pub struct Progress {
    done: f64,
    total: Option<f64>,
    message: Option<Cow<'static, str>>,
}

impl Progress {
    /// `done` so far (it should grow with every notification of the call).
    pub fn new(done: f64) -> Self {
        Self {
            done,
            total: None,
            message: None,
        }
    }

    /// Out of `total`, when it is known.
    pub fn of(mut self, total: f64) -> Self {
        self.total = Some(total);
        self
    }

    /// With a message for the person waiting: public text, shown as written.
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// The user's answer to an elicitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elicited<T> {
    /// The user accepted and answered the form.
    Accepted(T),
    /// The user explicitly declined.
    Declined,
    /// The user dismissed the question, or did not answer in time.
    Cancelled,
    /// The client cannot ask its user: it did not declare form elicitation, the session
    /// has no handshake (2026-07-28), or there is no session at all.
    Unsupported,
}

impl<'call> CallContext<'call> {
    /// The context of a call of `name` by `caller` on `session` (none in process).
    pub(crate) fn new(session: Option<Session>, name: &'call str, caller: Principal) -> Self {
        Self {
            session,
            rounds: None,
            name,
            caller,
            _call: PhantomData,
        }
    }

    /// Who made the call, as its policy saw them (authorized already): what a handler
    /// records as the owner of what it creates, or filters a listing by.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::context::CallContext;
    ///
    /// #[derive(Clone)]
    /// struct Desk;
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Me { subject: String }
    /// #[secure_tool_router]
    /// impl Desk {
    ///     /// Who am I?
    ///     #[secure_tool(authz = authenticated, mode = read)]
    ///     async fn whoami(&self, cx: CallContext<'_>) -> Result<Me, ToolError> {
    ///         Ok(Me { subject: cx.caller().subject().unwrap_or_default().to_owned() })
    ///     }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Desk {}
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = SecureServer::new(Desk);
    /// let me = server.call("whoami", None, Principal::new("ada")).await.unwrap();
    /// assert_eq!(me.structured_content.unwrap()["subject"], "ada");
    /// # }
    /// ```
    pub fn caller(&self) -> &Principal {
        &self.caller
    }

    /// This context, for a round of a 2026-07-28 tool call.
    pub(crate) fn in_rounds(mut self, rounds: Option<Arc<Rounds>>) -> Self {
        self.rounds = rounds;
        self
    }

    /// Whether the client has cancelled the call (`notifications/cancelled`). The runtime
    /// drops a cancelled call's future at its next await; a handler checks this before a
    /// step it must not start for a caller who is gone.
    pub fn is_cancelled(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|session| session.cancelled.is_cancelled())
    }

    /// Resolves when the client cancels the call; never, without a session.
    pub async fn cancelled(&self) {
        match &self.session {
            Some(session) => session.cancelled.cancelled().await,
            None => std::future::pending().await,
        }
    }

    /// Sends a progress notification, if the client asked for progress (gave the request a
    /// progress token); otherwise, and if the session is gone, does nothing.
    pub async fn progress(&self, step: Progress) {
        let Some(session) = &self.session else { return };
        let Some(token) = &session.progress_token else {
            return;
        };
        let mut param = ProgressNotificationParam::new(token.clone(), step.done);
        param.total = step.total;
        param.message = step.message.map(capped);
        // A client that went away is told nothing; the call goes on (or is cancelled).
        let _ = session.peer.notify_progress(param).await;
    }

    /// Sends `message` to the client's log (`notifications/message`) at `level`, under the
    /// name of the tool, resource or prompt, if the session asked for messages of that
    /// severity (`logging/setLevel`; `info` and above until it does). Public text, as
    /// written: for internal detail use `tracing`, which stays on the server.
    pub async fn log(&self, level: LogLevel, message: impl Into<Cow<'static, str>>) {
        let Some(session) = &self.session else { return };
        if severity(level) < severity(session.log_level) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(level, capped(message.into()).into())
            .with_logger(self.name);
        let _ = session.peer.notify_logging_message(param).await;
    }

    /// Whether the client can answer [`elicit`](Self::elicit) in this call.
    pub fn can_elicit(&self) -> bool {
        self.session.as_ref().is_some_and(Session::elicits)
    }

    /// Whether the client can answer [`sample`](Self::sample) in this call.
    pub fn can_sample(&self) -> bool {
        self.session.as_ref().is_some_and(Session::samples)
    }

    /// Asks the user to fill in a form of `T`'s fields (`elicitation/create`), with
    /// `message` (public text) saying why. `T` is a struct of flat fields (strings,
    /// numbers, booleans, enums), as MCP's forms allow; its schema is the form.
    ///
    /// The answer is data from the user: treat it as untrusted input, like arguments.
    /// A client that cannot ask its user answers [`Elicited::Unsupported`]; a user who does
    /// not answer within [`ELICITATION_TIMEOUT`] (or the call's deadline, whichever is
    /// first), [`Elicited::Cancelled`].
    ///
    /// # Errors
    ///
    /// A `ToolError` when `T`'s schema is not a form (an internal error: the server's own
    /// type), when the answer does not match the form (invalid input), or when the session
    /// fails (unavailable).
    pub async fn elicit<T>(
        &self,
        message: impl Into<Cow<'static, str>>,
    ) -> Result<Elicited<T>, ToolError>
    where
        T: schemars::JsonSchema + serde::de::DeserializeOwned,
    {
        let schema = ElicitationSchema::from_type::<T>().map_err(ToolError::internal)?;
        let Some(answer) = self
            .ask(message.into(), schema, ELICITATION_TIMEOUT)
            .await?
        else {
            return Ok(Elicited::Unsupported);
        };
        Ok(match answer.action {
            ElicitationAction::Accept => {
                let content = answer.content.unwrap_or_default();
                match serde_json::from_value(content) {
                    Ok(value) => Elicited::Accepted(value),
                    Err(_) => {
                        return Err(ToolError::invalid_input(
                            "The answer to the question does not match its form.",
                        ));
                    }
                }
            }
            ElicitationAction::Decline => Elicited::Declined,
            // Cancelled, or an action this version does not know: not an acceptance.
            _ => Elicited::Cancelled,
        })
    }

    /// Asks the user to fill in the form `schema` describes (`elicitation/create`), with
    /// `message` (public text) saying why: for forms a type cannot describe (defaults,
    /// titled choices). The accepted answer is the user's raw object: untrusted input.
    ///
    /// # Errors
    ///
    /// A `ToolError` when the session fails (unavailable), or when an accepted answer is not
    /// an object (invalid input).
    ///
    /// ```
    /// use secure_tool::context::ElicitationSchema;
    /// let schema: ElicitationSchema = serde_json::from_value(serde_json::json!({
    ///     "type": "object",
    ///     "properties": { "reason": { "type": "string", "default": "cleanup" } },
    /// }))
    /// .unwrap();
    /// # let _ = schema;
    /// ```
    pub async fn elicit_form(
        &self,
        message: impl Into<Cow<'static, str>>,
        schema: ElicitationSchema,
    ) -> Result<Elicited<serde_json::Map<String, serde_json::Value>>, ToolError> {
        let Some(answer) = self
            .ask(message.into(), schema, ELICITATION_TIMEOUT)
            .await?
        else {
            return Ok(Elicited::Unsupported);
        };
        Ok(match answer.action {
            ElicitationAction::Accept => match answer.content.unwrap_or_default() {
                serde_json::Value::Object(content) => Elicited::Accepted(content),
                serde_json::Value::Null => Elicited::Accepted(serde_json::Map::new()),
                _ => {
                    return Err(ToolError::invalid_input(
                        "The answer to the question does not match its form.",
                    ));
                }
            },
            ElicitationAction::Decline => Elicited::Declined,
            _ => Elicited::Cancelled,
        })
    }

    /// Sends a form elicitation with `schema`; `None` when the client cannot answer one,
    /// and a cancelled answer when the user does not answer within `timeout`.
    pub(crate) async fn ask(
        &self,
        message: Cow<'static, str>,
        schema: ElicitationSchema,
        timeout: Duration,
    ) -> Result<Option<rmcp::model::ElicitResult>, ToolError> {
        let mut form = serde_json::to_value(&schema).map_err(ToolError::internal)?;
        // What is missing is the reader's to judge (a type refuses it, an unticked
        // confirmation is a no); what is there must fit.
        if let Some(form) = form.as_object_mut() {
            form.remove("required");
        }
        let answer = self.ask_unchecked(message, schema, timeout).await?;
        // An accepted answer is the user's input, held to the form it answers (the types,
        // lengths, ranges and choices of the fields it fills), as arguments are to their
        // schema.
        if let Some(answer) = &answer
            && answer.action == ElicitationAction::Accept
        {
            let content = match &answer.content {
                None | Some(serde_json::Value::Null) => serde_json::json!({}),
                Some(content) => content.clone(),
            };
            let conforms = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .offline()
                .build(&form)
                .map_err(|error| {
                    // A form this server asked with that does not compile as a JSON Schema
                    // (its own type's): an internal error.
                    ToolError::internal(format!("the form's schema does not compile: {error}"))
                })?
                .is_valid(&content);
            if !conforms {
                return Err(ToolError::invalid_input(
                    "The answer to the question does not match its form.",
                ));
            }
        }
        Ok(answer)
    }

    /// [`ask`](Self::ask), the answer as it came.
    async fn ask_unchecked(
        &self,
        message: Cow<'static, str>,
        schema: ElicitationSchema,
        timeout: Duration,
    ) -> Result<Option<rmcp::model::ElicitResult>, ToolError> {
        let params = ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: capped(message),
            requested_schema: schema,
        };
        if let Some(session) = &self.session
            && session.asks_by_input_required()
        {
            // 2026-07-28: the answer, if an earlier round got it; else ask in this one.
            let Some(rounds) = &self.rounds else {
                return Ok(None);
            };
            let key = rounds.key("elicit");
            if let Some(answer) =
                rounds.answer(&key, "The answer to the question does not match its form.")
            {
                return answer.map(Some);
            }
            if !session.answers_forms() {
                return Ok(None);
            }
            rounds.ask(key, InputRequest::Elicitation(ElicitRequest::new(params)));
            return Err(input_pending());
        }
        let Some(session) = self.session.as_ref().filter(|session| session.elicits()) else {
            return Ok(None);
        };
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        match send(&session.peer, request, timeout).await {
            Ok(ClientResult::ElicitResult(answer)) => Ok(Some(answer)),
            Ok(_) => Err(client_fault(ToolError::unavailable(
                ServiceError::UnexpectedResponse,
            ))),
            Err(ServiceError::Timeout { .. }) => Ok(Some(rmcp::model::ElicitResult::new(
                ElicitationAction::Cancel,
            ))),
            Err(error) => Err(client_fault(ToolError::unavailable(error))),
        }
    }

    /// Asks the client's model for a message (`sampling/createMessage`); `None` when the
    /// client cannot sample. The model's answer is untrusted input.
    ///
    /// # Errors
    ///
    /// A `ToolError` when the request is malformed or the session fails.
    pub async fn sample(
        &self,
        request: CreateMessageRequestParams,
    ) -> Result<Option<CreateMessageResult>, ToolError> {
        if let Some(session) = &self.session
            && session.asks_by_input_required()
        {
            let Some(rounds) = &self.rounds else {
                return Ok(None);
            };
            let key = rounds.key("sample");
            if let Some(answer) =
                rounds.answer(&key, "The client's answer is not a sampled message.")
            {
                return answer.map(Some);
            }
            if !session.declared.sampling {
                return Ok(None);
            }
            rounds.ask(
                key,
                InputRequest::CreateMessage(CreateMessageRequest::new(request)),
            );
            return Err(input_pending());
        }
        let Some(session) = self.session.as_ref().filter(|session| session.samples()) else {
            return Ok(None);
        };
        let request = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(request));
        match send(&session.peer, request, ELICITATION_TIMEOUT).await {
            Ok(ClientResult::CreateMessageResult(result)) => Ok(Some(*result)),
            Ok(_) => Err(client_fault(ToolError::unavailable(
                ServiceError::UnexpectedResponse,
            ))),
            Err(ServiceError::Timeout { .. }) => {
                Err(client_fault(ToolError::timeout(ServiceError::Timeout {
                    timeout: ELICITATION_TIMEOUT,
                })))
            }
            Err(ServiceError::McpError(error)) => Err(ToolError::public(
                ErrorCategory::InvalidInput,
                "The client refused the sampling request.",
            )
            .with_source(error)),
            Err(error) => Err(client_fault(ToolError::unavailable(error))),
        }
    }
}

/// A failure of the client's (it did not answer, or its session failed): never counted
/// against the tool's dependency by its breaker.
fn client_fault(error: ToolError) -> ToolError {
    error.with_breaker_outcome(crate::breaker::Outcome::Ignored)
}

/// How severe `level` is, from `Debug` (0) up.
fn severity(level: LogLevel) -> u8 {
    match level {
        LogLevel::Debug => 0,
        LogLevel::Info => 1,
        LogLevel::Notice => 2,
        LogLevel::Warning => 3,
        LogLevel::Error => 4,
        LogLevel::Critical => 5,
        LogLevel::Alert => 6,
        LogLevel::Emergency => 7,
    }
}

/// Sends `request` to the client and waits for its answer, at most `timeout`.
async fn send(
    peer: &Peer<RoleServer>,
    request: ServerRequest,
    timeout: Duration,
) -> Result<ClientResult, ServiceError> {
    let mut options = PeerRequestOptions::no_options();
    options.timeout = Some(timeout);
    peer.send_request_with_option(request, options)
        .await?
        .await_response()
        .await
}

/// `text` cut to [`MAX_MESSAGE_BYTES`] at a character boundary.
fn capped(text: Cow<'static, str>) -> String {
    let mut text = text.into_owned();
    if text.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// What the runtime hands a handler once its call is authorized: the call's capability
/// (`()` for a read, the call's [`WriteAccess`](crate::WriteAccess) for a write tool) and
/// its [`CallContext`]. Only the runtime makes one; handlers written by hand for
/// [`SecureRoute`](crate::route::SecureRoute) take it as their last parameter.
#[derive(Debug)]
pub struct Grant<'call, C = ()> {
    capability: C,
    context: CallContext<'call>,
}

impl<'call, C> Grant<'call, C> {
    pub(crate) fn new(capability: C, context: CallContext<'call>) -> Self {
        Self {
            capability,
            context,
        }
    }

    /// The capability and the context.
    pub fn into_parts(self) -> (C, CallContext<'call>) {
        (self.capability, self.context)
    }

    /// The context of the call.
    pub fn context(&self) -> &CallContext<'call> {
        &self.context
    }
}

#[cfg(test)]
pub(crate) mod tests;

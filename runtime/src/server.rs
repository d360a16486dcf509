//! Serving secure tools with rmcp: the [`SecureServer`] that answers `tools/list` and
//! `tools/call` through a type's [routes](crate::route), its builder, the write gate of
//! read-only degradation, and the [`Manifest`] of what it serves.
//!
//! | file | job |
//! |---|---|
//! | `server.rs` | [`SecureServer`]: who the caller is, serving a transport, in-process calls |
//! | `server/builder.rs` | [`SecureServerBuilder`] |
//! | `server/handler.rs` | the `ServerHandler` implementation: tools here, the rest forwarded |
//! | `server/gate.rs` | the write gate, and the sessions told when the tool list changes |
//! | `server/manifest.rs` | [`Manifest`]: every tool's policy, mode, deadline and guards |
//!
//! ```no_run
//! use secure_tool::prelude::*;
//!
//! #[derive(Clone)]
//! struct Clock;
//!
//! #[derive(serde::Serialize, schemars::JsonSchema)]
//! struct Now {
//!     unix_seconds: u64,
//! }
//!
//! #[secure_tool_router]
//! impl Clock {
//!     /// The current time.
//!     #[secure_tool(authz = public, mode = read)]
//!     async fn now(&self) -> Result<Now, std::time::SystemTimeError> {
//!         let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
//!         Ok(Now { unix_seconds: since.as_secs() })
//!     }
//! }
//!
//! impl secure_tool::rmcp::ServerHandler for Clock {}
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let server = SecureServer::new(Clock).serve_stdio().await?;
//! server.waiting().await?;
//! # Ok(())
//! # }
//! ```

mod builder;
mod completions;
mod gate;
mod handler;
pub mod manifest;
#[cfg(feature = "metrics")]
mod metrics;
mod prompts;
mod resources;
#[cfg(feature = "oauth")]
mod step_up;
pub mod subscriptions;

pub use builder::SecureServerBuilder;
pub use manifest::Manifest;

use std::sync::Arc;
use std::time::Duration;

use rmcp::ErrorData as McpError;
use rmcp::ServerHandler;
use rmcp::model::{CallToolResult, JsonObject};
use rmcp::service::{RequestContext, RoleServer};

use crate::audit;
use crate::authz::{Policy, Principal};
use crate::route::{
    CallSettings, Invocation, SecureRoute, SecureToolRouter, SecureTools, WriteGateView,
};
use gate::WriteGate;

/// What is shared by every call of a [`SecureServer`].
#[derive(Clone, Debug)]
struct CallConfig {
    local_principal: Option<Principal>,
    authz_timeout: Duration,
    /// Every call must also pass this policy, before the tool's own.
    server_policy: Option<Policy>,
    tool_lists: ToolLists,
    /// Whether each structured output is checked against its tool's output schema.
    check_outputs: bool,
    /// The surfaces forwarded to the state's own handler, with the reason given for each.
    unguarded: Vec<(Unguarded, std::borrow::Cow<'static, str>)>,
    /// Each caller's bucket over every call it makes, if the server limits them.
    rate_limit: Option<std::sync::Arc<crate::rate::Limiter>>,
    /// The Cedar policy set the server's `cedar()` policies are bound to.
    #[cfg(feature = "cedar")]
    cedar: Option<crate::cedar::CedarPolicies>,
}

impl CallConfig {
    /// Whether `surface` is forwarded to the state's own handler.
    fn forwards(&self, surface: Unguarded) -> bool {
        self.unguarded.iter().any(|(s, _)| *s == surface)
    }
}

/// A part of the protocol that secure-tool does not guard, which the server forwards to
/// its state's own [`ServerHandler`] only when named with
/// [`SecureServerBuilder::with_unguarded`]: without it, the method answers "method not
/// found" and `initialize` does not advertise the capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Unguarded {
    /// `resources/list`, `resources/templates/list` and `resources/read` beyond the secure
    /// resources (which are always served first), `resources/subscribe` and
    /// `resources/unsubscribe`, and resource notifications on `subscriptions/listen`.
    Resources,
    /// `prompts/list`, `prompts/get`, and prompt notifications.
    Prompts,
    /// `completion/complete`.
    Completions,
    /// `logging/setLevel`.
    Logging,
    /// The tasks extension: `tasks/get`, `tasks/update`, `tasks/cancel`.
    Tasks,
    /// The skills extension: `skills/list`, `skills/get`, `resources/directory/read`.
    Skills,
    /// Requests and notifications of methods the protocol does not define (without it, a
    /// custom request is answered "method not found" and a custom notification is
    /// dropped).
    CustomRequests,
}

impl Unguarded {
    /// The surface's name, as the manifest and the startup warning write it.
    ///
    /// ```
    /// use secure_tool::server::Unguarded;
    /// assert_eq!(Unguarded::Prompts.as_str(), "prompts");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Resources => "resources",
            Self::Prompts => "prompts",
            Self::Completions => "completions",
            Self::Logging => "logging",
            Self::Tasks => "tasks",
            Self::Skills => "skills",
            Self::CustomRequests => "custom_requests",
        }
    }
}

/// Which tools `tools/list` shows each caller: see
/// [`SecureServerBuilder::tool_lists`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolLists {
    /// Every tool, to every caller (the default). A call the caller may not make is
    /// denied by the tool's policy, with the generic denial.
    #[default]
    All,
    /// Each caller sees only the tools whose policies (and the server's) its scopes and
    /// roles can satisfy ([`Policy::may_admit`]); a tool with a custom part that could
    /// let it in stays visible. Calling a hidden tool is answered exactly as calling one
    /// that does not exist. The list is marked `cacheScope: "private"`.
    PerCaller,
}

struct Inner<S> {
    state: S,
    tools: SecureToolRouter<S>,
    config: CallConfig,
    gate: Option<WriteGate>,
    /// The resource subscriptions of every session.
    subscriptions: subscriptions::Subscriptions,
    /// How many `subscriptions/listen` streams each caller holds open.
    listen_streams: crate::util::PerCaller,
    /// The log level each session asked for (`logging/setLevel`).
    log_levels: crate::context::LogLevels,
    /// The key and redemptions of confirmations on 2026-07-28 requests.
    confirmations: crate::confirm::Confirmations,
    /// Set once a request without an identity arrived on an untrusted transport while a
    /// local principal is configured: the warning is logged once.
    warned_untrusted: std::sync::atomic::AtomicBool,
    /// Whether calls are counted: on once a registry asked for the server's metrics.
    metrics: crate::metrics::Switch,
    /// Every scope a tool's policy or the server's names ([`SecureServer::scopes`]): a
    /// caller that holds them all can be asked to step up to none.
    scopes: Box<[Box<str>]>,
}

/// An rmcp server that serves the secure tools and resources of `S`. The rest of the
/// protocol (prompts, completions, logging, ...) is forwarded to `S`'s own
/// [`ServerHandler`] implementation only where the builder names it
/// ([`SecureServerBuilder::with_unguarded`]).
///
/// Cloning is cheap (one `Arc`), so it can be handed to rmcp's streamable HTTP service
/// factory.
pub struct SecureServer<S> {
    inner: Arc<Inner<S>>,
    /// Whether this copy serves a transport whose peer is the local caller
    /// ([`serve_stdio`](SecureServer::serve_stdio), [`serve_trusted`](SecureServer::serve_trusted)):
    /// only then does it hand out the local principal.
    trusted_transport: bool,
}

impl<S> Clone for SecureServer<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            trusted_transport: self.trusted_transport,
        }
    }
}

impl<S: SecureTools> SecureServer<S> {
    /// A server with the secure tools of `S` and default settings: no local principal
    /// (every call is anonymous unless the transport identifies the caller), a 2 s
    /// authorization deadline.
    pub fn new(state: S) -> Self {
        Self::builder(state).build()
    }

    /// A builder with the secure tools of `S`.
    pub fn builder(state: S) -> SecureServerBuilder<S> {
        SecureServerBuilder::with_router(state, S::secure_tool_router())
    }
}

impl<S: Send + Sync + 'static> SecureServer<S> {
    /// The server's state.
    pub fn state(&self) -> &S {
        &self.inner.state
    }

    /// Serves MCP over this process's stdin and stdout, as the local caller's own server:
    /// requests that carry no identity of their own are the
    /// [local principal](SecureServerBuilder::local_principal)'s. Ends when the client
    /// closes the stream; see rmcp's [`ServiceExt::serve`](rmcp::ServiceExt::serve).
    ///
    /// # Errors
    ///
    /// When the MCP initialization with the client fails.
    ///
    /// ```no_run
    /// use secure_tool::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Notes;
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Count { notes: u64 }
    /// #[secure_tool_router]
    /// impl Notes {
    ///     /// How many notes there are.
    ///     #[secure_tool(authz = scopes("notes:read"), mode = read)]
    ///     async fn count(&self) -> Result<Count, ToolError> { Ok(Count { notes: 0 }) }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Notes {}
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let owner = Principal::new("local-user").with_scopes(["notes:read"]);
    /// let server = SecureServer::builder(Notes).local_principal(owner).build();
    /// server.serve_stdio().await?.waiting().await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "stdio")]
    pub async fn serve_stdio(
        self,
    ) -> Result<rmcp::service::RunningService<RoleServer, Self>, rmcp::service::ServerInitializeError>
    where
        S: ServerHandler,
    {
        self.serve_trusted(crate::stdio::StdioTransport::stdio())
            .await
    }

    /// Serves MCP over `transport`, whose peer is trusted to be the local caller: requests
    /// that carry no identity of their own are the
    /// [local principal](SecureServerBuilder::local_principal)'s. Use it for a transport
    /// only that caller can open (stdio, an in-process duplex, a Unix socket with
    /// owner-only permissions); a transport served with rmcp's plain `serve` is anonymous
    /// unless it identifies its callers.
    ///
    /// # Errors
    ///
    /// When the MCP initialization with the client fails.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::rmcp::ServiceExt;
    /// use secure_tool::rmcp::model::CallToolRequestParams;
    ///
    /// #[derive(Clone)]
    /// struct Clock;
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Now { seconds: u64 }
    /// #[secure_tool_router]
    /// impl Clock {
    ///     /// The time.
    ///     #[secure_tool(authz = scopes("clock"), mode = read)]
    ///     async fn now(&self) -> Result<Now, ToolError> { Ok(Now { seconds: 0 }) }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Clock {}
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let owner = Principal::new("ada").with_scopes(["clock"]);
    /// let call = || CallToolRequestParams::new("now");
    ///
    /// // Served as the local caller's: the owner's scope applies.
    /// let server = SecureServer::builder(Clock).local_principal(owner.clone()).build();
    /// let (server_io, client_io) = tokio::io::duplex(4096);
    /// tokio::spawn(async move { server.serve_trusted(server_io).await.unwrap().waiting().await });
    /// let client = ().serve(client_io).await.unwrap();
    /// assert_eq!(client.call_tool(call()).await.unwrap().is_error, Some(false));
    ///
    /// // Served with rmcp's plain `serve`: the peer may be anyone, and is anonymous.
    /// let server = SecureServer::builder(Clock).local_principal(owner).build();
    /// let (server_io, client_io) = tokio::io::duplex(4096);
    /// tokio::spawn(async move { server.serve(server_io).await.unwrap().waiting().await });
    /// let client = ().serve(client_io).await.unwrap();
    /// assert_eq!(client.call_tool(call()).await.unwrap().is_error, Some(true));
    /// # }
    /// ```
    pub async fn serve_trusted<T, E, A>(
        mut self,
        transport: T,
    ) -> Result<rmcp::service::RunningService<RoleServer, Self>, rmcp::service::ServerInitializeError>
    where
        S: ServerHandler,
        T: rmcp::transport::IntoTransport<RoleServer, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.trusted_transport = true;
        rmcp::ServiceExt::serve(self, transport).await
    }

    /// The server's tools.
    pub fn tools(&self) -> &SecureToolRouter<S> {
        &self.inner.tools
    }

    /// Calls the secure tool `name` in-process as `principal`, without a transport, through
    /// the same guarded path as `tools/call` (authorization, deadline, breaker, error
    /// hygiene, audit). For tests, benchmarks and embedding.
    ///
    /// # Errors
    ///
    /// The JSON-RPC error `tools/call` would answer: "tool not found" for a name that is
    /// not a secure tool (unguarded tools need a transport's request context).
    ///
    /// ```
    /// use secure_tool::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Echo;
    ///
    /// #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
    /// struct Text { text: String }
    ///
    /// #[secure_tool_router]
    /// impl Echo {
    ///     /// Repeats the text.
    ///     #[secure_tool(authz = scopes("echo"), mode = read)]
    ///     async fn echo(&self, args: Text) -> Result<Text, ToolError> {
    ///         Ok(args)
    ///     }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Echo {}
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = SecureServer::new(Echo);
    /// let arguments = serde_json::json!({ "text": "hi" }).as_object().cloned();
    /// let allowed = Principal::new("ada").with_scopes(["echo"]);
    /// let result = server.call("echo", arguments.clone(), allowed).await.unwrap();
    /// assert_eq!(result.is_error, Some(false));
    /// let denied = server.call("echo", arguments, Principal::anonymous()).await.unwrap();
    /// assert_eq!(denied.is_error, Some(true));
    /// # }
    /// ```
    pub async fn call(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        principal: Principal,
    ) -> Result<CallToolResult, McpError> {
        self.call_in_process(name, arguments, principal, false)
            .await
    }

    /// [`call`](Self::call), for a caller that has asked the user itself: a tool declared
    /// with `confirm = ...` runs without asking again (through `call`, with no session to
    /// ask through, it is refused as unsupported). Everything else is the same: the
    /// policy, the write gate, the arguments' checks. The audit event records the call as
    /// any other; keep this for the server's own code (a command line that asked at its
    /// prompt), never for requests relayed from a client.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Id { id: u64 }
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Done { id: u64 }
    ///
    /// struct Notes;
    /// #[secure_tool_router]
    /// impl Notes {
    ///     /// Deletes a note.
    ///     #[secure_tool(authz = scopes("notes:write"), mode = write, confirm = "Delete note {id}?")]
    ///     async fn delete(&self, args: Id, _access: WriteAccess<'_>) -> Result<Done, ToolError> {
    ///         Ok(Done { id: args.id })
    ///     }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Notes {}
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = SecureServer::new(Notes);
    /// let writer = Principal::new("ada").with_scopes(["notes:write"]);
    /// let arguments = serde_json::json!({ "id": 7 }).as_object().cloned();
    /// let asked = server.call("delete", arguments.clone(), writer.clone()).await.unwrap();
    /// assert_eq!(asked.is_error, Some(true)); // no session to ask the user through
    /// let done = server.call_confirmed("delete", arguments, writer).await.unwrap();
    /// assert_eq!(done.is_error, Some(false));
    /// # }
    /// ```
    pub async fn call_confirmed(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        principal: Principal,
    ) -> Result<CallToolResult, McpError> {
        self.call_in_process(name, arguments, principal, true).await
    }

    /// An in-process call of `name`, as confirmed by the caller or not.
    async fn call_in_process(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        principal: Principal,
        confirmed: bool,
    ) -> Result<CallToolResult, McpError> {
        let inner = &*self.inner;
        let route = inner
            .tools
            .routes
            .get(name)
            .filter(|route| self.shows(route, &principal))
            .ok_or_else(unknown_tool)?;
        let mut invocation = Invocation::new(
            &inner.state,
            route,
            arguments,
            principal,
            self.call_settings(),
        );
        if confirmed {
            invocation = invocation.confirmed_by_caller();
        }
        Ok(in_process((route.call)(invocation).await))
    }

    /// [`call`](Self::call) with `policy` in place of the tool's own, a policy deadline of
    /// `authz_timeout`, and a count of the calls that reached the handler: the probe of the
    /// fail-closed audit. Crate-private: replacing a policy is only ever done with
    /// policies that never allow.
    #[cfg(feature = "testing")]
    pub(crate) async fn call_probed(
        &self,
        route: &SecureRoute<S>,
        arguments: Option<JsonObject>,
        principal: Principal,
        probe: (&Policy, Duration, &std::sync::atomic::AtomicUsize),
    ) -> CallToolResult {
        let (policy, authz_timeout, reached) = probe;
        let invocation = Invocation::new(
            &self.inner.state,
            route,
            arguments,
            principal,
            self.call_settings(),
        )
        .probed(policy, authz_timeout, reached);
        in_process((route.call)(invocation).await)
    }

    /// Who a call with this request context is: over HTTP (the context holds the request's
    /// `http::request::Parts`) the principal an authentication layer put into the
    /// request's extensions, or anonymous; otherwise a `Principal` in the context's own
    /// extensions, else, on a transport served as the local caller's
    /// ([`serve_stdio`](Self::serve_stdio), [`serve_trusted`](Self::serve_trusted)), the
    /// configured local principal, else anonymous. The local principal is never handed to
    /// HTTP requests, nor to a transport served with rmcp's plain `serve` (a TCP socket,
    /// say), whose peer may be anyone.
    /// The names of the tools `principal` is shown by `tools/list`, sorted: every tool,
    /// unless the server has [per-caller lists](SecureServerBuilder::tool_lists).
    pub fn tool_names_for(&self, principal: &Principal) -> Vec<String> {
        self.tools_for(principal)
            .into_iter()
            .map(|tool| tool.name.into_owned())
            .collect()
    }

    /// The tools `principal` is shown, sorted by name; rmcp tools served through the
    /// escape hatch are shown to everyone.
    fn tools_for(&self, principal: &Principal) -> Vec<rmcp::model::Tool> {
        let tools = &self.inner.tools;
        let mut shown = tools.list();
        shown.retain(|tool| {
            tools
                .routes
                .get(tool.name.as_ref())
                .is_none_or(|route| self.shows(route, principal))
        });
        shown
    }

    /// Whether `principal` may see `route` in its tool list (and call it by name).
    fn shows(&self, route: &SecureRoute<S>, principal: &Principal) -> bool {
        let config = &self.inner.config;
        config.tool_lists == ToolLists::All
            || (config
                .server_policy
                .as_ref()
                .is_none_or(|policy| policy.may_admit(principal))
                && route.spec.policy.may_admit(principal))
    }

    fn call_settings(&self) -> CallSettings<'_> {
        CallSettings {
            authz_timeout: self.inner.config.authz_timeout,
            server_policy: self.inner.config.server_policy.as_ref(),
            write_gate: self.inner.gate.as_ref().map(|gate| WriteGateView {
                monitor: &gate.monitor,
                read_tools: &gate.read_tools,
            }),
            check_outputs: self.inner.config.check_outputs,
            confirmations: &self.inner.confirmations,
            rate_limit: self.inner.config.rate_limit.as_deref(),
            metrics: self.inner.metrics.on(),
        }
    }

    /// The session a request came in on, as a call's context shows it to the handler.
    fn session(&self, context: &RequestContext<RoleServer>) -> crate::context::Session {
        let level = self.inner.log_levels.get(&context.peer);
        crate::context::Session::of(context, level)
    }

    fn principal(&self, context: &RequestContext<RoleServer>) -> Principal {
        if let Some(parts) = context.extensions.get::<http::request::Parts>() {
            return parts
                .extensions
                .get::<Principal>()
                .cloned()
                .unwrap_or_default();
        }
        if let Some(principal) = context.extensions.get::<Principal>() {
            return principal.clone();
        }
        match &self.inner.config.local_principal {
            Some(local) if self.trusted_transport => local.clone(),
            Some(_) => {
                if !self
                    .inner
                    .warned_untrusted
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::warn!(
                        target: audit::TARGET,
                        "a local principal is configured, but this transport was not served \
                         with `serve_stdio` or `serve_trusted`: its callers are anonymous"
                    );
                }
                Principal::anonymous()
            }
            None => Principal::anonymous(),
        }
    }
}

/// An in-process call's result: a call without a session never asks for input (its
/// confirmation is refused as unsupported), so anything but a result is an internal
/// failure.
fn in_process(response: rmcp::model::CallToolResponse) -> CallToolResult {
    match response {
        rmcp::model::CallToolResponse::Complete(result) => result,
        _ => crate::sanitize::SafeError::new(
            crate::ErrorCategory::Internal,
            None,
            crate::sanitize::IncidentId::new(),
        )
        .to_result(),
    }
}

/// The answer to a call of a tool that does not exist, or that the caller may not see:
/// the same, so that the answer does not tell them apart. The name is not repeated.
pub(crate) fn unknown_tool() -> McpError {
    McpError::invalid_params("tool not found", None)
}

pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;

//! Serving secure tools with rmcp: the router of a server's secure tools, the
//! [`SecureServer`] that answers `tools/list` and `tools/call` through it, and the guarded
//! call path every tool goes through.
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

mod call;
mod delegate;
mod gate;
pub mod manifest;
mod route;
mod schema;

pub use manifest::Manifest;
#[cfg(all(test, feature = "testing"))]
pub(crate) use route::route_fn;
pub use route::{
    ArgumentsType, BoxFuture, DEFAULT_MAX_CONCURRENT_CALLS, DependencyFn, ErrorType, Handler,
    NoArguments, OutputType, SecureRoute, ToolArguments, ToolOutput, ToolSpec, ToolTypes,
};

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rmcp::ErrorData as McpError;
use rmcp::ServerHandler;
use rmcp::handler::server::tool::{ToolCallContext, ToolRouter};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, JsonObject, ListToolsResult,
    ServerConfig, Tool, ToolsCapability,
};
use rmcp::service::{RequestContext, RoleServer};

use crate::audit;
use crate::authz::{DEFAULT_AUTHZ_TIMEOUT, Mode, Policy, Principal};
use crate::bulkhead::Bulkhead;
use crate::health::{HealthMonitor, ServicePath, Status};
use call::Invocation;
use gate::WriteGate;

/// A server type whose tools are all secure tools: implemented by
/// `#[secure_tool_router]` on the `impl` block that holds the `#[secure_tool]` handlers.
pub trait SecureTools: Sized + Send + Sync + 'static {
    /// The router of every secure tool of this type.
    fn secure_tool_router() -> SecureToolRouter<Self>;
}

/// The secure tools of a server type `S`, plus any plain rmcp tools added through the
/// explicit escape hatch [`SecureToolRouter::with_unguarded_tools`].
///
/// `#[secure_tool_router]` builds one; routers combine with `+`.
pub struct SecureToolRouter<S> {
    routes: HashMap<Cow<'static, str>, SecureRoute<S>>,
    unguarded: Option<(ToolRouter<S>, Cow<'static, str>)>,
}

impl<S> Default for SecureToolRouter<S> {
    fn default() -> Self {
        Self {
            routes: HashMap::new(),
            unguarded: None,
        }
    }
}

impl<S> Clone for SecureToolRouter<S> {
    fn clone(&self) -> Self {
        Self {
            routes: self.routes.clone(),
            unguarded: self.unguarded.clone(),
        }
    }
}

impl<S: Send + Sync + 'static> fmt::Debug for SecureToolRouter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.routes.keys().collect();
        names.sort();
        f.debug_struct("SecureToolRouter")
            .field("secure", &names)
            .field(
                "unguarded",
                &self
                    .unguarded
                    .as_ref()
                    .map(|(r, why)| (r.list_all().len(), why)),
            )
            .finish()
    }
}

impl<S: Send + Sync + 'static> SecureToolRouter<S> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secure route.
    ///
    /// # Panics
    ///
    /// If a tool with the same name is already registered: two handlers for one name would
    /// make which one runs (and under which policy) depend on registration order.
    pub fn with_route(mut self, route: SecureRoute<S>) -> Self {
        let name = route.spec.name.clone();
        if self.routes.insert(name.clone(), route).is_some() {
            panic!("two secure tools are named `{name}`");
        }
        self
    }

    /// **Escape hatch**: serves the plain rmcp tools of `router` beside the secure ones,
    /// *without* authorization, error hygiene or any other guarantee of this crate.
    ///
    /// `reason` says why this is acceptable (it is logged at startup and shown in the
    /// manifest). Secure tools win name clashes. Use it for tools that expose nothing
    /// (a liveness probe), never as a way around a policy.
    ///
    /// ```
    /// use secure_tool::rmcp::{tool, tool_router, handler::server::tool::ToolRouter};
    /// use secure_tool::server::SecureToolRouter;
    ///
    /// struct Server;
    /// #[tool_router(router = plain_tools)]
    /// impl Server {
    ///     #[tool(description = "Liveness probe")]
    ///     fn ping(&self) -> String { "pong".into() }
    /// }
    ///
    /// let router = SecureToolRouter::<Server>::new()
    ///     .with_unguarded_tools(Server::plain_tools(), "liveness probe, returns a constant");
    /// assert_eq!(router.unguarded_tool_names(), vec!["ping".to_string()]);
    /// ```
    pub fn with_unguarded_tools(
        mut self,
        router: ToolRouter<S>,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        let reason = reason.into();
        for tool in router.list_all() {
            tracing::warn!(
                target: "secure_tool::server",
                tool = %tool.name,
                reason = %reason,
                "serving a plain rmcp tool without secure-tool's guard"
            );
        }
        match &mut self.unguarded {
            Some((existing, _)) => existing.merge(router),
            None => self.unguarded = Some((router, reason)),
        }
        self
    }

    /// The names of the secure tools, sorted.
    pub fn tool_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.routes.keys().map(|n| n.to_string()).collect();
        names.sort();
        names
    }

    /// The names of the unguarded tools added by [`Self::with_unguarded_tools`], sorted.
    pub fn unguarded_tool_names(&self) -> Vec<String> {
        self.unguarded
            .as_ref()
            .map(|(r, _)| {
                r.list_all()
                    .into_iter()
                    .map(|t| t.name.to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The secure route named `name`.
    pub fn route(&self, name: &str) -> Option<&SecureRoute<S>> {
        self.routes.get(name)
    }

    /// Every secure route, sorted by name.
    pub fn routes(&self) -> Vec<&SecureRoute<S>> {
        let mut routes: Vec<_> = self.routes.values().collect();
        routes.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        routes
    }

    fn list(&self) -> Vec<Tool> {
        let mut tools: Vec<Tool> = self.routes.values().map(|r| r.tool.clone()).collect();
        if let Some((unguarded, _)) = &self.unguarded {
            tools.extend(
                unguarded
                    .list_all()
                    .into_iter()
                    .filter(|t| !self.routes.contains_key(&t.name)),
            );
        }
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        tools
    }
}

impl<S: Send + Sync + 'static> std::ops::Add for SecureToolRouter<S> {
    type Output = Self;

    fn add(mut self, other: Self) -> Self {
        for route in other.routes.into_values() {
            self = self.with_route(route);
        }
        if let Some((router, reason)) = other.unguarded {
            self = self.with_unguarded_tools(router, reason);
        }
        self
    }
}

/// What is shared by every call of a [`SecureServer`].
#[derive(Clone, Debug)]
struct CallConfig {
    local_principal: Option<Principal>,
    authz_timeout: Duration,
    /// Every call must also pass this policy, before the tool's own.
    server_policy: Option<Policy>,
}

struct Inner<S> {
    state: S,
    tools: SecureToolRouter<S>,
    config: CallConfig,
    gate: Option<WriteGate>,
    /// Set once a request without an identity arrived on an untrusted transport while a
    /// local principal is configured: the warning is logged once.
    warned_untrusted: std::sync::atomic::AtomicBool,
}

/// An rmcp server that serves the secure tools of `S` and forwards everything else
/// (prompts, resources, ...) to `S`'s own [`ServerHandler`] implementation.
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
        let inner = &*self.inner;
        let route = inner
            .tools
            .routes
            .get(name)
            .ok_or_else(|| McpError::invalid_params("tool not found", None))?;
        let invocation = Invocation {
            this: &inner.state,
            route,
            arguments,
            principal,
            authz_timeout: inner.config.authz_timeout,
            gate: inner.gate.as_ref(),
            policy: &route.spec.policy,
            reached: None,
            server_policy: inner.config.server_policy.as_ref(),
        };
        Ok((route.call)(invocation).await)
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
        let invocation = Invocation {
            this: &self.inner.state,
            route,
            arguments,
            principal,
            authz_timeout,
            gate: self.inner.gate.as_ref(),
            policy,
            reached: Some(reached),
            // The audit is about each tool's own policy failing.
            server_policy: None,
        };
        (route.call)(invocation).await
    }

    /// Who a call with this request context is: over HTTP (the context holds the request's
    /// `http::request::Parts`) the principal an authentication layer put into the
    /// request's extensions, or anonymous; otherwise a `Principal` in the context's own
    /// extensions, else, on a transport served as the local caller's
    /// ([`serve_stdio`](Self::serve_stdio), [`serve_trusted`](Self::serve_trusted)), the
    /// configured local principal, else anonymous. The local principal is never handed to
    /// HTTP requests, nor to a transport served with rmcp's plain `serve` (a TCP socket,
    /// say), whose peer may be anyone.
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

/// Configures a [`SecureServer`].
pub struct SecureServerBuilder<S> {
    state: S,
    tools: SecureToolRouter<S>,
    config: CallConfig,
    health: Option<HealthMonitor>,
}

impl<S: Send + Sync + 'static> SecureServerBuilder<S> {
    /// A builder serving `tools` (for routers built by hand or combined with `+`).
    pub fn with_router(state: S, tools: SecureToolRouter<S>) -> Self {
        Self {
            state,
            tools,
            config: CallConfig {
                local_principal: None,
                authz_timeout: DEFAULT_AUTHZ_TIMEOUT,
                server_policy: None,
            },
            health: None,
        }
    }

    /// Every call of every secure tool must also pass `policy`, decided before the tool's
    /// own policy and under the same deadline and fail-closed rules: a lockout during an
    /// incident, a tenant allowlist, or a failing policy in a fault-injection test. It can
    /// only deny more: a call runs when both policies allow.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::authz::roles;
    ///
    /// #[derive(Clone)]
    /// struct Echo;
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Pong { ok: bool }
    /// #[secure_tool_router]
    /// impl Echo {
    ///     /// Answers.
    ///     #[secure_tool(authz = public, mode = read)]
    ///     async fn ping(&self) -> Result<Pong, ToolError> { Ok(Pong { ok: true }) }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Echo {}
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // During an incident, only on-call engineers may use any tool.
    /// let server = SecureServer::builder(Echo).server_policy(roles("on-call")).build();
    /// let anyone = Principal::new("ada");
    /// let denied = server.call("ping", None, anyone).await.unwrap();
    /// assert_eq!(denied.is_error, Some(true));
    /// let on_call = Principal::new("bob").with_roles(["on-call"]);
    /// assert_eq!(server.call("ping", None, on_call).await.unwrap().is_error, Some(false));
    /// # }
    /// ```
    pub fn server_policy(mut self, policy: impl crate::authz::IntoPolicy) -> Self {
        self.config.server_policy = Some(policy.into_policy());
        self
    }

    /// The principal of the local caller, whoever started the server: handed only to
    /// requests without an identity of their own on a transport served with
    /// [`SecureServer::serve_stdio`] or [`SecureServer::serve_trusted`]. Never to HTTP
    /// requests, which must carry their own, nor to a transport served with rmcp's plain
    /// `serve` (a TCP socket's peer may be anyone): their callers are anonymous.
    pub fn local_principal(mut self, principal: Principal) -> Self {
        self.config.local_principal = Some(principal);
        self
    }

    /// How long a policy may take to decide before the call is denied (default 2 s).
    pub fn authz_timeout(mut self, timeout: Duration) -> Self {
        self.config.authz_timeout = timeout;
        self
    }

    /// Degrades to read-only when `monitor` says writes are degraded: `mode = write` tools
    /// answer a "degraded" error result naming the read tools that still work,
    /// `tools/list` marks them, and clients get `notifications/tools/list_changed` on
    /// degrade and on recovery. Start the monitor's probes with
    /// [`HealthMonitor::start`].
    pub fn health(mut self, monitor: HealthMonitor) -> Self {
        self.health = Some(monitor);
        self
    }

    /// Caps the concurrent calls of every tool that does not set its own cap
    /// ([`ToolSpec::with_max_concurrent`]) at `max` (default 64). A call over the cap is
    /// answered `overloaded` (retryable) at once, without running; a tool that names a
    /// dependency is also bounded by the dependency's bulkhead. The manifest shows each
    /// tool's cap.
    ///
    /// # Panics
    ///
    /// If `max` is zero: every call would be refused.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Reports;
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Report { rows: u64 }
    /// #[secure_tool_router]
    /// impl Reports {
    ///     /// Builds the monthly report.
    ///     #[secure_tool(authz = scopes("reports:read"), mode = read)]
    ///     async fn monthly(&self) -> Result<Report, ToolError> { Ok(Report { rows: 0 }) }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Reports {}
    ///
    /// let server = SecureServer::builder(Reports).max_concurrent_calls(4).build();
    /// assert_eq!(server.manifest().tools[0].max_concurrent_calls, 4);
    /// ```
    pub fn max_concurrent_calls(mut self, max: usize) -> Self {
        assert!(
            max > 0,
            "the concurrency cap of tools must be more than zero"
        );
        for route in self.tools.routes.values_mut() {
            if route.spec.max_concurrent.is_none() {
                route.calls = Bulkhead::new(route.spec.name.clone().into_owned(), max);
            }
        }
        self
    }

    /// Builds the server. A policy with an empty requirement (a scope or role list read
    /// from a configuration that came back empty) denies every caller; each one is logged
    /// here as a warning naming its tool, and shown as `deny: ...` in the manifest. So is
    /// each write tool open to anonymous callers, with the reason its
    /// [`public_because`](crate::authz::public_because) gives.
    pub fn build(self) -> SecureServer<S> {
        warn_of_empty_requirements(&self.tools, self.config.server_policy.as_ref());
        warn_of_public_writes(&self.tools);
        let gate = self.health.map(|monitor| WriteGate {
            monitor,
            read_tools: self
                .tools
                .routes()
                .into_iter()
                .filter(|route| route.spec.mode == Mode::Read)
                .map(|route| route.spec.name.to_string())
                .collect(),
            peers: Default::default(),
            sinks: Default::default(),
            watcher: Default::default(),
        });
        SecureServer {
            inner: Arc::new(Inner {
                state: self.state,
                tools: self.tools,
                config: self.config,
                warned_untrusted: std::sync::atomic::AtomicBool::new(false),
                gate,
            }),
            trusted_transport: false,
        }
    }
}

/// One warning per policy with an empty requirement: the tool it guards can never be used.
fn warn_of_empty_requirements<S: Send + Sync + 'static>(
    tools: &SecureToolRouter<S>,
    server_policy: Option<&Policy>,
) {
    let policies = tools
        .routes()
        .into_iter()
        .map(|route| (&*route.spec.name, &route.spec.policy))
        .chain(server_policy.map(|policy| ("every tool (server policy)", policy)));
    for (tool, policy) in policies {
        let empty = policy.empty_requirements();
        if !empty.is_empty() {
            tracing::warn!(
                tool,
                %policy,
                empty_requirement = %empty.join(", "),
                "the policy has an empty requirement: it denies every caller"
            );
        }
    }
}

/// One warning per write tool that anonymous callers may call, with the reason given.
fn warn_of_public_writes<S: Send + Sync + 'static>(tools: &SecureToolRouter<S>) {
    for route in tools.routes() {
        let (spec, policy) = (&route.spec, &route.spec.policy);
        if spec.mode == Mode::Write && policy.admits_anonymous() {
            tracing::warn!(
                tool = %spec.name,
                reason = %policy.public_reasons().join("; "),
                "write tool open to anonymous callers"
            );
        }
    }
}

fn get_info<S: ServerHandler>(server: &SecureServer<S>) -> ServerConfig {
    let mut info = server.inner.state.get_info();
    let tools = info
        .capabilities
        .tools
        .get_or_insert_with(ToolsCapability::default);
    if server.inner.gate.is_some() {
        // Write tools change when writes degrade and recover.
        tools.list_changed = Some(true);
    }
    info
}

/// What `tools/list` shows of a write tool while writes are degraded.
const DEGRADED_PREFIX: &str =
    "[Temporarily unavailable: writes are degraded; read tools still work.] ";

fn list_tools<S: Send + Sync + 'static>(server: &SecureServer<S>) -> ListToolsResult {
    let mut tools = server.inner.tools.list();
    if let Some(gate) = &server.inner.gate
        && gate.monitor.status(ServicePath::Writes) == Status::Degraded
    {
        for tool in &mut tools {
            let write = server
                .inner
                .tools
                .routes
                .get(tool.name.as_ref())
                .is_some_and(|route| route.spec.mode == Mode::Write);
            if write {
                let description = tool.description.as_deref().unwrap_or_default();
                tool.description = Some(format!("{DEGRADED_PREFIX}{description}").into());
            }
        }
    }
    ListToolsResult::with_all_items(tools)
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn get_tool<S: Send + Sync + 'static>(server: &SecureServer<S>, name: &str) -> Option<Tool> {
    server
        .inner
        .tools
        .list()
        .into_iter()
        .find(|t| t.name == name)
}

async fn call_tool<S: Send + Sync + 'static>(
    server: &SecureServer<S>,
    request: CallToolRequestParams,
    context: RequestContext<RoleServer>,
) -> Result<CallToolResponse, McpError> {
    let inner = &*server.inner;
    if let Some(route) = inner.tools.routes.get(request.name.as_ref()) {
        let invocation = Invocation {
            this: &inner.state,
            route,
            arguments: request.arguments,
            principal: server.principal(&context),
            authz_timeout: inner.config.authz_timeout,
            gate: inner.gate.as_ref(),
            policy: &route.spec.policy,
            reached: None,
            server_policy: inner.config.server_policy.as_ref(),
        };
        // rmcp only signals a client's `notifications/cancelled` through the token and keeps
        // polling the handler: drop the call instead, so that it releases its breaker
        // permit and bulkhead slot now rather than at its deadline.
        return tokio::select! {
            biased;
            result = (route.call)(invocation) => Ok(result.into()),
            () = context.ct.cancelled() => {
                tracing::info!(
                    target: "secure_tool::audit",
                    tool = %request.name,
                    outcome = "cancelled",
                    "tool call cancelled by the client"
                );
                Err(McpError::invalid_request("request cancelled", None))
            }
        };
    }
    if let Some((unguarded, _)) = &inner.tools.unguarded
        && unguarded.has_route(&request.name)
    {
        return unguarded
            .call(ToolCallContext::new(&inner.state, request, context))
            .await;
    }
    Err(McpError::invalid_params("tool not found", None))
}

#[cfg(test)]
mod tests;

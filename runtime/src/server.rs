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

mod delegate;
pub mod manifest;
mod schema;

pub use manifest::Manifest;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use rmcp::ErrorData as McpError;
use rmcp::ServerHandler;
use rmcp::handler::server::tool::{
    ToolCallContext, ToolRouter, schema_for_input, schema_for_output,
};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject,
    ListToolsResult, ServerConfig, Tool, ToolAnnotations, ToolsCapability,
};
use rmcp::service::{RequestContext, RoleServer};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::audit::{self, Outcome};
use crate::authz::{AccessRequest, DEFAULT_AUTHZ_TIMEOUT, Mode, Policy, Principal};
use crate::capability::WriteAccess;
use crate::health::{HealthMonitor, Path as HealthPath, Status};
use crate::resilience::{Guards, Limits, Panicked};
use crate::sanitize::{ErrorCategory, IncidentId, IntoToolError, SafeError, ToolError};

/// A server type whose tools are all secure tools: implemented by
/// `#[secure_tool_router]` on the `impl` block that holds the `#[secure_tool]` handlers.
pub trait SecureTools: Sized + Send + Sync + 'static {
    /// The router of every secure tool of this type.
    fn secure_tool_router() -> SecureToolRouter<Self>;
}

/// What the caller of a tool may send as its arguments.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the arguments of a `#[secure_tool]` handler",
    label = "tool arguments must implement `serde::Deserialize` and `schemars::JsonSchema`",
    note = "add `#[derive(serde::Deserialize, schemars::JsonSchema)]` to the arguments struct: the schema is what `tools/list` advertises and the only shape accepted"
)]
pub trait ToolArguments: DeserializeOwned + JsonSchema + Send + 'static {}

impl<T: DeserializeOwned + JsonSchema + Send + 'static> ToolArguments for T {}

/// What a tool may return on success.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of a `#[secure_tool]` handler",
    label = "tool results must implement `serde::Serialize` and `schemars::JsonSchema`",
    note = "add `#[derive(serde::Serialize, schemars::JsonSchema)]`: the schema is advertised as the tool's output schema"
)]
pub trait ToolOutput: Serialize + JsonSchema + Send + 'static {}

impl<T: Serialize + JsonSchema + Send + 'static> ToolOutput for T {}

/// The arguments of a tool that takes none: an empty object (extra fields are ignored).
#[derive(Clone, Copy, Debug, Default, serde::Deserialize, JsonSchema)]
pub struct NoArguments {}

/// The static description of one secure tool, produced by `#[secure_tool]`.
#[derive(Clone, Debug)]
pub struct ToolSpec {
    name: Cow<'static, str>,
    mode: Mode,
    policy: Policy,
    title: Option<Cow<'static, str>>,
    description: Option<Cow<'static, str>>,
    timeout: Duration,
}

impl ToolSpec {
    /// A tool named `name`, in `mode`, guarded by `policy`.
    ///
    /// ```
    /// use secure_tool::authz::{scopes, Mode};
    /// use secure_tool::server::ToolSpec;
    /// let spec = ToolSpec::new("get_note", Mode::Read, scopes("notes:read"))
    ///     .with_description("Reads a note.");
    /// assert_eq!(spec.name(), "get_note");
    /// ```
    pub fn new(name: impl Into<Cow<'static, str>>, mode: Mode, policy: Policy) -> Self {
        Self {
            name: name.into(),
            mode,
            policy,
            title: None,
            description: None,
            timeout: crate::resilience::DEFAULT_TIMEOUT,
        }
    }

    /// Sets the human-readable title.
    pub fn with_title(mut self, title: impl Into<Cow<'static, str>>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the description shown to the model.
    pub fn with_description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the deadline of every call (default
    /// [`DEFAULT_TIMEOUT`](crate::resilience::DEFAULT_TIMEOUT), 30 s).
    ///
    /// # Panics
    ///
    /// If `timeout` is zero: every call would time out.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::authz::{public, Mode};
    /// use secure_tool::server::ToolSpec;
    /// let spec = ToolSpec::new("ping", Mode::Read, public()).with_timeout(Duration::from_secs(2));
    /// assert_eq!(spec.timeout(), Duration::from_secs(2));
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        assert!(
            !timeout.is_zero(),
            "the timeout of tool `{}` must be more than zero",
            self.name
        );
        self.timeout = timeout;
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The deadline of every call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The tool's mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The tool's authorization policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

/// A boxed future, as stored in routes.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The entry point of one route: runs the guarded call for one invocation. Made only by
/// [`SecureRoute::read`] and [`SecureRoute::write`], around the guarded call.
pub(crate) type RouteFn<S> =
    Arc<dyn for<'a> Fn(Invocation<'a, S>) -> BoxFuture<'a, CallToolResult> + Send + Sync>;

pub(crate) fn route_fn<S, F>(call: F) -> RouteFn<S>
where
    F: for<'a> Fn(Invocation<'a, S>) -> BoxFuture<'a, CallToolResult> + Send + Sync + 'static,
{
    Arc::new(call)
}

/// What the guarded call needs to know of a tool's argument, result and error types,
/// captured where the trait bounds are checked: once, at the user's types.
pub struct ToolTypes<A, T, E> {
    parse: fn(Option<JsonObject>) -> Result<A, String>,
    render: fn(&T, bool) -> Result<CallToolResult, serde_json::Error>,
    into_error: fn(E) -> ToolError,
    input_schema: fn() -> Result<Arc<JsonObject>, String>,
    output_schema: fn() -> Arc<JsonObject>,
}

impl<A, T, E> Clone for ToolTypes<A, T, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, T, E> Copy for ToolTypes<A, T, E> {}

impl<A, T, E> ToolTypes<A, T, E> {
    /// The types of a tool taking `A` and returning `Result<T, E>`, from their parts (each
    /// checked on its own, so that a wrong type is reported once, at the type).
    pub fn new(arguments: ArgumentsType<A>, output: OutputType<T>, error: ErrorType<E>) -> Self {
        Self {
            parse: arguments.parse,
            render: output.render,
            into_error: error.into_error,
            input_schema: arguments.schema,
            output_schema: output.schema,
        }
    }
}

/// Proof that `A` can be a tool's arguments, with what the guarded call needs of it.
pub struct ArgumentsType<A> {
    parse: fn(Option<JsonObject>) -> Result<A, String>,
    schema: fn() -> Result<Arc<JsonObject>, String>,
}

impl<A: ToolArguments> Default for ArgumentsType<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: ToolArguments> ArgumentsType<A> {
    /// The arguments type `A`.
    pub fn new() -> Self {
        Self {
            parse: parse_arguments::<A>,
            schema: schema_for_input::<A>,
        }
    }
}

/// Proof that `T` can be a tool's result, with what the guarded call needs of it.
pub struct OutputType<T> {
    render: fn(&T, bool) -> Result<CallToolResult, serde_json::Error>,
    schema: fn() -> Arc<JsonObject>,
}

impl<T: ToolOutput> Default for OutputType<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ToolOutput> OutputType<T> {
    /// The result type `T`.
    pub fn new() -> Self {
        Self {
            render: success_result::<T>,
            schema: schema_for_output::<T>,
        }
    }
}

/// Proof that `E` can be a tool's error, with what the guarded call needs of it.
pub struct ErrorType<E> {
    into_error: fn(E) -> ToolError,
}

impl<E: IntoToolError> Default for ErrorType<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: IntoToolError> ErrorType<E> {
    /// The error type `E`.
    pub fn new() -> Self {
        Self {
            into_error: E::into_tool_error,
        }
    }
}

/// One secure tool: its spec, its MCP description and its guarded entry point.
pub struct SecureRoute<S> {
    spec: Arc<ToolSpec>,
    tool: Tool,
    structured: bool,
    call: RouteFn<S>,
    dependency: Option<DependencyFn<S>>,
}

/// Where a tool's dependency lives in the server's state (`breaker = ...`).
pub type DependencyFn<S> = for<'a> fn(&'a S) -> Guards<'a>;

impl<S> Clone for SecureRoute<S> {
    fn clone(&self) -> Self {
        Self {
            spec: self.spec.clone(),
            tool: self.tool.clone(),
            structured: self.structured,
            call: self.call.clone(),
            dependency: self.dependency,
        }
    }
}

impl<S> fmt::Debug for SecureRoute<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecureRoute")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// A tool's handler as its route calls it: the server's state, the parsed arguments, and
/// the capability of the call (`()` for a read tool, the call's [`WriteAccess`] for a write
/// tool), borrowed for the call. Implemented by every `Copy` function of that shape (the
/// `#[secure_tool]` macro passes a function item); see [`SecureRoute::read`].
///
/// [`WriteAccess`]: crate::capability::WriteAccess
pub trait Handler<'a, S: 'a, A, C, Out>: Copy + Send + Sync + 'static {
    /// The handler's future.
    type Future: Future<Output = Out> + Send + 'a;

    /// Calls the handler.
    fn call(self, state: &'a S, arguments: A, capability: C) -> Self::Future;
}

impl<'a, S: 'a, A, C, Out, F, Fut> Handler<'a, S, A, C, Out> for F
where
    F: Fn(&'a S, A, C) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Out> + Send + 'a,
{
    type Future = Fut;

    #[inline]
    fn call(self, state: &'a S, arguments: A, capability: C) -> Fut {
        self(state, arguments, capability)
    }
}

impl<S: Send + Sync + 'static> SecureRoute<S> {
    /// The route of a `mode = read` tool taking `A` and returning `Result<T, E>`: every call
    /// goes through the guarded path (authorization first, then the arguments, the
    /// deadline, the dependency's breaker and bulkhead, panics caught, error hygiene, one
    /// audit event), and `handler` runs only when it lets the call through. Nothing else
    /// makes a route: there is no way to build one whose calls skip their policy.
    ///
    /// # Panics
    ///
    /// If `spec` is not a `mode = read` tool, or the schema of `A` is not an object schema
    /// (MCP requires tool arguments to be a JSON object): use a struct with named fields.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::authz::scopes;
    /// use secure_tool::server::{ArgumentsType, ErrorType, NoArguments, OutputType};
    /// use secure_tool::server::{SecureRoute, SecureToolRouter, ToolSpec, ToolTypes};
    ///
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Count { notes: u64 }
    ///
    /// struct Notes;
    /// async fn count(_: &Notes, _: NoArguments, _: ()) -> Result<Count, ToolError> {
    ///     Ok(Count { notes: 3 })
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let spec = ToolSpec::new("count", Mode::Read, scopes("notes:read"))
    ///     .with_description("How many notes there are.");
    /// let types = ToolTypes::new(ArgumentsType::new(), OutputType::new(), ErrorType::new());
    /// let route = SecureRoute::read(spec, types, count);
    /// let router = SecureToolRouter::new().with_route(route);
    /// let server = secure_tool::SecureServerBuilder::with_router(Notes, router).build();
    ///
    /// let reader = Principal::new("ada").with_scopes(["notes:read"]);
    /// let counted = server.call("count", None, reader).await.unwrap();
    /// assert_eq!(counted.structured_content.unwrap()["notes"], 3);
    /// // The policy is part of the route: a caller without the scope is denied.
    /// let denied = server.call("count", None, Principal::new("bob")).await.unwrap();
    /// assert_eq!(denied.is_error, Some(true));
    /// # }
    /// ```
    pub fn read<A, T, E, H>(spec: ToolSpec, types: ToolTypes<A, T, E>, handler: H) -> Self
    where
        A: Send + 'static,
        T: 'static,
        E: 'static,
        H: for<'a> Handler<'a, S, A, (), Result<T, E>>,
    {
        assert!(
            spec.mode == Mode::Read,
            "SecureRoute::read needs a `mode = read` tool; `{}` is a write tool: use SecureRoute::write",
            spec.name
        );
        Self::build(
            spec,
            types,
            route_fn(
                move |invocation: Invocation<'_, S>| -> BoxFuture<'_, CallToolResult> {
                    Box::pin(invocation.run(
                        types,
                        || (),
                        move |state, arguments, ()| handler.call(state, arguments, ()),
                    ))
                },
            ),
        )
    }

    /// The route of a `mode = write` tool: as [`read`](Self::read), and the handler is
    /// given the call's [`WriteAccess`](crate::capability::WriteAccess), made by the runtime
    /// only once authorization and the write gate let the call through, and bound to the
    /// call by its lifetime.
    ///
    /// # Panics
    ///
    /// As [`read`](Self::read), for a tool that is not `mode = write`; and, naming the
    /// tool, when its policy lets anonymous callers in through a `public()` that gives no
    /// reason ([`Policy::admits_anonymous_without_reason`]): the server is not built rather
    /// than let anyone change state unannounced. Write
    /// [`public_because`](crate::authz::public_because) to say why, or require a caller.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::authz::scopes;
    /// use secure_tool::server::{ArgumentsType, ErrorType, NoArguments, OutputType};
    /// use secure_tool::server::{SecureRoute, SecureToolRouter, ToolSpec, ToolTypes};
    ///
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Done { ok: bool }
    ///
    /// struct Notes;
    /// async fn wipe(_: &Notes, _: NoArguments, _access: WriteAccess<'_>) -> Result<Done, ToolError> {
    ///     Ok(Done { ok: true })
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let spec = ToolSpec::new("wipe", Mode::Write, scopes("notes:admin"))
    ///     .with_description("Deletes every note.");
    /// let types = ToolTypes::new(ArgumentsType::new(), OutputType::new(), ErrorType::new());
    /// let route = SecureRoute::write(spec, types, wipe);
    /// let router = SecureToolRouter::new().with_route(route);
    /// let server = secure_tool::SecureServerBuilder::with_router(Notes, router).build();
    /// let denied = server.call("wipe", None, Principal::new("bob")).await.unwrap();
    /// assert_eq!(denied.is_error, Some(true));
    /// # }
    /// ```
    pub fn write<A, T, E, H>(spec: ToolSpec, types: ToolTypes<A, T, E>, handler: H) -> Self
    where
        A: Send + 'static,
        T: 'static,
        E: 'static,
        H: for<'a> Handler<'a, S, A, WriteAccess<'a>, Result<T, E>>,
    {
        assert!(
            spec.mode == Mode::Write,
            "SecureRoute::write needs a `mode = write` tool; `{}` is a read tool: use SecureRoute::read",
            spec.name
        );
        assert!(
            !spec.policy.admits_anonymous_without_reason(),
            "write tool `{}` lets anonymous callers change state through a `public` that gives no \
             reason (policy: {}): use `public_because(\"...\")` to say why, or require a scope",
            spec.name,
            spec.policy
        );
        Self::build(
            spec,
            types,
            route_fn(
                move |invocation: Invocation<'_, S>| -> BoxFuture<'_, CallToolResult> {
                    Box::pin(invocation.run(
                        types,
                        WriteAccess::for_call,
                        move |state, arguments, access| handler.call(state, arguments, access),
                    ))
                },
            ),
        )
    }

    /// A route around `call`, which must be the guarded call: only [`read`](Self::read),
    /// [`write`](Self::write) and the crate's own tests (which build a leaky route to show
    /// that the audit catches one) call it.
    pub(crate) fn build<A, T, E>(
        spec: ToolSpec,
        types: ToolTypes<A, T, E>,
        call: RouteFn<S>,
    ) -> Self {
        let input_schema = (types.input_schema)().unwrap_or_else(|e| {
            panic!(
                "the arguments of tool `{}` must be a struct with named fields: {e}",
                spec.name
            )
        });
        let input_schema = schema::with_known_formats(&input_schema);
        let output_schema = schema::with_known_formats(&(types.output_schema)());
        let structured = output_schema.get("type").and_then(|t| t.as_str()) == Some("object");
        let annotations = match spec.mode {
            Mode::Read => ToolAnnotations::new().read_only(true).destructive(false),
            Mode::Write => ToolAnnotations::new().read_only(false).destructive(true),
        };
        let mut tool =
            Tool::new_with_raw(spec.name.clone(), spec.description.clone(), input_schema)
                .with_annotations(annotations);
        if let Some(title) = &spec.title {
            tool = tool.with_title(title.to_string());
        }
        if structured {
            tool = tool.with_raw_output_schema(output_schema);
        }
        Self {
            spec: Arc::new(spec),
            tool,
            structured,
            call,
            dependency: None,
        }
    }

    /// Guards every call with the breaker and bulkhead that `dependency` finds in the
    /// server's state. Called by the code `#[secure_tool(breaker = ...)]` generates.
    pub fn with_dependency(mut self, dependency: DependencyFn<S>) -> Self {
        self.dependency = Some(dependency);
        self
    }

    /// The breaker and bulkhead of this tool's dependency in `state`, if it names one.
    pub fn dependency<'a>(&self, state: &'a S) -> Option<Guards<'a>> {
        self.dependency.map(|dependency| dependency(state))
    }

    /// The tool's spec.
    pub fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    /// The tool as `tools/list` shows it.
    pub fn tool(&self) -> &Tool {
        &self.tool
    }
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

/// Settings shared by every call of a [`SecureServer`].
#[derive(Clone, Debug)]
struct Settings {
    local_principal: Option<Principal>,
    authz_timeout: Duration,
    /// Every call must also pass this policy, before the tool's own.
    server_policy: Option<Policy>,
}

struct Inner<S> {
    state: S,
    tools: SecureToolRouter<S>,
    settings: Settings,
    gate: Option<WriteGate>,
    /// Set once a request without an identity arrived on an untrusted transport while a
    /// local principal is configured: the warning is logged once.
    warned_untrusted: std::sync::atomic::AtomicBool,
}

/// Read-only degradation: the monitor, what to tell callers of write tools, and who to
/// notify when the tool surface changes.
struct WriteGate {
    monitor: HealthMonitor,
    /// The read tools, named in the degraded answer of write tools.
    read_tools: Vec<String>,
    /// Legacy sessions (initialize handshake), notified directly.
    peers: std::sync::Mutex<Vec<rmcp::service::Peer<RoleServer>>>,
    /// 2026-07-28 sessions, notified on their `subscriptions/listen` stream.
    sinks: std::sync::Mutex<Vec<rmcp::service::SubscriptionSink>>,
    watcher: std::sync::OnceLock<()>,
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
            authz_timeout: inner.settings.authz_timeout,
            gate: inner.gate.as_ref(),
            policy: &route.spec.policy,
            reached: None,
            server_policy: inner.settings.server_policy.as_ref(),
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
        match &self.inner.settings.local_principal {
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
    settings: Settings,
    health: Option<HealthMonitor>,
}

impl<S: Send + Sync + 'static> SecureServerBuilder<S> {
    /// A builder serving `tools` (for routers built by hand or combined with `+`).
    pub fn with_router(state: S, tools: SecureToolRouter<S>) -> Self {
        Self {
            state,
            tools,
            settings: Settings {
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
        self.settings.server_policy = Some(policy.into_policy());
        self
    }

    /// The principal of the local caller, whoever started the server: handed only to
    /// requests without an identity of their own on a transport served with
    /// [`SecureServer::serve_stdio`] or [`SecureServer::serve_trusted`]. Never to HTTP
    /// requests, which must carry their own, nor to a transport served with rmcp's plain
    /// `serve` (a TCP socket's peer may be anyone): their callers are anonymous.
    pub fn local_principal(mut self, principal: Principal) -> Self {
        self.settings.local_principal = Some(principal);
        self
    }

    /// How long a policy may take to decide before the call is denied (default 2 s).
    pub fn authz_timeout(mut self, timeout: Duration) -> Self {
        self.settings.authz_timeout = timeout;
        self
    }

    /// Degrades to read-only when `monitor` says writes are degraded: `mode = write` tools
    /// answer a structured "degraded" result naming the read tools that still work,
    /// `tools/list` marks them, and clients get `notifications/tools/list_changed` on
    /// degrade and on recovery. Start the monitor's probes with
    /// [`HealthMonitor::start`].
    pub fn health(mut self, monitor: HealthMonitor) -> Self {
        self.health = Some(monitor);
        self
    }

    /// Builds the server. A policy with an empty requirement (a scope or role list read
    /// from a configuration that came back empty) denies every caller; each one is logged
    /// here as a warning naming its tool, and shown as `deny: ...` in the manifest. So is
    /// each write tool open to anonymous callers, with the reason its
    /// [`public_because`](crate::authz::public_because) gives.
    pub fn build(self) -> SecureServer<S> {
        warn_of_empty_requirements(&self.tools, self.settings.server_policy.as_ref());
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
                settings: self.settings,
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
        && gate.monitor.status(HealthPath::Writes) == Status::Degraded
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

impl<S: Send + Sync + 'static> SecureServer<S> {
    /// Remembers a session to notify when the tool surface changes, and makes sure the
    /// task that does it runs. A session is remembered once, however often its client
    /// sends `notifications/initialized`, and closed sessions are forgotten here (and by
    /// the watcher, every [`PRUNE_CLOSED_SESSIONS`]): a peer holds its client's
    /// `initialize` parameters, which must not outlive the session.
    pub(crate) fn register_peer(&self, peer: rmcp::service::Peer<RoleServer>) {
        if let Some(gate) = &self.inner.gate {
            let mut peers = lock(&gate.peers);
            peers.retain(|known| !known.is_transport_closed());
            if !peers.iter().any(|known| same_session(known, &peer)) {
                peers.push(peer);
            }
            drop(peers);
            self.ensure_watcher(gate);
        }
    }

    /// How many sessions are remembered for `notifications/tools/list_changed`.
    #[cfg(test)]
    pub(crate) fn notified_sessions(&self) -> usize {
        self.inner
            .gate
            .as_ref()
            .map_or(0, |gate| lock(&gate.peers).len() + lock(&gate.sinks).len())
    }

    pub(crate) fn register_sink(&self, sink: rmcp::service::SubscriptionSink) {
        if let Some(gate) = &self.inner.gate {
            lock(&gate.sinks).push(sink);
            self.ensure_watcher(gate);
        }
    }

    pub(crate) fn unregister_sink(&self, id: &rmcp::model::RequestId) {
        if let Some(gate) = &self.inner.gate {
            lock(&gate.sinks).retain(|sink| sink.id() != id);
        }
    }

    pub(crate) fn has_gate(&self) -> bool {
        self.inner.gate.is_some()
    }

    fn ensure_watcher(&self, gate: &WriteGate) {
        gate.watcher.get_or_init(|| {
            let server = Arc::downgrade(&self.inner);
            let mut changes = gate.monitor.changes();
            let mut writes = changes.borrow_and_update().writes;
            tokio::spawn(async move {
                let mut prune = tokio::time::interval(PRUNE_CLOSED_SESSIONS);
                prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        changed = changes.changed() => if changed.is_err() { return },
                        _ = prune.tick() => {
                            let Some(inner) = server.upgrade() else { return };
                            if let Some(gate) = &inner.gate {
                                lock(&gate.peers).retain(|peer| !peer.is_transport_closed());
                            }
                            continue;
                        }
                    }
                    let now = changes.borrow_and_update().writes;
                    if now == writes {
                        continue;
                    }
                    writes = now;
                    let Some(inner) = server.upgrade() else {
                        return;
                    };
                    let Some(gate) = &inner.gate else { return };
                    let peers = lock(&gate.peers).clone();
                    let sinks = lock(&gate.sinks).clone();
                    drop(inner);
                    tracing::info!(
                        target: "secure_tool::server",
                        writes = %now,
                        sessions = peers.len() + sinks.len(),
                        "tool list changed: notifying clients"
                    );
                    for peer in &peers {
                        // A closed session fails here and is dropped below.
                        let _ = peer.notify_tool_list_changed().await;
                    }
                    let mut closed_sinks = Vec::new();
                    for sink in &sinks {
                        if sink.notify_tool_list_changed().await.is_err() {
                            closed_sinks.push(sink.id().clone());
                        }
                    }
                    if let Some(inner) = server.upgrade()
                        && let Some(gate) = &inner.gate
                    {
                        lock(&gate.peers).retain(|peer| !peer.is_transport_closed());
                        lock(&gate.sinks).retain(|sink| !closed_sinks.contains(sink.id()));
                    }
                }
            });
        });
    }
}

/// How often the list-changed watcher forgets the sessions that closed since.
const PRUNE_CLOSED_SESSIONS: Duration = Duration::from_secs(1);

/// Whether two peers are the same session: they share the client's handshake info, which
/// rmcp sets once per session.
fn same_session(a: &rmcp::service::Peer<RoleServer>, b: &rmcp::service::Peer<RoleServer>) -> bool {
    match (a.peer_info(), b.peer_info()) {
        (Some(a), Some(b)) => Arc::ptr_eq(&a, &b),
        _ => false,
    }
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
            authz_timeout: inner.settings.authz_timeout,
            gate: inner.gate.as_ref(),
            policy: &route.spec.policy,
            reached: None,
            server_policy: inner.settings.server_policy.as_ref(),
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

/// One call of one secure tool, handed by the server to the route's generated entry point.
pub(crate) struct Invocation<'a, S> {
    this: &'a S,
    route: &'a SecureRoute<S>,
    arguments: Option<JsonObject>,
    principal: Principal,
    authz_timeout: Duration,
    gate: Option<&'a WriteGate>,
    /// The policy that decides this call: the tool's own, except in the fail-closed audit
    /// of `testing`, which puts failing policies in its place.
    policy: &'a Policy,
    /// Counts the calls that reached the handler (the fail-closed audit only).
    reached: Option<&'a std::sync::atomic::AtomicUsize>,
    /// The server-wide policy, decided first.
    server_policy: Option<&'a Policy>,
}

impl<'a, S: Send + Sync + 'static> Invocation<'a, S> {
    /// The guarded call: authorize (fail-closed), pass the write gate, parse the arguments,
    /// make the call's capability with `grant` (only then), run `handler` with panics
    /// caught, and turn its result into a sanitized MCP result. One audit event.
    async fn run<A, T, E, C, Fut>(
        self,
        types: ToolTypes<A, T, E>,
        grant: impl FnOnce() -> C,
        handler: impl FnOnce(&'a S, A, C) -> Fut,
    ) -> CallToolResult
    where
        Fut: Future<Output = Result<T, E>> + Send + 'a,
    {
        let started = tokio::time::Instant::now();
        let spec = &*self.route.spec;
        let mut event = audit::CallEvent::new(spec, &self.principal, self.arguments.as_ref());

        let request = AccessRequest::new(&spec.name, spec.mode, &self.principal);
        let server_verdict = match self.server_policy {
            Some(policy) => policy.evaluate(request, self.authz_timeout).await,
            None => Ok(()),
        };
        let verdict = match server_verdict {
            Ok(()) => self.policy.evaluate(request, self.authz_timeout).await,
            denied => denied,
        };
        if let Err(cause) = verdict {
            let safe = SafeError::new(ErrorCategory::Denied, None, IncidentId::new());
            event.finish(started, Outcome::Denied(&cause), Some(safe.incident_id));
            return safe.to_result();
        }

        if spec.mode == Mode::Write
            && let Some(gate) = self.gate
            && gate.monitor.status(HealthPath::Writes) == Status::Degraded
        {
            return degraded(gate, &mut event, started);
        }

        // Parsing runs the user's `Deserialize`, rendering their `Serialize`: a panic in
        // either is caught like one in the handler, and answered the same way.
        let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| (types.parse)(self.arguments)));
        let arguments = match parsed {
            Ok(Ok(arguments)) => arguments,
            Err(panic) => {
                let panicked = Panicked::during("parsing the arguments", &*panic);
                return fail(&mut event, started, ToolError::internal(panicked));
            }
            Ok(Err(message)) => {
                let safe = SafeError::new(
                    ErrorCategory::InvalidInput,
                    Some(message.into()),
                    IncidentId::new(),
                );
                event.finish(started, Outcome::InvalidArguments, Some(safe.incident_id));
                return safe.to_result();
            }
        };

        let mut limits = Limits::new(spec.timeout).with_guards(self.route.dependency(self.this));
        // When the decision took no I/O, the instant read for the audit is the start of the
        // call too (one clock read saved). A policy with a custom part may have waited on a
        // remote service: then the call is timed from now, so that the policy's slowness is
        // not counted against the dependency's breaker as a slow call.
        let decided_locally = !self.policy.has_custom_part()
            && self
                .server_policy
                .is_none_or(|policy| !policy.has_custom_part());
        if decided_locally {
            limits = limits.started_at(started);
        }
        let into_error = types.into_error;
        if let Some(reached) = self.reached {
            reached.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let call = handler(self.this, arguments, grant()).map(|result| result.map_err(into_error));
        match limits.run(call).await {
            Ok(value) => {
                let structured = self.route.structured;
                let rendered = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    (types.render)(&value, structured)
                }));
                match rendered {
                    Ok(Ok(result)) => {
                        event.finish(started, Outcome::Ok, None);
                        result
                    }
                    Ok(Err(error)) => fail(&mut event, started, ToolError::internal(error)),
                    Err(panic) => {
                        let panicked = Panicked::during("rendering the result", &*panic);
                        fail(&mut event, started, ToolError::internal(panicked))
                    }
                }
            }
            Err(error) => fail(&mut event, started, error),
        }
    }
}

/// The answer of a write tool while writes are degraded: an error result the model can
/// act on, naming the read tools that still work.
fn degraded(
    gate: &WriteGate,
    event: &mut audit::CallEvent<'_>,
    started: tokio::time::Instant,
) -> CallToolResult {
    let retry_after = gate.monitor.retry_after(HealthPath::Writes);
    let mut safe = SafeError::new(ErrorCategory::Degraded, None, IncidentId::new());
    safe.retry_after_secs =
        Some((retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1));
    event.finish(started, Outcome::Degraded, Some(safe.incident_id));
    let mut text = safe.text();
    if !gate.read_tools.is_empty() {
        text.push_str(&format!(
            " Read tools that still work: {}.",
            gate.read_tools.join(", ")
        ));
    }
    let mut extra = serde_json::Map::new();
    extra.insert("degraded".to_owned(), true.into());
    extra.insert(
        "available_tools".to_owned(),
        serde_json::json!(gate.read_tools),
    );
    safe.to_result_with(text, extra)
}

fn fail(
    event: &mut audit::CallEvent<'_>,
    started: tokio::time::Instant,
    error: ToolError,
) -> CallToolResult {
    let public = error.public_message().to_owned();
    let mut safe = SafeError::new(error.category(), Some(public.into()), IncidentId::new());
    safe.retry_after_secs = error.retry_after().map(|after| {
        // Rounded up: "retry after 0 s" would invite an immediate retry.
        (after.as_secs() + u64::from(after.subsec_nanos() > 0)).max(1)
    });
    let panicked = error
        .source()
        .and_then(|source| source.downcast_ref::<Panicked>());
    let outcome = match panicked {
        Some(panicked) => Outcome::Panicked(panicked.message()),
        None => Outcome::Failed(&error),
    };
    event.finish(started, outcome, Some(safe.incident_id));
    safe.to_result()
}

/// Parses tool arguments, naming the offending field and the expectation, never a Rust
/// type path. Long messages (they may echo the caller's input) are cut.
///
/// Only serde's own messages (invalid type or value, missing, unknown or duplicate field,
/// unknown variant, wrong length) are shown: they describe what the caller sent. A message
/// of a custom `Deserialize` implementation (`serde::de::Error::custom`, `try_from`) may say
/// anything, so the caller gets a generic one and the log gets the original: validate in
/// the handler with `ToolError::invalid_input` to show a message of your own.
fn parse_arguments<A: DeserializeOwned>(arguments: Option<JsonObject>) -> Result<A, String> {
    let value = serde_json::Value::Object(arguments.unwrap_or_default());
    serde_path_to_error::deserialize::<_, A>(value).map_err(|error| {
        let path = error.path().to_string();
        let original = error.into_inner().to_string();
        let detail = if is_serde_message(&original) {
            clip(&original, 200)
        } else {
            // The path names the caller's keys, and the message may quote its values: both
            // are cut, so that the line stays short.
            tracing::info!(
                target: audit::TARGET,
                path = %clip(&path, 256),
                detail = %clip(&original, 1024),
                "arguments rejected by a custom deserializer (its message is not shown to the caller)"
            );
            "the value is not valid".to_owned()
        };
        if path == "." {
            format!("Invalid arguments: {detail}")
        } else {
            format!("Invalid arguments: `{path}`: {detail}")
        }
    })
}

/// `text`, cut to its first `limit` bytes (on a character boundary) and marked `…` if it
/// was longer.
fn clip(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let cut = (0..=limit)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}

/// Whether `message` is one of the messages serde itself writes for a value that does not
/// match its type (`serde::de::Error::invalid_type` and its siblings).
fn is_serde_message(message: &str) -> bool {
    const SERDE: [&str; 7] = [
        "invalid type: ",
        "invalid value: ",
        "invalid length ",
        "unknown variant `",
        "unknown field `",
        "missing field `",
        "duplicate field `",
    ];
    SERDE.iter().any(|prefix| message.starts_with(prefix))
}

fn success_result<T: Serialize>(
    value: &T,
    structured: bool,
) -> Result<CallToolResult, serde_json::Error> {
    let value = serde_json::to_value(value)?;
    let text = match &value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut content = vec![ContentBlock::text(text)];
    // Many clients drop `structuredContent`: say what is missing in words too.
    if let Some(warnings) = crate::partial::warnings_text(&value) {
        content.push(ContentBlock::text(warnings));
    }
    let mut result = CallToolResult::success(content);
    if structured {
        result.structured_content = Some(value);
    }
    Ok(result)
}

#[cfg(test)]
mod tests;

//! A tool's route: its spec, its MCP description and its guarded entry point, made only
//! by [`SecureRoute::read`] and [`SecureRoute::write`], around the guarded call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rmcp::model::{CallToolResponse, CallToolResult, Tool, ToolAnnotations};

use super::arguments::integral_floats_as_integers;
use super::call::Invocation;
use super::field_path::{DeclaredNames, Problem, invalid_arguments};
use super::limits::ArgumentLimits;
use super::output::{OutputSchema, OutputViolation};
use super::render::Rendering;
use super::schema;
use super::spec::{DEFAULT_MAX_CONCURRENT_CALLS, ToolSpec};
use super::types::ToolTypes;
use super::validate::InputSchema;
use crate::authz::Mode;
use crate::bulkhead::Bulkhead;
use crate::capability::WriteAccess;
use crate::context::Grant;
use crate::metrics::CallMetrics;
use crate::rate::Limiter;
use crate::resilience::DependencyRef;

/// A boxed future, as stored in routes.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The entry point of one route: runs the guarded call for one invocation. Made only by
/// [`SecureRoute::read`] and [`SecureRoute::write`], around the guarded call.
pub(crate) type RouteFn<S> =
    Arc<dyn for<'a> Fn(Invocation<'a, S>) -> BoxFuture<'a, CallToolResponse> + Send + Sync>;

pub(crate) fn route_fn<S, F>(call: F) -> RouteFn<S>
where
    F: for<'a> Fn(Invocation<'a, S>) -> BoxFuture<'a, CallToolResponse> + Send + Sync + 'static,
{
    Arc::new(call)
}

/// One secure tool: its spec, its MCP description and its guarded entry point.
pub struct SecureRoute<S> {
    pub(crate) spec: Arc<ToolSpec>,
    pub(crate) tool: Tool,
    pub(crate) rendering: Rendering,
    pub(crate) call: RouteFn<S>,
    pub(crate) dependency: Option<DependencyFn<S>>,
    /// The cap on this tool's concurrent calls, whatever its dependency.
    pub(crate) calls: Bulkhead,
    /// The published input schema, compiled once.
    pub(crate) input: Arc<InputSchema>,
    /// The size caps of the arguments: the tool's own, else the server's, else the
    /// defaults.
    pub(crate) argument_limits: ArgumentLimits,
    /// The published output schema, compiled when first checked.
    pub(crate) output: OutputSchema,
    /// Each caller's bucket of calls, if the tool limits its rate.
    pub(crate) rate: Option<Arc<Limiter>>,
    /// What happened to its calls, for the server's metrics.
    pub(crate) metrics: Arc<CallMetrics>,
}

/// Where a tool's dependency lives in the server's state (`breaker = ...`).
pub type DependencyFn<S> = for<'a> fn(&'a S) -> DependencyRef<'a>;

impl<S> Clone for SecureRoute<S> {
    fn clone(&self) -> Self {
        Self {
            spec: self.spec.clone(),
            tool: self.tool.clone(),
            rendering: self.rendering,
            call: self.call.clone(),
            dependency: self.dependency,
            calls: self.calls.clone(),
            input: self.input.clone(),
            argument_limits: self.argument_limits,
            output: self.output.clone(),
            rate: self.rate.clone(),
            metrics: self.metrics.clone(),
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
/// the call's [`Grant`]: its capability (`()` for a read tool, the call's [`WriteAccess`]
/// for a write tool) and its context, both bound to the call. Implemented by every `Copy` function of that shape (the
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
    /// (MCP requires tool arguments to be a JSON object): use a struct with named fields;
    /// or if that schema does not compile (a `pattern` that is not a regular expression, a
    /// keyword of the wrong type, a reference outside the schema): it is the server's own,
    /// and every call is checked against it.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::authz::scopes;
    /// use secure_tool::route::{ArgumentsType, ErrorType, NoArguments, OutputType};
    /// use secure_tool::route::{SecureRoute, SecureToolRouter, ToolSpec, ToolTypes};
    /// use secure_tool::context::Grant;
    ///
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Count { notes: u64 }
    ///
    /// struct Notes;
    /// async fn count(_: &Notes, _: NoArguments, _: Grant<'_>) -> Result<Count, ToolError> {
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
        T: Send + 'static,
        E: 'static,
        H: for<'a> Handler<'a, S, A, Grant<'a>, Result<T, E>>,
    {
        read_tool(&spec);
        Self::build(
            spec,
            types,
            route_fn(
                move |invocation: Invocation<'_, S>| -> BoxFuture<'_, CallToolResponse> {
                    invocation.run(
                        types,
                        || (),
                        move |state, arguments, grant| handler.call(state, arguments, grant),
                    )
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
    /// reason ([`Policy::admits_anonymous_without_reason`](crate::authz::Policy::admits_anonymous_without_reason)): the server is not built rather
    /// than let anyone change state unannounced. Write
    /// [`public_because`](crate::authz::public_because) to say why, or require a caller.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::authz::scopes;
    /// use secure_tool::route::{ArgumentsType, ErrorType, NoArguments, OutputType};
    /// use secure_tool::route::{SecureRoute, SecureToolRouter, ToolSpec, ToolTypes};
    /// use secure_tool::context::Grant;
    ///
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Done { ok: bool }
    ///
    /// struct Notes;
    /// async fn wipe(_: &Notes, _: NoArguments, _: Grant<'_, WriteAccess<'_>>) -> Result<Done, ToolError> {
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
        T: Send + 'static,
        E: 'static,
        H: for<'a> Handler<'a, S, A, Grant<'a, WriteAccess<'a>>, Result<T, E>>,
    {
        write_tool(&spec);
        Self::build(
            spec,
            types,
            route_fn(
                move |invocation: Invocation<'_, S>| -> BoxFuture<'_, CallToolResponse> {
                    invocation.run(
                        types,
                        WriteAccess::for_call,
                        move |state, arguments, grant| handler.call(state, arguments, grant),
                    )
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
        if let Some(confirmation) = &spec.confirmation {
            assert!(
                spec.mode == Mode::Write,
                "tool `{}` asks for confirmation, but only `mode = write` tools confirm",
                spec.name
            );
            let properties = input_schema.get("properties").and_then(|p| p.as_object());
            for field in confirmation.fields() {
                assert!(
                    properties.is_some_and(|properties| properties.contains_key(field)),
                    "the confirmation of tool `{}` names `{{{field}}}`, which is not one of its \
                     arguments",
                    spec.name
                );
            }
        }
        // Calls are checked against exactly the schema `tools/list` publishes.
        let input = Arc::new(InputSchema::compile(&spec.name, &input_schema));
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
        let calls = Bulkhead::new(
            spec.name.clone().into_owned(),
            spec.max_concurrent.unwrap_or(DEFAULT_MAX_CONCURRENT_CALLS),
        );
        let argument_limits = spec.argument_limits.unwrap_or_default();
        let rate = spec
            .rate
            .map(|rate| Arc::new(Limiter::new(rate, &spec.name)));
        Self {
            spec: Arc::new(spec),
            tool,
            rendering: Rendering {
                structured,
                partial: (types.is_partial)(),
            },
            call,
            dependency: None,
            calls,
            input,
            argument_limits,
            output: OutputSchema::default(),
            rate,
            metrics: Arc::default(),
        }
    }

    /// DependencyRef every call with the breaker and bulkhead that `dependency` finds in the
    /// server's state. Called by the code `#[secure_tool(breaker = ...)]` generates.
    pub fn with_dependency(mut self, dependency: DependencyFn<S>) -> Self {
        self.dependency = Some(dependency);
        self
    }

    /// The breaker and bulkhead of this tool's dependency in `state`, if it names one.
    pub fn dependency<'a>(&self, state: &'a S) -> Option<DependencyRef<'a>> {
        self.dependency.map(|dependency| dependency(state))
    }

    /// The tool's spec.
    pub fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    /// The cap on this tool's concurrent calls: its own, else the server's default.
    pub fn max_concurrent(&self) -> usize {
        self.calls.max_concurrent()
    }

    /// The tool as `tools/list` shows it.
    pub fn tool(&self) -> &Tool {
        &self.tool
    }

    /// Whether a success `result` of this tool conforms to its published output schema, as
    /// MCP requires of structured content, and that a success has it (a tool without an
    /// output schema, and an error result, have nothing to check). The schema is compiled on the first check.
    ///
    /// # Errors
    ///
    /// The violations: where in the output, and which constraint.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::rmcp::model::CallToolResult;
    ///
    /// #[derive(Clone)]
    /// struct Counter;
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Count { notes: u32 }
    ///
    /// #[secure_tool_router]
    /// impl Counter {
    ///     /// Counts.
    ///     #[secure_tool(authz = public, mode = read)]
    ///     async fn count(&self) -> Result<Count, ToolError> {
    ///         Ok(Count { notes: 3 })
    ///     }
    /// }
    ///
    /// let router = Counter::secure_tool_router();
    /// let route = router.route("count").unwrap();
    /// let good = CallToolResult::structured(serde_json::json!({"notes": 3}));
    /// assert!(route.check_output(&good).is_ok());
    /// let bad = CallToolResult::structured(serde_json::json!({"notes": "three"}));
    /// assert!(route.check_output(&bad).unwrap_err().to_string().contains("notes"));
    /// // A success without the structured value the schema promises does not conform.
    /// let text_only = CallToolResult::success(vec![]);
    /// assert!(route.check_output(&text_only).is_err());
    /// ```
    pub fn check_output(&self, result: &CallToolResult) -> Result<(), OutputViolation> {
        let Some(schema) = &self.tool.output_schema else {
            return Ok(());
        };
        if result.is_error == Some(true) {
            return Ok(());
        }
        match &result.structured_content {
            Some(value) => self.output.check(schema, value),
            None => Err(OutputViolation::missing()),
        }
    }

    /// The size caps of this tool's arguments: its own
    /// ([`ToolSpec::with_argument_limits`]), else the server's
    /// ([`SecureServerBuilder::argument_limits`](crate::SecureServerBuilder::argument_limits)),
    /// else [`ArgumentLimits::DEFAULT`].
    pub fn argument_limits(&self) -> ArgumentLimits {
        self.argument_limits
    }

    /// Whether `arguments` are within this tool's [size limits](Self::argument_limits) and
    /// conform to its published input schema: `Ok`, or the `invalid_input` message a caller
    /// would read (it names fields and constraints, never the values). The guarded call
    /// makes these checks before it parses the arguments into the handler's type (which
    /// may refuse them too: a custom `Deserialize`). For tests and benchmarks: it
    /// authorizes nothing and runs nothing.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Notes;
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct NewNote {
    ///     #[schemars(length(min = 1, max = 200))]
    ///     title: String,
    /// }
    ///
    /// #[secure_tool_router]
    /// impl Notes {
    ///     /// Creates a note.
    ///     #[secure_tool(authz = scopes("notes:write"), mode = write)]
    ///     async fn create_note(&self, args: NewNote) -> Result<String, ToolError> {
    ///         Ok(args.title)
    ///     }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Notes {}
    ///
    /// let server = SecureServer::new(Notes);
    /// let route = server.tools().route("create_note").unwrap();
    /// assert_eq!(route.check_arguments(&serde_json::json!({ "title": "groceries" })), Ok(()));
    /// let long = serde_json::json!({ "title": "x".repeat(201) });
    /// assert_eq!(
    ///     route.check_arguments(&long),
    ///     Err("Invalid arguments: `title`: at most 200 characters".to_owned())
    /// );
    /// ```
    pub fn check_arguments(&self, arguments: &serde_json::Value) -> Result<(), String> {
        self.argument_limits
            .check(arguments, self.input.names())
            .map_err(|problem| vec![problem])
            .and_then(|_| self.input.check(arguments))
            .map_err(invalid_arguments)
    }

    /// `arguments` checked against the size limits, then the published input schema, then
    /// parsed with `parse`: what the guarded call does before the handler runs. The
    /// arguments are left as parsed (integral floats written as integers), and not copied.
    pub(crate) fn checked_arguments<A>(
        &self,
        arguments: &mut serde_json::Value,
        parse: fn(&serde_json::Value, &DeclaredNames) -> Result<A, Problem>,
    ) -> Result<A, Vec<Problem>> {
        let names = self.input.names();
        let walked = self
            .argument_limits
            .check(arguments, names)
            .map_err(|problem| vec![problem])?;
        self.input.check(arguments)?;
        if walked.integral_floats {
            integral_floats_as_integers(arguments);
        }
        parse(arguments, names).map_err(|problem| vec![problem])
    }
}

/// The checks of [`SecureRoute::read`] on its spec, apart from the generic function (which
/// is compiled once per tool).
fn read_tool(spec: &ToolSpec) {
    assert!(
        spec.mode == Mode::Read,
        "SecureRoute::read needs a `mode = read` tool; `{}` is a write tool: use SecureRoute::write",
        spec.name
    );
}

/// The checks of [`SecureRoute::write`] on its spec, apart from the generic function.
fn write_tool(spec: &ToolSpec) {
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
}

//! A tool's route: its static spec (name, mode, policy, deadline, cap), what the guarded
//! call needs of its argument, result and error types, and the route itself, which only
//! [`SecureRoute::read`] and [`SecureRoute::write`] make, around the guarded call.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::tool::{schema_for_input, schema_for_output};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::call::Invocation;
use super::schema;
use crate::audit;
use crate::authz::{Mode, Policy};
use crate::bulkhead::Bulkhead;
use crate::capability::WriteAccess;
use crate::resilience::DependencyRef;
use crate::sanitize::{IntoToolError, ToolError};

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
    pub(super) name: Cow<'static, str>,
    pub(super) mode: Mode,
    pub(super) policy: Policy,
    pub(super) title: Option<Cow<'static, str>>,
    pub(super) description: Option<Cow<'static, str>>,
    pub(super) timeout: Duration,
    /// The cap on this tool's concurrent calls, if the tool sets its own.
    pub(super) max_concurrent: Option<usize>,
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
            max_concurrent: None,
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

    /// Caps this tool's concurrent calls at `max` (default: the server's
    /// [`max_concurrent_calls`](super::SecureServerBuilder::max_concurrent_calls), 64): a call
    /// over the cap is answered `overloaded` at once, without running.
    ///
    /// # Panics
    ///
    /// If `max` is zero: every call would be refused.
    ///
    /// ```
    /// use secure_tool::authz::{public, Mode};
    /// use secure_tool::server::ToolSpec;
    /// let spec = ToolSpec::new("export", Mode::Read, public()).with_max_concurrent(2);
    /// assert_eq!(spec.max_concurrent(), Some(2));
    /// ```
    pub fn with_max_concurrent(mut self, max: usize) -> Self {
        assert!(
            max > 0,
            "the concurrency cap of tool `{}` must be more than zero",
            self.name
        );
        self.max_concurrent = Some(max);
        self
    }

    /// The cap on concurrent calls this tool sets for itself, if any.
    pub fn max_concurrent(&self) -> Option<usize> {
        self.max_concurrent
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
    pub(super) parse: fn(Option<JsonObject>) -> Result<A, String>,
    pub(super) render: fn(&T, bool) -> Result<CallToolResult, serde_json::Error>,
    pub(super) into_error: fn(E) -> ToolError,
    pub(super) input_schema: fn() -> Result<Arc<JsonObject>, String>,
    pub(super) output_schema: fn() -> Arc<JsonObject>,
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
    pub(super) spec: Arc<ToolSpec>,
    pub(super) tool: Tool,
    pub(super) structured: bool,
    pub(super) call: RouteFn<S>,
    pub(super) dependency: Option<DependencyFn<S>>,
    /// The cap on this tool's concurrent calls, whatever its dependency.
    pub(super) calls: Bulkhead,
}

/// Where a tool's dependency lives in the server's state (`breaker = ...`).
pub type DependencyFn<S> = for<'a> fn(&'a S) -> DependencyRef<'a>;

impl<S> Clone for SecureRoute<S> {
    fn clone(&self) -> Self {
        Self {
            spec: self.spec.clone(),
            tool: self.tool.clone(),
            structured: self.structured,
            call: self.call.clone(),
            dependency: self.dependency,
            calls: self.calls.clone(),
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
        let calls = Bulkhead::new(
            spec.name.clone().into_owned(),
            spec.max_concurrent.unwrap_or(DEFAULT_MAX_CONCURRENT_CALLS),
        );
        Self {
            spec: Arc::new(spec),
            tool,
            structured,
            call,
            dependency: None,
            calls,
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
}

/// The default cap on each tool's concurrent calls: see
/// [`SecureServerBuilder::max_concurrent_calls`](super::SecureServerBuilder::max_concurrent_calls).
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 64;

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

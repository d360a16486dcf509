//! A prompt's route: its spec, its arguments (listed from the arguments type's schema)
//! and its guarded entry point, made only by [`PromptRoute::new`].

use std::fmt;
use std::sync::Arc;

use rmcp::ErrorData as McpError;
use rmcp::model::{GetPromptResult, JsonObject, Prompt, PromptArgument};
use serde_json::Value;

use super::get::GetInvocation;
use super::reply::PromptReply;
use super::spec::PromptSpec;
use crate::completion::{Completer, complete_fn};
use crate::context::Grant;
use crate::guard::RouteGuard;
use crate::resilience::DependencyRef;
use crate::route::secure_route::{BoxFuture, DependencyFn, Handler};
use crate::route::{ArgumentsType, ErrorType, schema};

/// The entry point of one prompt: runs the guarded get for one invocation.
pub(crate) type GetFn<S> = Arc<
    dyn for<'a> Fn(GetInvocation<'a, S>) -> BoxFuture<'a, Result<GetPromptResult, McpError>>
        + Send
        + Sync,
>;

/// One secure prompt: its spec, its MCP description and its guarded entry point.
pub struct PromptRoute<S> {
    pub(crate) spec: Arc<PromptSpec>,
    pub(crate) prompt: Prompt,
    pub(crate) get: GetFn<S>,
    /// Its dependency, cap, parameters' schema and completers.
    pub(crate) guard: RouteGuard<S>,
}

impl<S> Clone for PromptRoute<S> {
    fn clone(&self) -> Self {
        Self {
            spec: self.spec.clone(),
            prompt: self.prompt.clone(),
            get: self.get.clone(),
            guard: self.guard.clone(),
        }
    }
}

impl<S> fmt::Debug for PromptRoute<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromptRoute")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync + 'static> PromptRoute<S> {
    /// The route of a prompt whose arguments are parsed into `A` and whose handler returns
    /// `Result<PromptReply, E>`: every get goes through the guarded path (authorization
    /// first, then the arguments, the deadline, the dependency's breaker and bulkhead,
    /// panics caught, error hygiene, one audit event).
    ///
    /// `prompts/list` shows `A`'s fields as the prompt's arguments (a field's doc comment
    /// is its description; a field without a default is required). Arguments arrive as
    /// text: one whose field is a number or a boolean is read as one. A get the policy
    /// denies is answered as a get of a prompt that does not exist; arguments that do not
    /// fit `A` are refused naming the argument and the constraint, never the value.
    ///
    /// # Panics
    ///
    /// If `A`'s schema is not an object schema, a field is neither text, a number nor a
    /// boolean (MCP prompt arguments are text), or the schema does not compile.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::prompt::{PromptReply, PromptRoute, PromptSpec};
    /// use secure_tool::route::{ArgumentsType, ErrorType, SecureToolRouter};
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Summary {
    ///     /// How many notes to summarise.
    ///     count: u32,
    /// }
    ///
    /// struct Notes;
    /// async fn summarise(_: &Notes, args: Summary, _: secure_tool::context::Grant<'_>) -> Result<PromptReply, ToolError> {
    ///     Ok(PromptReply::new().user(format!("Summarise my last {} notes.", args.count)))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let spec = PromptSpec::new("summarise", scopes("notes:read"));
    /// let route = PromptRoute::new(spec, ArgumentsType::new(), ErrorType::new(), summarise);
    /// let router = SecureToolRouter::new().with_prompt(route);
    /// let server = secure_tool::SecureServerBuilder::with_router(Notes, router).build();
    ///
    /// let reader = Principal::new("ada").with_scopes(["notes:read"]);
    /// let listed = server.prompts_for(&reader);
    /// assert_eq!(listed[0].arguments.as_ref().unwrap()[0].name, "count");
    /// let count = serde_json::json!({ "count": "3" }).as_object().cloned();
    /// let got = server.get_prompt("summarise", count.clone(), reader).await.unwrap();
    /// assert_eq!(got.messages.len(), 1);
    /// // Denied and missing are one answer.
    /// let denied = server.get_prompt("summarise", count, Principal::new("bob")).await;
    /// let missing = server.get_prompt("nothing", None, Principal::new("bob")).await;
    /// assert_eq!(denied.unwrap_err(), missing.unwrap_err());
    /// # }
    /// ```
    pub fn new<A, E, H>(
        spec: PromptSpec,
        arguments: ArgumentsType<A>,
        error: ErrorType<E>,
        handler: H,
    ) -> Self
    where
        A: Send + 'static,
        E: 'static,
        H: for<'a> Handler<'a, S, A, Grant<'a>, Result<PromptReply, E>>,
    {
        let parse = arguments.parse;
        let into_error = error.into_error;
        let get: GetFn<S> = Arc::new(
            move |invocation: GetInvocation<'_, S>| -> BoxFuture<'_, Result<GetPromptResult, McpError>> {
                Box::pin(invocation.run(parse, into_error, move |state, arguments, context| {
                    handler.call(state, arguments, Grant::new((), context))
                }))
            },
        );
        let schema = (arguments.schema)().unwrap_or_else(|e| {
            panic!(
                "the arguments of prompt `{}` must be a struct with named fields: {e}",
                spec.name
            )
        });
        let schema = schema::with_known_formats(&schema);
        let listed = prompt_arguments(&spec, &schema);
        let mut prompt = Prompt::new(
            spec.name.as_ref(),
            spec.description.as_deref(),
            (!listed.is_empty()).then_some(listed),
        );
        prompt.title = spec.title.as_deref().map(str::to_owned);
        let guard = RouteGuard::new(&spec.name, spec.max_concurrent, &schema);
        Self {
            spec: Arc::new(spec),
            prompt,
            get,
            guard,
        }
    }

    /// Completes the argument `argument` with `completer`, under this prompt's guard: a
    /// caller who may not get the prompt gets no suggestions. See
    /// [`ResourceRoute::with_completion`](crate::resource::ResourceRoute::with_completion)
    /// for an example.
    ///
    /// # Panics
    ///
    /// If the prompt has no argument `argument`, or it already has a completer.
    pub fn with_completion<E, C>(
        mut self,
        argument: &str,
        error: ErrorType<E>,
        completer: C,
    ) -> Self
    where
        E: 'static,
        C: for<'a> Completer<'a, S, E>,
    {
        let listed = self.prompt.arguments.iter().flatten();
        assert!(
            listed.clone().any(|a| a.name == argument),
            "prompt `{}` has no argument `{argument}` to complete",
            self.spec.name
        );
        let owner = format!("prompt `{}`", self.spec.name);
        self.guard
            .complete(&owner, argument, complete_fn(error, completer));
        self
    }

    /// Guards every get with the breaker and bulkhead that `dependency` finds in the
    /// server's state.
    pub fn with_dependency(mut self, dependency: DependencyFn<S>) -> Self {
        self.guard.dependency = Some(dependency);
        self
    }

    /// The breaker and bulkhead of this prompt's dependency in `state`, if it names one.
    pub fn dependency<'a>(&self, state: &'a S) -> Option<DependencyRef<'a>> {
        self.guard.dependency(state)
    }

    /// The prompt's spec.
    pub fn spec(&self) -> &PromptSpec {
        &self.spec
    }

    /// The prompt as `prompts/list` shows it.
    pub fn prompt(&self) -> &Prompt {
        &self.prompt
    }

    /// The cap on this prompt's concurrent gets.
    pub fn max_concurrent(&self) -> usize {
        self.guard.calls.max_concurrent()
    }

    /// `arguments` as sent, typed by the arguments' schema.
    pub(crate) fn typed(&self, arguments: Option<JsonObject>) -> JsonObject {
        self.guard.values.typed(arguments.unwrap_or_default())
    }
}

/// The arguments `prompts/list` shows, from the arguments' `schema`, sorted by name;
/// panics on a field that text cannot give.
fn prompt_arguments(spec: &PromptSpec, schema: &JsonObject) -> Vec<PromptArgument> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut arguments: Vec<PromptArgument> = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, property)| {
            let scalar = match property.get("type") {
                Some(Value::String(t)) => is_scalar(t),
                Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).all(is_scalar),
                // An enum of strings, a `$ref` to one...: the schema check decides.
                _ => true,
            };
            assert!(
                scalar,
                "prompt `{}`: argument `{name}` must be text, a number or a boolean (MCP \
                 prompt arguments are text)",
                spec.name
            );
            let mut argument =
                PromptArgument::new(name).with_required(required.contains(&name.as_str()));
            if let Some(description) = property.get("description").and_then(Value::as_str) {
                argument = argument.with_description(description);
            }
            argument
        })
        .collect();
    arguments.sort_by(|a, b| a.name.cmp(&b.name));
    arguments
}

fn is_scalar(json_type: &str) -> bool {
    matches!(
        json_type,
        "string" | "integer" | "number" | "boolean" | "null"
    )
}

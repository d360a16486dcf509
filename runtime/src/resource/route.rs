//! A resource's route: its spec, how the variables of its URI become the handler's typed
//! parameters, and its guarded entry point, made only by [`ResourceRoute::new`].

use std::fmt;
use std::sync::Arc;

use rmcp::ErrorData as McpError;
use rmcp::model::{ReadResourceResult, Resource, ResourceTemplate};
use serde_json::{Map, Value};

use super::body::ResourceBody;
use super::read::ReadInvocation;
use super::spec::ResourceSpec;
use crate::completion::{Completer, complete_fn};
use crate::context::Grant;
use crate::guard::RouteGuard;
use crate::resilience::DependencyRef;
use crate::route::secure_route::{BoxFuture, DependencyFn, Handler};
use crate::route::{ArgumentsType, ErrorType, schema};

/// The entry point of one resource: runs the guarded read for one invocation.
pub(crate) type ReadFn<S> = Arc<
    dyn for<'a> Fn(ReadInvocation<'a, S>) -> BoxFuture<'a, Result<ReadResourceResult, McpError>>
        + Send
        + Sync,
>;

/// One secure resource (a fixed URI or a URI template): its spec, its MCP description and
/// its guarded entry point.
pub struct ResourceRoute<S> {
    pub(crate) spec: Arc<ResourceSpec>,
    pub(crate) read: ReadFn<S>,
    /// Its dependency, cap, parameters' schema and completers.
    pub(crate) guard: RouteGuard<S>,
}

impl<S> Clone for ResourceRoute<S> {
    fn clone(&self) -> Self {
        Self {
            spec: self.spec.clone(),
            read: self.read.clone(),
            guard: self.guard.clone(),
        }
    }
}

impl<S> fmt::Debug for ResourceRoute<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceRoute")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync + 'static> ResourceRoute<S> {
    /// The route of a resource whose URI's variables are parsed into `P` and whose
    /// handler returns `Result<ResourceBody, E>`: every read goes through the guarded path
    /// (authorization first, then the parameters, the deadline, the dependency's breaker
    /// and bulkhead, panics caught, error hygiene, one audit event), and `handler` runs
    /// only when it lets the read through.
    ///
    /// A read that the policy denies, of a URI that no resource matches, or whose
    /// variables do not make valid parameters, is answered alike: "resource not found",
    /// without the URI. A variable is passed as text, or as the integer, number or boolean
    /// it spells when `P`'s schema asks for one (`id: u64` reads `notes://42`).
    ///
    /// # Panics
    ///
    /// If `P`'s schema is not an object schema, or names a required field that is not a
    /// variable of the URI (no read could ever give it), or the URI has a variable that is
    /// not a field of `P`; or if the schema does not compile.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::resource::{ResourceBody, ResourceRoute, ResourceSpec};
    /// use secure_tool::route::{ArgumentsType, ErrorType, SecureToolRouter};
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct NoteUri { id: u64 }
    ///
    /// struct Notes;
    /// async fn note(_: &Notes, uri: NoteUri, _: secure_tool::context::Grant<'_>) -> Result<ResourceBody, ToolError> {
    ///     match uri.id {
    ///         1 => Ok(ResourceBody::text("# Groceries")),
    ///         _ => Err(ToolError::not_found("no such note")),
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let spec = ResourceSpec::new("note", "notes://{id}", scopes("notes:read"));
    /// let route = ResourceRoute::new(spec, ArgumentsType::new(), ErrorType::new(), note);
    /// let router = SecureToolRouter::new().with_resource(route);
    /// let server = secure_tool::SecureServerBuilder::with_router(Notes, router).build();
    ///
    /// let reader = Principal::new("ada").with_scopes(["notes:read"]);
    /// let read = server.read_resource("notes://1", reader.clone()).await.unwrap();
    /// assert_eq!(read.contents.len(), 1);
    /// // Denied, missing and malformed are one answer, which does not repeat the URI.
    /// let denied = server.read_resource("notes://1", Principal::new("bob")).await.unwrap_err();
    /// let missing = server.read_resource("notes://2", reader.clone()).await.unwrap_err();
    /// let malformed = server.read_resource("notes://x", reader).await.unwrap_err();
    /// assert_eq!(denied, missing);
    /// assert_eq!(missing, malformed);
    /// # }
    /// ```
    pub fn new<P, E, H>(
        spec: ResourceSpec,
        params: ArgumentsType<P>,
        error: ErrorType<E>,
        handler: H,
    ) -> Self
    where
        P: Send + 'static,
        E: 'static,
        H: for<'a> Handler<'a, S, P, Grant<'a>, Result<ResourceBody, E>>,
    {
        let parse = params.parse;
        let into_error = error.into_error;
        let read: ReadFn<S> = Arc::new(
            move |invocation: ReadInvocation<'_, S>| -> BoxFuture<'_, Result<ReadResourceResult, McpError>> {
                Box::pin(invocation.run(parse, into_error, move |state, params, context| {
                    handler.call(state, params, Grant::new((), context))
                }))
            },
        );
        let schema = (params.schema)().unwrap_or_else(|e| {
            panic!(
                "the parameters of resource `{}` must be a struct with named fields: {e}",
                spec.name
            )
        });
        let schema = schema::with_known_formats(&schema);
        check_variables(&spec, &schema);
        let guard = RouteGuard::new(&spec.name, spec.max_concurrent, &schema);
        Self {
            spec: Arc::new(spec),
            read,
            guard,
        }
    }

    /// Completes the URI variable `variable` with `completer`, under this resource's
    /// guard: a caller who may not read the resource gets no suggestions. Its errors
    /// follow `error`'s rules, like a handler's.
    ///
    /// # Panics
    ///
    /// If the URI has no variable `variable`, or it already has a completer.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::completion::CompletionRequest;
    /// use secure_tool::resource::{ResourceBody, ResourceRoute, ResourceSpec};
    /// use secure_tool::route::{ArgumentsType, ErrorType, SecureToolRouter};
    /// use secure_tool::rmcp::model::Reference;
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct NoteUri { id: u64 }
    /// struct Notes { ids: Vec<u64> }
    /// async fn note(_: &Notes, uri: NoteUri, _: secure_tool::context::Grant<'_>) -> Result<ResourceBody, ToolError> {
    ///     Ok(ResourceBody::text(format!("note {}", uri.id)))
    /// }
    /// async fn note_ids(notes: &Notes, typed: CompletionRequest) -> Result<Vec<String>, ToolError> {
    ///     let ids = notes.ids.iter().map(u64::to_string);
    ///     Ok(ids.filter(|id| id.starts_with(typed.value())).collect())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let route = ResourceRoute::new(
    ///     ResourceSpec::new("note", "notes://{id}", scopes("notes:read")),
    ///     ArgumentsType::new(),
    ///     ErrorType::new(),
    ///     note,
    /// )
    /// .with_completion("id", ErrorType::new(), note_ids);
    /// let router = SecureToolRouter::new().with_resource(route);
    /// let server =
    ///     secure_tool::SecureServerBuilder::with_router(Notes { ids: vec![4, 42, 7] }, router).build();
    ///
    /// let template = Reference::for_resource("notes://{id}");
    /// let reader = Principal::new("ada").with_scopes(["notes:read"]);
    /// let typed = CompletionRequest::new("id", "4");
    /// let shown = server.complete(&template, typed.clone(), reader).await.unwrap();
    /// assert_eq!(shown.values, ["4", "42"]);
    /// // A caller who may not read the notes gets nothing, as for an unknown template.
    /// let hidden = server.complete(&template, typed, Principal::new("bob")).await.unwrap();
    /// assert!(hidden.values.is_empty());
    /// # }
    /// ```
    pub fn with_completion<E, C>(
        mut self,
        variable: &str,
        error: ErrorType<E>,
        completer: C,
    ) -> Self
    where
        E: 'static,
        C: for<'a> Completer<'a, S, E>,
    {
        let spec = &self.spec;
        assert!(
            spec.uri.variables().any(|v| v == variable),
            "resource `{}`: the URI `{}` has no variable `{variable}` to complete",
            spec.name,
            spec.uri
        );
        let owner = format!("resource `{}`", spec.name);
        self.guard
            .complete(&owner, variable, complete_fn(error, completer));
        self
    }

    /// Guards every read with the breaker and bulkhead that `dependency` finds in the
    /// server's state. Called by the code `#[secure_resource(breaker = ...)]` generates.
    pub fn with_dependency(mut self, dependency: DependencyFn<S>) -> Self {
        self.guard.dependency = Some(dependency);
        self
    }

    /// The breaker and bulkhead of this resource's dependency in `state`, if it names one.
    pub fn dependency<'a>(&self, state: &'a S) -> Option<DependencyRef<'a>> {
        self.guard.dependency(state)
    }

    /// The resource's spec.
    pub fn spec(&self) -> &ResourceSpec {
        &self.spec
    }

    /// The cap on this resource's concurrent reads.
    pub fn max_concurrent(&self) -> usize {
        self.guard.calls.max_concurrent()
    }

    /// The resource as `resources/list` shows it, if its URI is fixed.
    pub fn resource(&self) -> Option<Resource> {
        let spec = &*self.spec;
        if !spec.uri.is_fixed() {
            return None;
        }
        let mut resource = Resource::new(spec.uri.as_str(), spec.name.as_ref());
        resource.title = spec.title.as_deref().map(str::to_owned);
        resource.description = spec.description.as_deref().map(str::to_owned);
        resource.mime_type = spec.mime_type.as_deref().map(str::to_owned);
        Some(resource)
    }

    /// The template as `resources/templates/list` shows it, if its URI has variables.
    pub fn template(&self) -> Option<ResourceTemplate> {
        let spec = &*self.spec;
        if spec.uri.is_fixed() {
            return None;
        }
        let mut template = ResourceTemplate::new(spec.uri.as_str(), spec.name.as_ref());
        template.title = spec.title.as_deref().map(str::to_owned);
        template.description = spec.description.as_deref().map(str::to_owned);
        template.mime_type = spec.mime_type.as_deref().map(str::to_owned);
        Some(template)
    }

    /// The parameters of a read of `uri`, if this resource's URI matches it: each
    /// variable's value, as text or as the JSON type the parameters' schema gives it.
    pub(crate) fn parameters(&self, uri: &str) -> Option<Map<String, Value>> {
        let matched = self.spec.uri.matches(uri)?;
        Some(
            self.guard.values.typed(
                matched
                    .into_iter()
                    .map(|(name, text)| (name.to_owned(), Value::String(text))),
            ),
        )
    }
}

/// Panics when the URI's variables and the parameters' `schema` do not fit each other.
fn check_variables(spec: &ResourceSpec, schema: &rmcp::model::JsonObject) {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let variables: Vec<&str> = spec.uri.variables().collect();
    for variable in &variables {
        assert!(
            properties.contains_key(*variable),
            "resource `{}`: the URI `{}` has a variable `{variable}` that its parameters type \
             has no field for",
            spec.name,
            spec.uri
        );
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for field in required.iter().filter_map(Value::as_str) {
            assert!(
                variables.contains(&field),
                "resource `{}`: its parameters require `{field}`, which the URI `{}` does not \
                 give: add `{{{field}}}` to the URI, or make the field optional",
                spec.name,
                spec.uri
            );
        }
    }
}

//! The guarded read of a secure resource, and its answers.

use rmcp::ErrorData as McpError;
use rmcp::model::{JsonObject, ReadResourceResult};

use super::body::ResourceBody;
use super::route::ResourceRoute;
use crate::audit::Surface;
use crate::authz::Principal;
use crate::guard::{Probe, Refused};
use crate::route::CallSettings;
use crate::route::field_path::{DeclaredNames, Problem};
use crate::sanitize::{ErrorCategory, ToolError};

/// The answer to a read of a resource that does not exist, that the caller may not read,
/// or whose URI does not make valid parameters: one answer, without the URI, so that a
/// caller cannot tell them apart nor see its own input repeated. (rmcp sends it as
/// `-32602` to 2026-07-28 clients, as that version asks, and `-32002` to older ones.)
pub(crate) fn resource_not_found() -> McpError {
    McpError::resource_not_found("Resource not found", None)
}

/// One read of one secure resource, handed by the server to the route's entry point.
pub(crate) struct ReadInvocation<'a, S> {
    pub(crate) this: &'a S,
    pub(crate) route: &'a ResourceRoute<S>,
    /// The URI read, as the caller sent it (it matched the route's URI).
    pub(crate) uri: String,
    /// The variables of the URI, typed by the parameters' schema.
    pub(crate) params: JsonObject,
    pub(crate) principal: Principal,
    pub(crate) context: CallSettings<'a>,
    /// The session the request came in on (none in process).
    pub(crate) session: Option<crate::context::Session>,
    /// The fail-closed check's probe, if this is one of its requests.
    pub(crate) probe: Probe<'a>,
}

impl<'a, S: Send + Sync + 'static> ReadInvocation<'a, S> {
    /// The guarded read ([`Guarded::run`]), answered: a denial, variables that are not
    /// valid parameters and the handler's `not_found` are "resource not found"; another
    /// failure is its sanitized JSON-RPC error.
    pub(super) async fn run<P, E, Fut>(
        self,
        parse: fn(&serde_json::Value, &DeclaredNames) -> Result<P, Problem>,
        into_error: fn(E) -> ToolError,
        handler: impl FnOnce(&'a S, P, crate::context::CallContext<'a>) -> Fut,
    ) -> Result<ReadResourceResult, McpError>
    where
        Fut: Future<Output = Result<ResourceBody, E>> + Send + 'a,
    {
        let route = self.route;
        let spec = &*route.spec;
        let mut guarded = route.guard.guarded(
            self.this,
            Surface::Resource,
            &spec.name,
            &spec.policy,
            spec.timeout,
            self.principal,
            self.context,
            self.probe,
        );
        guarded.session = self.session;
        match guarded.run(self.params, parse, into_error, handler).await {
            Ok(body) => {
                let contents = body.into_contents(&self.uri, spec.mime_type.as_deref());
                Ok(ReadResourceResult::new(vec![contents]))
            }
            Err(refused) if refused.category() == Some(ErrorCategory::NotFound) => {
                Err(resource_not_found())
            }
            Err(Refused::Failed(safe)) => Err(safe.to_error_data()),
            Err(Refused::Denied | Refused::Invalid(..)) => Err(resource_not_found()),
        }
    }
}

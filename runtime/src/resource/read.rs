//! The guarded read: what every read of a secure resource goes through, in order.

use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;
use rmcp::ErrorData as McpError;
use rmcp::model::{JsonObject, ReadResourceResult};

use super::body::ResourceBody;
use super::route::ResourceRoute;
use crate::audit::{self, Surface, Verdict};
use crate::authz::{AccessRequest, Mode, Principal};
use crate::resilience::{Limits, Panicked};
use crate::route::CallContext;
use crate::route::call::failed;
use crate::route::field_path::{DeclaredNames, Problem};
use crate::sanitize::{ErrorCategory, IncidentId, ToolError};

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
    pub(crate) context: CallContext<'a>,
}

impl<'a, S: Send + Sync + 'static> ReadInvocation<'a, S> {
    /// The guarded read: authorize (fail-closed), check the parameters against their
    /// schema and parse them, take a slot, run `handler` under the deadline and the
    /// dependency's breaker with panics caught, and turn its result into the read's answer.
    /// One audit event.
    pub(super) async fn run<P, E, Fut>(
        self,
        parse: fn(serde_json::Value, &DeclaredNames) -> Result<P, Problem>,
        into_error: fn(E) -> ToolError,
        handler: impl FnOnce(&'a S, P) -> Fut,
    ) -> Result<ReadResourceResult, McpError>
    where
        Fut: Future<Output = Result<ResourceBody, E>> + Send + 'a,
    {
        let started = tokio::time::Instant::now();
        let route = self.route;
        let spec = &*route.spec;
        let mut event = audit::CallEvent::of(
            Surface::Resource,
            &spec.name,
            Mode::Read,
            &self.principal,
            Some(&self.params),
        );

        let request = AccessRequest::new(&spec.name, Mode::Read, &self.principal);
        if let Err(cause) = self.context.authorize(&spec.policy, request).await {
            event.finish(started, Verdict::Denied(&cause), Some(IncidentId::new()));
            return Err(resource_not_found());
        }

        // The parameters are the URI's variables: checked against the published schema of
        // the parameters type, then parsed, panics caught. A URI whose variables are not
        // valid parameters names no resource.
        let params = serde_json::Value::Object(self.params);
        let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            route
                .params
                .check(&params)
                .and_then(|()| parse(params, route.params.names()).map_err(|p| vec![p]))
        }));
        let params = match parsed {
            Ok(Ok(params)) => params,
            Ok(Err(_)) => {
                event.finish(started, Verdict::InvalidArguments, Some(IncidentId::new()));
                return Err(resource_not_found());
            }
            Err(panic) => {
                let panicked = Panicked::during("parsing the parameters", &*panic);
                return Err(fail(&mut event, started, ToolError::internal(panicked)));
            }
        };

        let _slot = match route.calls.try_acquire() {
            Ok(slot) => slot,
            Err(full) => {
                return Err(fail(
                    &mut event,
                    started,
                    crate::resilience::overloaded(full),
                ));
            }
        };
        let mut limits = Limits::new(spec.timeout).with_dependency_ref(route.dependency(self.this));
        if self.context.decided_locally(&spec.policy) {
            limits = limits.started_at(started);
        }
        let read = handler(self.this, params).map(|result| result.map_err(into_error));
        match limits.run(read).await {
            Ok(body) => {
                event.finish(started, Verdict::Ok, None);
                let contents = body.into_contents(&self.uri, spec.mime_type.as_deref());
                Ok(ReadResourceResult::new(vec![contents]))
            }
            Err(error) => Err(fail(&mut event, started, error)),
        }
    }
}

/// The JSON-RPC error a failed read answers with, logged in full under a fresh incident
/// id. A `not_found` from the handler is the one "resource not found" answer, whatever its
/// message: a denied caller gets the same answer for a resource that exists.
fn fail(
    event: &mut audit::CallEvent<'_>,
    started: tokio::time::Instant,
    error: ToolError,
) -> McpError {
    let safe = failed(event, started, &error);
    if error.category() == ErrorCategory::NotFound {
        return resource_not_found();
    }
    safe.to_error_data()
}

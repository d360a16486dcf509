//! The guarded get of a secure prompt, and its answers.

use rmcp::ErrorData as McpError;
use rmcp::model::{GetPromptResult, JsonObject};

use super::reply::PromptReply;
use super::route::PromptRoute;
use crate::audit::Surface;
use crate::authz::Principal;
use crate::guard::{Probe, Refused};
use crate::route::CallSettings;
use crate::route::field_path::{DeclaredNames, Problem, invalid_arguments};
use crate::sanitize::{ErrorCategory, SafeError, ToolError};

/// The answer to a get of a prompt that does not exist, or that the caller may not get:
/// one answer, without the name.
pub(crate) fn prompt_not_found() -> McpError {
    McpError::invalid_params("Prompt not found", None)
}

/// One get of one secure prompt, handed by the server to the route's entry point.
pub(crate) struct GetInvocation<'a, S> {
    pub(crate) this: &'a S,
    pub(crate) route: &'a PromptRoute<S>,
    /// The arguments, typed by the arguments' schema.
    pub(crate) arguments: JsonObject,
    pub(crate) principal: Principal,
    pub(crate) context: CallSettings<'a>,
    /// The session the request came in on (none in process).
    pub(crate) session: Option<crate::context::Session>,
    /// The fail-closed check's probe, if this is one of its requests.
    pub(crate) probe: Probe<'a>,
}

impl<'a, S: Send + Sync + 'static> GetInvocation<'a, S> {
    /// The guarded get ([`Guarded::run`]), answered: a denial is "prompt not found";
    /// invalid arguments are named with what is wrong, without their values; a failure is
    /// its sanitized JSON-RPC error.
    pub(super) async fn run<A, E, Fut>(
        self,
        parse: fn(&serde_json::Value, &DeclaredNames) -> Result<A, Problem>,
        into_error: fn(E) -> ToolError,
        handler: impl FnOnce(&'a S, A, crate::context::CallContext<'a>) -> Fut,
    ) -> Result<GetPromptResult, McpError>
    where
        Fut: Future<Output = Result<PromptReply, E>> + Send + 'a,
    {
        let route = self.route;
        let spec = &*route.spec;
        let mut guarded = route.guard.guarded(
            self.this,
            Surface::Prompt,
            &spec.name,
            &spec.policy,
            spec.timeout,
            self.principal,
            self.context,
            self.probe,
        );
        guarded.session = self.session;
        match guarded
            .run(self.arguments, parse, into_error, handler)
            .await
        {
            Ok(reply) => Ok(reply.into_result()),
            Err(Refused::Denied) => Err(prompt_not_found()),
            // What is wrong, named by field and constraint, with the incident it was
            // logged under, as a tool's refusal is.
            Err(Refused::Invalid(problems, incident)) => Err(SafeError::new(
                ErrorCategory::InvalidInput,
                Some(invalid_arguments(problems).into()),
                incident,
            )
            .to_error_data()),
            Err(Refused::Failed(safe)) => Err(safe.to_error_data()),
        }
    }
}

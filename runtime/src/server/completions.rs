//! The server's completions: a `completion/complete` request routed to the completer of
//! the prompt argument or resource template variable it names, under that prompt's or
//! resource's guard.

use rmcp::ErrorData as McpError;
use rmcp::model::{CompletionInfo, Reference};

use super::SecureServer;
use crate::audit::Surface;
use crate::authz::Principal;
use crate::completion::{CompletionRequest, Target, no_suggestions};
use crate::guard::{Guarded, Probe};

impl<S: Send + Sync + 'static> SecureServer<S> {
    /// Completes `request` for the prompt or resource template `reference` names,
    /// in-process as `principal`, through the same guarded path as `completion/complete`.
    ///
    /// No suggestions (an empty list) for a prompt or template that does not exist, an
    /// argument without a completer, and a caller whose policy denies it alike.
    ///
    /// # Errors
    ///
    /// The completer's failure, sanitized, its facts in `data`.
    ///
    /// See [`ResourceRoute::with_completion`](crate::resource::ResourceRoute::with_completion)
    /// for an example.
    pub async fn complete(
        &self,
        reference: &Reference,
        request: CompletionRequest,
        principal: Principal,
    ) -> Result<CompletionInfo, McpError> {
        self.complete_with(reference, request, principal, Probe::default())
            .await
    }

    /// A completion probed by the fail-closed check (crate private: a probe only ever puts
    /// policies that never allow).
    #[cfg(feature = "testing")]
    pub(crate) async fn complete_probed(
        &self,
        reference: &Reference,
        request: CompletionRequest,
        principal: Principal,
        probe: Probe<'_>,
    ) -> Result<CompletionInfo, McpError> {
        self.complete_with(reference, request, principal, probe)
            .await
    }

    async fn complete_with(
        &self,
        reference: &Reference,
        request: CompletionRequest,
        principal: Principal,
        probe: Probe<'_>,
    ) -> Result<CompletionInfo, McpError> {
        let this = &self.inner.state;
        let context = self.call_settings();
        let tools = &self.inner.tools;
        let (guard, surface, spec) = match reference {
            Reference::Prompt(prompt) => match tools.prompts.get(prompt.name.as_str()) {
                Some(route) => {
                    let spec = &*route.spec;
                    let prompt = Surface::Completion { resource: false };
                    (
                        &route.guard,
                        prompt,
                        (&*spec.name, &spec.policy, spec.timeout),
                    )
                }
                None => return Ok(no_suggestions()),
            },
            Reference::Resource(template) => match tools
                .resources
                .iter()
                .find(|route| route.spec.uri.as_str() == template.uri)
            {
                Some(route) => {
                    let spec = &*route.spec;
                    let resource = Surface::Completion { resource: true };
                    (
                        &route.guard,
                        resource,
                        (&*spec.name, &spec.policy, spec.timeout),
                    )
                }
                None => return Ok(no_suggestions()),
            },
            // A kind of reference this version does not know completes nothing.
            _ => return Ok(no_suggestions()),
        };
        let Some(completer) = guard.completer(request.argument()) else {
            return Ok(no_suggestions());
        };
        let (name, policy, timeout) = spec;
        let guarded = Guarded {
            // The request is the completer's, not the parameters'.
            params: None,
            ..guard.guarded(
                this, surface, name, policy, timeout, principal, context, probe,
            )
        };
        Target {
            guarded,
            completer,
            values: &guard.values,
            uri_variables: matches!(reference, Reference::Resource(_)),
        }
        .complete(request)
        .await
    }
}

impl<S> SecureServer<S> {
    /// Whether any secure prompt or resource has a completer.
    pub(super) fn has_completers(&self) -> bool {
        let tools = &self.inner.tools;
        tools
            .prompts
            .values()
            .any(|r| !r.guard.completions.is_empty())
            || tools
                .resources
                .iter()
                .any(|r| !r.guard.completions.is_empty())
    }
}

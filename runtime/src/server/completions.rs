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
        let this = &self.inner.state;
        let context = self.call_context();
        let tools = &self.inner.tools;
        let target = match reference {
            Reference::Prompt(prompt) => {
                tools.prompts.get(prompt.name.as_str()).and_then(|route| {
                    let spec = &*route.spec;
                    let completer = find(&route.completions, request.argument())?;
                    Some(Target {
                        guarded: Guarded {
                            this,
                            surface: Surface::Completion { resource: false },
                            name: &spec.name,
                            policy: &spec.policy,
                            timeout: spec.timeout,
                            calls: &route.calls,
                            dependency: route.dependency(this),
                            params: None,
                            principal,
                            context,
                            probe: Probe::default(),
                        },
                        completer,
                    })
                })
            }
            Reference::Resource(template) => tools
                .resources
                .iter()
                .find(|route| route.spec.uri.as_str() == template.uri)
                .and_then(|route| {
                    let spec = &*route.spec;
                    let completer = find(&route.completions, request.argument())?;
                    Some(Target {
                        guarded: Guarded {
                            this,
                            surface: Surface::Completion { resource: true },
                            name: &spec.name,
                            policy: &spec.policy,
                            timeout: spec.timeout,
                            calls: &route.calls,
                            dependency: route.dependency(this),
                            params: None,
                            principal,
                            context,
                            probe: Probe::default(),
                        },
                        completer,
                    })
                }),
            // A kind of reference this version does not know completes nothing.
            _ => None,
        };
        match target {
            Some(target) => target.complete(request).await,
            None => Ok(no_suggestions()),
        }
    }
}

impl<S> SecureServer<S> {
    /// Whether any secure prompt or resource has a completer.
    pub(super) fn has_completers(&self) -> bool {
        let tools = &self.inner.tools;
        tools.prompts.values().any(|r| !r.completions.is_empty())
            || tools.resources.iter().any(|r| !r.completions.is_empty())
    }
}

fn find<'a, F>(completions: &'a [(String, F)], argument: &str) -> Option<&'a F> {
    completions
        .iter()
        .find(|(name, _)| name == argument)
        .map(|(_, completer)| completer)
}

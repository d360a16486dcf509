//! The server's prompts: which ones each caller is shown, and a get routed by name
//! through the guarded get.

use rmcp::ErrorData as McpError;
use rmcp::model::{GetPromptResult, JsonObject, Prompt};

use super::SecureServer;
use crate::authz::Principal;
use crate::context::Session;
use crate::guard::Probe;
use crate::prompt::{GetInvocation, prompt_not_found};

impl<S: Send + Sync + 'static> SecureServer<S> {
    /// Gets the secure prompt `name` with `arguments` in-process as `principal`, through
    /// the same guarded path as `prompts/get`. For tests, benchmarks and embedding.
    ///
    /// # Errors
    ///
    /// The JSON-RPC error `prompts/get` would answer: "prompt not found" for a name that
    /// is not a secure prompt and for a get the policy denies alike; invalid arguments,
    /// named; otherwise the sanitized failure, its facts in `data`.
    ///
    /// See [`PromptRoute::new`](crate::prompt::PromptRoute::new) for an example.
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        principal: Principal,
    ) -> Result<GetPromptResult, McpError> {
        self.get_prompt_on(name, arguments, principal, None).await
    }

    /// [`get_prompt`](Self::get_prompt), come in on `session`.
    pub(crate) async fn get_prompt_on(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        principal: Principal,
        session: Option<Session>,
    ) -> Result<GetPromptResult, McpError> {
        let route = self
            .inner
            .tools
            .prompts
            .get(name)
            .ok_or_else(prompt_not_found)?;
        let invocation = GetInvocation {
            this: &self.inner.state,
            route,
            arguments: route.typed(arguments),
            principal,
            context: self.call_settings(),
            session,
            probe: Probe::default(),
        };
        (route.get)(invocation).await
    }

    /// A get of `route` as `principal`, probed by the fail-closed check (crate private: a
    /// probe only ever puts policies that never allow).
    #[cfg(feature = "testing")]
    pub(crate) async fn get_probed(
        &self,
        route: &crate::prompt::PromptRoute<S>,
        principal: Principal,
        probe: Probe<'_>,
    ) -> Result<GetPromptResult, McpError> {
        let invocation = GetInvocation {
            this: &self.inner.state,
            route,
            arguments: JsonObject::new(),
            principal,
            context: self.call_settings(),
            session: None,
            probe,
        };
        (route.get)(invocation).await
    }

    /// The prompts `principal` is shown by `prompts/list`, sorted by name: those whose
    /// policies (and the server's) its scopes and roles can satisfy
    /// ([`Policy::may_admit`](crate::authz::Policy::may_admit)).
    pub fn prompts_for(&self, principal: &Principal) -> Vec<Prompt> {
        let server_policy = self.inner.config.server_policy.as_ref();
        self.inner
            .tools
            .prompts()
            .into_iter()
            .filter(|route| {
                server_policy.is_none_or(|policy| policy.may_admit(principal))
                    && route.spec.policy.may_admit(principal)
            })
            .map(|route| route.prompt().clone())
            .collect()
    }
}

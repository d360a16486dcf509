//! What each operation's policy asks of a caller's scopes: the answer of
//! [`ScopeChallenge`] for the HTTP step-up layer.

use crate::authz::{Policy, Principal};
use crate::oauth::{Operation, ScopeChallenge};
use crate::route::SecureRoute;

use super::{SecureServer, ToolLists};

impl<S: Send + Sync + 'static> ScopeChallenge for SecureServer<S> {
    /// The scopes of the tool, prompt or resource's policy and of the server's, when scopes
    /// are all `principal` lacks ([`Policy::scope_challenge`]). None for a tool the caller's
    /// tool list hides ([`ToolLists::PerCaller`]): a challenge would tell it the tool exists.
    fn scope_challenge(
        &self,
        operation: Operation<'_>,
        principal: &Principal,
    ) -> Option<Vec<String>> {
        let inner = &*self.inner;
        let policy = match operation {
            Operation::CallTool(name) => {
                let route: &SecureRoute<S> = inner.tools.route(name)?;
                if inner.config.tool_lists != ToolLists::All && !self.shows(route, principal) {
                    return None;
                }
                route.spec.policy()
            }
            Operation::GetPrompt(name) => &inner.tools.prompt(name)?.spec.policy,
            Operation::ReadResource(uri) => {
                &inner
                    .tools
                    .resources()
                    .find(|route| route.parameters(uri).is_some())?
                    .spec
                    .policy
            }
        };
        challenge(inner.config.server_policy.as_ref(), policy, principal)
    }
}

/// The scopes both `server` (if any) and `own` need from `principal`, if scopes are all it
/// lacks for them.
fn challenge(server: Option<&Policy>, own: &Policy, principal: &Principal) -> Option<Vec<String>> {
    let mut scopes: Vec<&str> = match server {
        None => own.scope_challenge(principal)?,
        Some(server) => match (
            server.allows_locally(principal),
            own.allows_locally(principal),
        ) {
            (true, true) => return None,
            (true, false) => own.scope_challenge(principal)?,
            (false, true) => server.scope_challenge(principal)?,
            (false, false) => {
                let mut both = server.scope_challenge(principal)?;
                both.extend(own.scope_challenge(principal)?);
                both
            }
        },
    };
    scopes.sort_unstable();
    scopes.dedup();
    Some(scopes.into_iter().map(str::to_owned).collect())
}

//! What each operation's policy asks of a caller's scopes: the answer of
//! [`ScopeChallenge`] for the HTTP step-up layer.

use crate::audit::{CallEvent, Verdict};
use crate::authz::{DenialCause, Policy, Principal};
use crate::oauth::{Operation, ScopeChallenge};
use crate::route::SecureRoute;

use super::SecureServer;

impl<S: Send + Sync + 'static> ScopeChallenge for SecureServer<S> {
    /// The scopes of the tool's policy and of the server's, when scopes are all
    /// `principal` lacks ([`Policy::scope_challenge`]); the challenge is audited as a
    /// denial. None for a tool the caller's tool list hides
    /// ([`ToolLists::PerCaller`](super::ToolLists::PerCaller)), and for prompts and
    /// resources, which a caller who may not use them is told do not exist: a challenge
    /// would tell it they do.
    fn scope_challenge(
        &self,
        operation: Operation<'_>,
        principal: &Principal,
    ) -> Option<Vec<String>> {
        // Prompts and resources a caller may not use are answered as if they did not exist
        // (not listed, "not found"): a challenge would tell it they do.
        let Operation::CallTool(name) = operation else {
            return None;
        };
        let inner = &*self.inner;
        let route: &SecureRoute<S> = inner.tools.route(name)?;
        // Only per-caller lists hide a tool: under the others, every tool is shown.
        if !self.shows(route, principal) {
            return None;
        }
        let policy = route.spec.policy();
        let scopes = challenge(inner.config.server_policy.as_ref(), policy, principal)?;
        // A challenge is a denial: audited as one, with the scopes asked for.
        let cause = DenialCause::InsufficientScope(scopes.clone());
        CallEvent::new(name, route.spec.mode(), principal, None)
            .counted_in(inner.metrics.on().then_some(&*route.metrics))
            .finish(tokio::time::Instant::now(), Verdict::Denied(&cause), None);
        Some(scopes)
    }

    /// Whether `principal` lacks a scope that a tool's policy or the server's names: one
    /// it holds them all is asked for none (a challenge names only scopes it lacks).
    fn may_challenge(&self, principal: &Principal) -> bool {
        !self
            .inner
            .scopes
            .iter()
            .all(|scope| principal.has_scope(scope))
    }
}

/// Every scope `server` (if any) and `own` need from `principal`, if scopes can meet them
/// and it lacks some.
fn challenge(server: Option<&Policy>, own: &Policy, principal: &Principal) -> Option<Vec<String>> {
    let mut needed = own.scopes_needed(principal)?;
    if let Some(server) = server {
        needed.extend(server.scopes_needed(principal)?);
    }
    needed.sort_unstable();
    needed.dedup();
    if needed.iter().all(|scope| principal.has_scope(scope)) {
        return None;
    }
    Some(needed.into_iter().map(str::to_owned).collect())
}

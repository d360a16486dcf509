//! What the server gives every call, whatever the tool: its policy, decided before the
//! tool's own, its rate limit, its write gate, and how calls are checked and counted.

use std::time::Duration;

use futures::future::Either;

use crate::authz::{AccessRequest, DenialCause, Policy, Principal};
use crate::confirm::Confirmations;
use crate::health::HealthMonitor;
use crate::rate::{Limited, Limiter};

/// What the server gives every call, whatever the tool.
#[derive(Clone, Copy)]
pub(crate) struct CallSettings<'a> {
    /// The deadline of each policy's decision.
    pub(crate) authz_timeout: Duration,
    /// The server-wide policy, decided before the tool's own.
    pub(crate) server_policy: Option<&'a Policy>,
    /// Read-only degradation, when the server has it.
    pub(crate) write_gate: Option<WriteGateView<'a>>,
    /// Whether each structured output is checked against the tool's output schema.
    pub(crate) check_outputs: bool,
    /// The confirmations of tools that ask the user first.
    pub(crate) confirmations: &'a Confirmations,
    /// Each caller's bucket over every call it makes, if the server limits them.
    pub(crate) rate_limit: Option<&'a Limiter>,
    /// Whether calls are counted for the server's metrics.
    pub(crate) metrics: bool,
}

impl CallSettings<'_> {
    /// Takes a call from `principal`'s bucket of the server's rate limit, if there is one.
    pub(crate) fn admit(&self, principal: &Principal) -> Result<(), Limited> {
        self.rate_limit
            .map_or(Ok(()), |limiter| limiter.check(principal))
    }

    /// The server's policy, then `policy`, each decided within the deadline: fail-closed,
    /// the first denial is the answer. Built-in policies are decided at once, in a ready
    /// future.
    pub(crate) fn authorize<'p>(
        &'p self,
        policy: &'p Policy,
        request: AccessRequest<'p>,
    ) -> impl Future<Output = Result<(), DenialCause>> + Send + 'p {
        match self.decide_now(policy, request) {
            Some(verdict) => Either::Left(std::future::ready(verdict)),
            None => Either::Right(self.ask(policy, request)),
        }
    }

    /// [`authorize`](Self::authorize) without I/O, when neither policy has a custom part
    /// that must be asked (or the server's denies at once).
    fn decide_now(
        &self,
        policy: &Policy,
        request: AccessRequest<'_>,
    ) -> Option<Result<(), DenialCause>> {
        if let Some(server) = self.server_policy {
            match server.decide_now(request)? {
                Ok(()) => {}
                denied => return Some(denied),
            }
        }
        policy.decide_now(request)
    }

    /// [`authorize`](Self::authorize) when a custom part must be asked.
    async fn ask(&self, policy: &Policy, request: AccessRequest<'_>) -> Result<(), DenialCause> {
        if let Some(server) = self.server_policy {
            server.evaluate(request, self.authz_timeout).await?;
        }
        policy.evaluate(request, self.authz_timeout).await
    }

    /// Whether deciding `policy` (and the server's) took no I/O. When it did not, the
    /// instant read for the audit is the start of the call too (one clock read saved). A
    /// policy with a custom part may have waited on a remote service: then the call is
    /// timed from after the decision, so that the policy's slowness is not counted against
    /// the dependency's breaker as a slow call.
    pub(crate) fn decided_locally(&self, policy: &Policy) -> bool {
        !policy.has_custom_part()
            && self
                .server_policy
                .is_none_or(|policy| !policy.has_custom_part())
    }
}

/// What the call needs of the server's write gate.
#[derive(Clone, Copy)]
pub(crate) struct WriteGateView<'a> {
    /// Whether writes are degraded, and for how long.
    pub(crate) monitor: &'a HealthMonitor,
    /// The read tools, named in the degraded answer of write tools.
    pub(crate) read_tools: &'a [String],
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::authz::Mode;

    /// The server's policy, then the tool's: a call is allowed only when both allow, the
    /// first denial is the answer (a tool's custom policy is not asked after the server's
    /// denied), and the decision is made at once, without a future, exactly when no
    /// custom part has to be asked. Every combination of no, built-in and custom server
    /// policies with built-in and custom tool policies, for callers each allows or not.
    #[tokio::test]
    async fn the_servers_policy_then_the_tools_decide_and_the_first_denial_answers() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use crate::authz::tests::Answer;
        use crate::authz::{
            AccessRequest, Authorize, Decision, PolicyFuture, custom, roles, scopes,
        };

        /// A tool's custom policy that answers `allow` and counts how often it is asked.
        struct Counted(Arc<AtomicUsize>, bool);
        impl Authorize for Counted {
            fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
                self.0.fetch_add(1, Ordering::SeqCst);
                let decision = if self.1 {
                    Decision::Allow
                } else {
                    Decision::Deny
                };
                Box::pin(async move { Ok(decision) })
            }
        }

        let confirmations = Confirmations::with_random_key();
        let staff = Principal::new("ada")
            .with_roles(["staff"])
            .with_scopes(["x"]);
        let staff_without_scope = Principal::new("cy").with_roles(["staff"]);
        let guest = Principal::new("bob").with_scopes(["x"]);
        // (policy, whether it is custom, whom it allows)
        type Allows = fn(&Principal) -> bool;
        let servers: [(Option<Policy>, bool, Allows); 4] = [
            (None, false, |_| true),
            (Some(roles("staff")), false, |p| p.has_role("staff")),
            (Some(custom(Answer(Ok(Decision::Allow)))), true, |_| true),
            (Some(custom(Answer(Ok(Decision::Deny)))), true, |_| false),
        ];
        for (server, server_custom, server_allows) in &servers {
            let settings = CallSettings {
                authz_timeout: Duration::from_secs(1),
                server_policy: server.as_ref(),
                write_gate: None,
                check_outputs: false,
                confirmations: &confirmations,
                rate_limit: None,
                metrics: false,
            };
            for principal in [&staff, &staff_without_scope, &guest] {
                let asked = Arc::new(AtomicUsize::new(0));
                let tools: [(Policy, bool, Allows); 3] = [
                    (scopes("x"), false, |p| p.has_scope("x")),
                    (custom(Counted(Arc::clone(&asked), true)), true, |_| true),
                    (custom(Counted(Arc::clone(&asked), false)), true, |_| false),
                ];
                for (tool, tool_custom, tool_allows) in &tools {
                    let request = AccessRequest::new("t", Mode::Read, principal);
                    let case = format!(
                        "server {:?}, tool custom {tool_custom}, {:?}",
                        server.as_ref().map(|_| *server_custom),
                        principal.subject()
                    );
                    let allowed = server_allows(principal) && tool_allows(principal);
                    let verdict = settings.authorize(tool, request).await;
                    assert_eq!(verdict.is_ok(), allowed, "{case}: {verdict:?}");
                    let at_once = !server_custom && (!server_allows(principal) || !tool_custom);
                    let decided = settings.decide_now(tool, request);
                    assert_eq!(decided.is_some(), at_once, "{case}: {decided:?}");
                    if let Some(decided) = decided {
                        assert_eq!(decided.is_ok(), allowed, "{case}: {decided:?}");
                    }
                }
                // The tool's custom policies were asked only when the server's allowed.
                let expected = if server_allows(principal) { 2 } else { 0 };
                assert_eq!(
                    asked.load(Ordering::SeqCst),
                    expected,
                    "{:?}",
                    principal.subject()
                );
            }
        }
    }
}

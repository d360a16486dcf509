//! The guarded call: what every call of a secure tool goes through, in order.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt as _;
use rmcp::model::{CallToolResult, JsonObject};

use super::gate::WriteGate;
use super::route::{SecureRoute, ToolTypes};
use crate::audit::{self, Verdict};
use crate::authz::{AccessRequest, Mode, Policy, Principal};
use crate::health::{ServicePath, Status};
use crate::resilience::{Limits, Panicked};
use crate::sanitize::{ErrorCategory, IncidentId, SafeError, ToolError};

/// One call of one secure tool, handed by the server to the route's generated entry point.
pub(crate) struct Invocation<'a, S> {
    pub(super) this: &'a S,
    pub(super) route: &'a SecureRoute<S>,
    pub(super) arguments: Option<JsonObject>,
    pub(super) principal: Principal,
    pub(super) authz_timeout: Duration,
    pub(super) gate: Option<&'a WriteGate>,
    /// The policy that decides this call: the tool's own, except in the fail-closed audit
    /// of `testing`, which puts failing policies in its place.
    pub(super) policy: &'a Policy,
    /// Counts the calls that reached the handler (the fail-closed audit only).
    pub(super) reached: Option<&'a std::sync::atomic::AtomicUsize>,
    /// The server-wide policy, decided first.
    pub(super) server_policy: Option<&'a Policy>,
}

impl<'a, S: Send + Sync + 'static> Invocation<'a, S> {
    /// The guarded call: authorize (fail-closed), pass the write gate, parse the arguments,
    /// make the call's capability with `grant` (only then), run `handler` with panics
    /// caught, and turn its result into a sanitized MCP result. One audit event.
    pub(super) async fn run<A, T, E, C, Fut>(
        self,
        types: ToolTypes<A, T, E>,
        grant: impl FnOnce() -> C,
        handler: impl FnOnce(&'a S, A, C) -> Fut,
    ) -> CallToolResult
    where
        Fut: Future<Output = Result<T, E>> + Send + 'a,
    {
        let started = tokio::time::Instant::now();
        let spec = &*self.route.spec;
        let mut event = audit::CallEvent::new(spec, &self.principal, self.arguments.as_ref());

        let request = AccessRequest::new(&spec.name, spec.mode, &self.principal);
        let server_verdict = match self.server_policy {
            Some(policy) => policy.evaluate(request, self.authz_timeout).await,
            None => Ok(()),
        };
        let verdict = match server_verdict {
            Ok(()) => self.policy.evaluate(request, self.authz_timeout).await,
            denied => denied,
        };
        if let Err(cause) = verdict {
            let safe = SafeError::new(ErrorCategory::Denied, None, IncidentId::new());
            event.finish(started, Verdict::Denied(&cause), Some(safe.incident_id));
            return safe.to_result();
        }

        if spec.mode == Mode::Write
            && let Some(gate) = self.gate
            && gate.monitor.status(ServicePath::Writes) == Status::Degraded
        {
            return degraded(gate, &mut event, started);
        }

        // Parsing runs the user's `Deserialize`, rendering their `Serialize`: a panic in
        // either is caught like one in the handler, and answered the same way.
        let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| (types.parse)(self.arguments)));
        let arguments = match parsed {
            Ok(Ok(arguments)) => arguments,
            Err(panic) => {
                let panicked = Panicked::during("parsing the arguments", &*panic);
                return fail(&mut event, started, ToolError::internal(panicked));
            }
            Ok(Err(message)) => {
                let safe = SafeError::new(
                    ErrorCategory::InvalidInput,
                    Some(message.into()),
                    IncidentId::new(),
                );
                event.finish(started, Verdict::InvalidArguments, Some(safe.incident_id));
                return safe.to_result();
            }
        };

        // Every tool is bounded, whether or not it names a dependency.
        let _slot = match self.route.calls.try_acquire() {
            Ok(slot) => slot,
            Err(full) => return fail(&mut event, started, crate::resilience::overloaded(full)),
        };
        let mut limits = Limits::new(spec.timeout).with_dependency_ref(self.route.dependency(self.this));
        // When the decision took no I/O, the instant read for the audit is the start of the
        // call too (one clock read saved). A policy with a custom part may have waited on a
        // remote service: then the call is timed from now, so that the policy's slowness is
        // not counted against the dependency's breaker as a slow call.
        let decided_locally = !self.policy.has_custom_part()
            && self
                .server_policy
                .is_none_or(|policy| !policy.has_custom_part());
        if decided_locally {
            limits = limits.started_at(started);
        }
        let into_error = types.into_error;
        if let Some(reached) = self.reached {
            reached.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let call = handler(self.this, arguments, grant()).map(|result| result.map_err(into_error));
        match limits.run(call).await {
            Ok(value) => {
                let structured = self.route.structured;
                let rendered = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    (types.render)(&value, structured)
                }));
                match rendered {
                    Ok(Ok(result)) => {
                        event.finish(started, Verdict::Ok, None);
                        result
                    }
                    Ok(Err(error)) => fail(&mut event, started, ToolError::internal(error)),
                    Err(panic) => {
                        let panicked = Panicked::during("rendering the result", &*panic);
                        fail(&mut event, started, ToolError::internal(panicked))
                    }
                }
            }
            Err(error) => fail(&mut event, started, error),
        }
    }
}

/// The answer of a write tool while writes are degraded: an error result the model can
/// act on, naming the read tools that still work.
fn degraded(
    gate: &WriteGate,
    event: &mut audit::CallEvent<'_>,
    started: tokio::time::Instant,
) -> CallToolResult {
    let safe = SafeError::new(ErrorCategory::Degraded, None, IncidentId::new())
        .retry_after(gate.monitor.retry_after(ServicePath::Writes));
    event.finish(started, Verdict::Degraded, Some(safe.incident_id));
    let mut text = safe.text();
    if !gate.read_tools.is_empty() {
        text.push_str(&format!(
            " Read tools that still work: {}.",
            gate.read_tools.join(", ")
        ));
    }
    let mut extra = serde_json::Map::new();
    extra.insert("degraded".to_owned(), true.into());
    extra.insert(
        "available_tools".to_owned(),
        serde_json::json!(gate.read_tools),
    );
    safe.to_result_with(text, extra)
}

fn fail(
    event: &mut audit::CallEvent<'_>,
    started: tokio::time::Instant,
    error: ToolError,
) -> CallToolResult {
    let public = error.public_message().to_owned();
    let mut safe = SafeError::new(error.category(), Some(public.into()), IncidentId::new());
    if let Some(after) = error.retry_after() {
        safe = safe.retry_after(after);
    }
    let panicked = error
        .source()
        .and_then(|source| source.downcast_ref::<Panicked>());
    let outcome = match panicked {
        Some(panicked) => Verdict::Panicked(panicked.message()),
        None => Verdict::Failed(&error),
    };
    event.finish(started, outcome, Some(safe.incident_id));
    safe.to_result()
}

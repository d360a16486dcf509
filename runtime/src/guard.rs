//! The guarded path shared by the surfaces that answer a request with a value or a
//! JSON-RPC error (resources, prompts): authorize (fail-closed), check the parameters
//! against their published schema and parse them (panics caught), take a slot, run the
//! handler under the deadline and the dependency's breaker (panics caught), one audit
//! event. Each surface turns a [`Refused`] into its own answer.

mod text_values;

pub(crate) use text_values::TextValues;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt as _;
use rmcp::model::JsonObject;

use crate::audit::{self, Surface, Verdict};
use crate::authz::{AccessRequest, Mode, Policy, Principal};
use crate::bulkhead::Bulkhead;
use crate::resilience::{DependencyRef, Limits, Panicked};
use crate::route::CallContext;
use crate::route::call::failed;
use crate::route::field_path::{DeclaredNames, Problem};
use crate::route::validate::InputSchema;
use crate::sanitize::{ErrorCategory, IncidentId, SafeError, ToolError};

/// Why a guarded request did not produce a value; what was logged is already logged.
#[derive(Debug)]
pub(crate) enum Refused {
    /// A policy denied the caller.
    Denied,
    /// The parameters do not conform to their schema, or did not parse.
    Invalid(Vec<Problem>),
    /// The handler (or the guard: overloaded, timeout, open breaker, panic) failed: the
    /// caller's view of the failure, and its category.
    Failed(SafeError),
}

impl Refused {
    /// The category of a failure, if the handler ran and failed.
    pub(crate) fn category(&self) -> Option<ErrorCategory> {
        match self {
            Self::Failed(safe) => Some(safe.category),
            _ => None,
        }
    }
}

/// One guarded request: what it is of, who asks, and what guards it.
pub(crate) struct Guarded<'a, S> {
    pub(crate) this: &'a S,
    pub(crate) surface: Surface,
    pub(crate) name: &'a str,
    pub(crate) policy: &'a Policy,
    pub(crate) timeout: Duration,
    pub(crate) calls: &'a Bulkhead,
    pub(crate) dependency: Option<DependencyRef<'a>>,
    /// The parameters' schema, when they have one to be checked against.
    pub(crate) params: Option<&'a InputSchema>,
    pub(crate) principal: Principal,
    pub(crate) context: CallContext<'a>,
}

impl<'a, S: Send + Sync + 'static> Guarded<'a, S> {
    /// Runs `handler` on `arguments` parsed with `parse`, if the guard lets it.
    pub(crate) async fn run<P, T, E, Fut>(
        self,
        arguments: JsonObject,
        parse: fn(serde_json::Value, &DeclaredNames) -> Result<P, Problem>,
        into_error: fn(E) -> ToolError,
        handler: impl FnOnce(&'a S, P) -> Fut,
    ) -> Result<T, Refused>
    where
        Fut: Future<Output = Result<T, E>> + Send + 'a,
    {
        let started = tokio::time::Instant::now();
        let mut event = audit::CallEvent::of(
            self.surface,
            self.name,
            Mode::Read,
            &self.principal,
            Some(&arguments),
        );

        let request = AccessRequest::new(self.name, Mode::Read, &self.principal);
        if let Err(cause) = self.context.authorize(self.policy, request).await {
            event.finish(started, Verdict::Denied(&cause), Some(IncidentId::new()));
            return Err(Refused::Denied);
        }

        let schema = self.params;
        let arguments = serde_json::Value::Object(arguments);
        let no_names = DeclaredNames::default();
        let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| match schema {
            Some(schema) => schema
                .check(&arguments)
                .and_then(|()| parse(arguments, schema.names()).map_err(|p| vec![p])),
            None => parse(arguments, &no_names).map_err(|p| vec![p]),
        }));
        let params = match parsed {
            Ok(Ok(params)) => params,
            Ok(Err(problems)) => {
                event.finish(started, Verdict::InvalidArguments, Some(IncidentId::new()));
                return Err(Refused::Invalid(problems));
            }
            Err(panic) => {
                let panicked = Panicked::during("parsing the parameters", &*panic);
                let error = ToolError::internal(panicked);
                return Err(Refused::Failed(failed(&mut event, started, &error)));
            }
        };

        let _slot = match self.calls.try_acquire() {
            Ok(slot) => slot,
            Err(full) => {
                let error = crate::resilience::overloaded(full);
                return Err(Refused::Failed(failed(&mut event, started, &error)));
            }
        };
        let mut limits = Limits::new(self.timeout).with_dependency_ref(self.dependency);
        if self.context.decided_locally(self.policy) {
            limits = limits.started_at(started);
        }
        let run = handler(self.this, params).map(|result| result.map_err(into_error));
        match limits.run(run).await {
            Ok(value) => {
                event.finish(started, Verdict::Ok, None);
                Ok(value)
            }
            Err(error) => Err(Refused::Failed(failed(&mut event, started, &error))),
        }
    }
}

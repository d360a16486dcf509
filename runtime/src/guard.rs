//! The guarded path shared by the surfaces that answer a request with a value or a
//! JSON-RPC error (resources, prompts): authorize (fail-closed), check the parameters
//! against their published schema and parse them (panics caught), take a slot, run the
//! handler under the deadline and the dependency's breaker (panics caught), one audit
//! event. Each surface turns a [`Refused`] into its own answer.

pub(crate) mod text_values;

pub(crate) use text_values::TextValues;

use std::sync::Arc;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt as _;
use rmcp::model::JsonObject;
use tracing::Instrument as _;

use crate::audit::{self, Surface, Verdict};
use crate::authz::{AccessRequest, Mode, Policy, Principal};
use crate::bulkhead::Bulkhead;
use crate::completion::CompleteFn;
use crate::context::{CallContext, Session};
use crate::metrics::CallMetrics;
use crate::resilience::{DependencyRef, Limits, Panicked};
use crate::route::call::failed;
use crate::route::field_path::{DeclaredNames, Problem};
use crate::route::secure_route::DependencyFn;
use crate::route::spec::DEFAULT_MAX_CONCURRENT_CALLS;
use crate::route::validate::InputSchema;
use crate::route::{ArgumentLimits, CallSettings};
use crate::sanitize::{ErrorCategory, IncidentId, SafeError, ToolError};

/// What a resource or prompt route holds besides its spec: the dependency it names, the
/// cap on its concurrent requests, its parameters' schema (compiled once) and how their
/// text is typed, and the completers of its parameters.
pub(crate) struct RouteGuard<S> {
    pub(crate) dependency: Option<DependencyFn<S>>,
    pub(crate) calls: Bulkhead,
    pub(crate) params: Arc<InputSchema>,
    pub(crate) values: Arc<TextValues>,
    pub(crate) completions: Vec<(String, CompleteFn<S>)>,
    /// What happened to its reads or gets, for the server's metrics.
    pub(crate) metrics: Arc<CallMetrics>,
    /// What happened to the completions of its parameters.
    pub(crate) completion_metrics: Arc<CallMetrics>,
    /// The size caps of its parameters (the server's, else the default).
    pub(crate) argument_limits: ArgumentLimits,
}

impl<S> Clone for RouteGuard<S> {
    fn clone(&self) -> Self {
        Self {
            dependency: self.dependency,
            calls: self.calls.clone(),
            params: self.params.clone(),
            values: self.values.clone(),
            completions: self.completions.clone(),
            metrics: self.metrics.clone(),
            completion_metrics: self.completion_metrics.clone(),
            argument_limits: self.argument_limits,
        }
    }
}

impl<S> RouteGuard<S> {
    /// The guard of `name`, capped at `max_concurrent` (else the default), whose
    /// parameters have `schema`.
    pub(crate) fn new(name: &str, max_concurrent: Option<usize>, schema: &Arc<JsonObject>) -> Self {
        Self {
            dependency: None,
            calls: Bulkhead::new(
                name.to_owned(),
                max_concurrent.unwrap_or(DEFAULT_MAX_CONCURRENT_CALLS),
            ),
            params: Arc::new(InputSchema::compile(name, schema)),
            values: Arc::new(TextValues::of(schema)),
            completions: Vec::new(),
            metrics: Arc::default(),
            completion_metrics: Arc::default(),
            argument_limits: ArgumentLimits::DEFAULT,
        }
    }

    /// The breaker and bulkhead of the dependency in `state`, if one is named.
    pub(crate) fn dependency<'a>(&self, state: &'a S) -> Option<DependencyRef<'a>> {
        self.dependency.map(|dependency| dependency(state))
    }

    /// Adds `completer` for `parameter`; panics, naming `owner`, if it has one already.
    pub(crate) fn complete(&mut self, owner: &str, parameter: &str, completer: CompleteFn<S>) {
        assert!(
            self.completions.iter().all(|(p, _)| p != parameter),
            "{owner}: `{parameter}` has two completers"
        );
        self.completions.push((parameter.to_owned(), completer));
    }

    /// The completer of `parameter`, if it has one.
    pub(crate) fn completer(&self, parameter: &str) -> Option<&CompleteFn<S>> {
        self.completions
            .iter()
            .find(|(name, _)| name == parameter)
            .map(|(_, completer)| completer)
    }

    /// A request of `name` under this guard.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn guarded<'a>(
        &'a self,
        this: &'a S,
        surface: Surface,
        name: &'a str,
        policy: &'a Policy,
        timeout: Duration,
        principal: Principal,
        context: CallSettings<'a>,
        probe: Probe<'a>,
    ) -> Guarded<'a, S> {
        let metrics = match surface {
            Surface::Completion { .. } => &self.completion_metrics,
            _ => &self.metrics,
        };
        Guarded {
            metrics: context.metrics.then_some(&**metrics),
            this,
            surface,
            name,
            policy,
            timeout,
            calls: &self.calls,
            dependency: self.dependency(this),
            params: Some(&self.params),
            limits: self.argument_limits,
            principal,
            context,
            session: None,
            probe,
        }
    }
}

/// Why a guarded request did not produce a value; what was logged is already logged.
#[derive(Debug)]
pub(crate) enum Refused {
    /// A policy denied the caller.
    Denied,
    /// The parameters do not conform to their schema, or did not parse: what is wrong,
    /// and the incident the refusal was logged under.
    Invalid(Vec<Problem>, IncidentId),
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
    /// The size caps of the parameters.
    pub(crate) limits: ArgumentLimits,
    pub(crate) principal: Principal,
    pub(crate) context: CallSettings<'a>,
    /// Where the request is counted, when the server's metrics are on.
    pub(crate) metrics: Option<&'a CallMetrics>,
    /// The session the request came in on (none in process): the handler's context.
    pub(crate) session: Option<Session>,
    /// The fail-closed check's probe, when this request is one of its.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) probe: Probe<'a>,
}

/// What the fail-closed check of `testing` puts into a request: a policy that never
/// allows in place of the request's own (and of the server's), decided within a short
/// deadline, and a count of the requests that reached the handler. Empty otherwise, and
/// without the `testing` feature it holds nothing at all.
#[derive(Clone, Copy, Default)]
pub(crate) struct Probe<'a> {
    #[cfg(feature = "testing")]
    pub(crate) policy: Option<&'a Policy>,
    #[cfg(feature = "testing")]
    pub(crate) authz_timeout: Duration,
    #[cfg(feature = "testing")]
    pub(crate) reached: Option<&'a std::sync::atomic::AtomicUsize>,
    #[cfg(not(feature = "testing"))]
    _request: std::marker::PhantomData<&'a ()>,
}

impl<'a, S: Send + Sync + 'static> Guarded<'a, S> {
    /// This request as the fail-closed check's probe makes it, if it is one of its.
    fn probed(self) -> Self {
        #[cfg(feature = "testing")]
        if let Some(policy) = self.probe.policy {
            let context = CallSettings {
                server_policy: None,
                rate_limit: None,
                authz_timeout: self.probe.authz_timeout,
                ..self.context
            };
            return Self {
                policy,
                context,
                ..self
            };
        }
        self
    }

    /// Runs `handler` on `arguments` parsed with `parse`, if the guard lets it.
    pub(crate) fn run<P, T, E, Fut>(
        self,
        arguments: JsonObject,
        parse: fn(&serde_json::Value, &DeclaredNames) -> Result<P, Problem>,
        into_error: fn(E) -> ToolError,
        handler: impl FnOnce(&'a S, P, CallContext<'a>) -> Fut,
    ) -> impl Future<Output = Result<T, Refused>>
    where
        Fut: Future<Output = Result<T, E>> + Send + 'a,
    {
        let span = audit::call_span(self.surface, self.name, Mode::Read);
        self.run_in(span.clone(), arguments, parse, into_error, handler)
            .instrument(span)
    }

    /// [`run`](Self::run) within `span`.
    async fn run_in<P, T, E, Fut>(
        self,
        span: tracing::Span,
        mut arguments: JsonObject,
        parse: fn(&serde_json::Value, &DeclaredNames) -> Result<P, Problem>,
        into_error: fn(E) -> ToolError,
        handler: impl FnOnce(&'a S, P, CallContext<'a>) -> Fut,
    ) -> Result<T, Refused>
    where
        Fut: Future<Output = Result<T, E>> + Send + 'a,
    {
        let this = self.probed();
        let started = tokio::time::Instant::now();

        let mut event = audit::CallEvent::of(
            this.surface,
            this.name,
            Mode::Read,
            &this.principal,
            Some(&arguments),
        )
        .counted_in(this.metrics)
        .in_span(span);
        // What the schema does not declare is gone before the policy and the type see the
        // arguments (see `InputSchema::strip_undeclared`); the audit has its shape as sent.
        if let Some(schema) = this.params {
            schema.strip_undeclared(&mut arguments);
        }

        let request =
            AccessRequest::new(this.name, Mode::Read, &this.principal).with_arguments(&arguments);
        if let Err(cause) = this.context.authorize(this.policy, request).await {
            event.finish(started, Verdict::Denied(&cause), Some(IncidentId::new()));
            return Err(Refused::Denied);
        }
        // The server's rate limit, only once the caller may read or get what it asked for:
        // a caller who may not is told it does not exist, limited or not, so that the limit
        // cannot tell which names exist. A completion takes nothing from it (typing an
        // argument does not use the caller's calls up).
        if !matches!(this.surface, Surface::Completion { .. })
            && let Err(limited) = this.context.admit(&this.principal)
        {
            let safe =
                crate::route::call::rate_limited_error(limited, "server", &mut event, started);
            return Err(Refused::Failed(safe));
        }

        let schema = this.params;
        let mut arguments = serde_json::Value::Object(arguments);
        let no_names = DeclaredNames::default();
        // As a tool's arguments are: the size caps first (a schema with no bound
        // still takes no 4 MiB string), then the schema, then the type, integral floats
        // (`3.0`, an integer to JSON Schema) written as integers for it.
        let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let names = schema.map_or(&no_names, InputSchema::names);
            let walked = this
                .limits
                .check(&arguments, names)
                .map_err(|problem| vec![problem])?;
            if let Some(schema) = schema {
                schema.check(&arguments)?;
            }
            if walked.integral_floats {
                crate::route::arguments::integral_floats_as_integers(&mut arguments);
            }
            parse(&arguments, names).map_err(|problem| vec![problem])
        }));
        // What the handler gets is parsed: the arguments as sent go now, not when it ends.
        drop(arguments);
        let params = match parsed {
            Ok(Ok(params)) => params,
            Ok(Err(problems)) => {
                let incident = IncidentId::new();
                event.finish(started, Verdict::InvalidArguments, Some(incident));
                return Err(Refused::Invalid(problems, incident));
            }
            Err(panic) => {
                let panicked = Panicked::during("parsing the parameters", &*panic);
                let error = ToolError::internal(panicked);
                return Err(Refused::Failed(failed(&mut event, started, &error)));
            }
        };

        let _slot = match this.calls.try_acquire() {
            Ok(slot) => slot,
            Err(full) => {
                let error = crate::resilience::overloaded(full);
                return Err(Refused::Failed(failed(&mut event, started, &error)));
            }
        };
        let mut limits = Limits::new(this.timeout).with_dependency_ref(this.dependency);
        if this.context.decided_locally(this.policy) {
            limits = limits.started_at(started);
        }
        #[cfg(feature = "testing")]
        if let Some(reached) = this.probe.reached {
            reached.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let context = CallContext::new(this.session, this.name, this.principal.clone());
        let run = handler(this.this, params, context).map(|result| result.map_err(into_error));
        match limits.run(run).await {
            Ok(value) => {
                event.finish(started, Verdict::Ok, None);
                Ok(value)
            }
            Err(error) => Err(Refused::Failed(failed(&mut event, started, &error))),
        }
    }
}

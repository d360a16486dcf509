//! The guarded call: what every call of a secure tool goes through, in order.

use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rmcp::model::{CallToolResponse, CallToolResult, InputResponses, JsonObject};
use tracing::Instrument as _;

use super::field_path::{Problem, invalid_arguments};
use super::render::Rendering;
use super::secure_route::{BoxFuture, SecureRoute};
use super::settings::{CallSettings, WriteGateView};
use super::spec::ToolSpec;
use super::types::ToolTypes;
use crate::audit::{self, Verdict};
use crate::authz::{AccessRequest, DenialCause, Mode, Policy, Principal};
use crate::bulkhead::BulkheadPermit;
use crate::confirm::{
    Carried, Confirmation, Confirmations, Confirmed, Refusal, StateRefused, Unconfirmed,
};
use crate::context::{CallContext, Grant, Rounds, Session};
use crate::health::{ServicePath, Status};
use crate::rate::Limited;
use crate::resilience::{Limits, Panicked};
use crate::sanitize::{ErrorCategory, IncidentId, SafeError, ToolError};

/// One call of one secure tool, handed by the server to the route's entry point.
pub(crate) struct Invocation<'a, S> {
    this: &'a S,
    route: &'a SecureRoute<S>,
    arguments: Option<JsonObject>,
    principal: Principal,
    context: CallSettings<'a>,
    /// The policy that decides this call: the tool's own, except in the fail-closed check
    /// of `testing`, which puts failing policies in its place.
    policy: &'a Policy,
    /// The session the call came in on (none in process): the handler's context.
    session: Option<Session>,
    /// A 2026-07-28 retry's request state and input responses, if this call is one.
    retry: (Option<String>, Option<InputResponses>),
    /// Whether the in-process caller says it has the user's confirmation already
    /// ([`SecureServer::call_confirmed`](crate::SecureServer::call_confirmed)).
    confirmed_by_caller: bool,
    /// Counts the calls that reached the handler (the fail-closed check only).
    #[cfg(feature = "testing")]
    reached: Option<&'a std::sync::atomic::AtomicUsize>,
}

impl<'a, S> Invocation<'a, S> {
    /// A call of `route` on the server's state `this`.
    #[inline]
    pub(crate) fn new(
        this: &'a S,
        route: &'a SecureRoute<S>,
        arguments: Option<JsonObject>,
        principal: Principal,
        context: CallSettings<'a>,
    ) -> Self {
        Self {
            this,
            route,
            arguments,
            principal,
            context,
            policy: &route.spec.policy,
            session: None,
            retry: (None, None),
            confirmed_by_caller: false,
            #[cfg(feature = "testing")]
            reached: None,
        }
    }

    /// This call, come in on `session`.
    #[inline]
    pub(crate) fn on(mut self, session: Session) -> Self {
        self.session = Some(session);
        self
    }

    /// This in-process call, whose caller has the user's confirmation already.
    pub(crate) fn confirmed_by_caller(mut self) -> Self {
        self.confirmed_by_caller = true;
        self
    }

    /// This call, a 2026-07-28 retry with `state` and `responses` (either may be absent).
    #[inline]
    pub(crate) fn retrying(
        mut self,
        state: Option<String>,
        responses: Option<InputResponses>,
    ) -> Self {
        self.retry = (state, responses);
        self
    }

    /// This call with `policy` in place of the tool's own and of the server's, decided
    /// within `authz_timeout`, counting in `reached` whether the handler ran: the probe of
    /// the fail-closed check, which only ever puts policies that never allow.
    #[cfg(feature = "testing")]
    pub(crate) fn probed(
        mut self,
        policy: &'a Policy,
        authz_timeout: std::time::Duration,
        reached: &'a std::sync::atomic::AtomicUsize,
    ) -> Self {
        self.policy = policy;
        self.context.authz_timeout = authz_timeout;
        // The check is about each tool's own policy failing (and no probe is limited).
        self.context.server_policy = None;
        self.context.rate_limit = None;
        self.reached = Some(reached);
        self
    }
}

impl<'a, S: Send + Sync + 'static> Invocation<'a, S> {
    /// The guarded call: authorize (fail-closed), pass the write gate, check the arguments
    /// (size limits, input schema) and parse them, make the call's capability with `grant`
    /// and its context (only then), run `handler` with panics caught, and turn its result
    /// into a sanitized MCP result. One audit event.
    ///
    /// This function and [`Typed`]'s methods are the only parts compiled once per tool
    /// (they are generic over the tool's types and handler): it boxes the tool's part of
    /// the call and hands it, its types erased, to [`run_typed`](Self::run_typed),
    /// compiled once per server: one allocation more than the call's own future, and one
    /// state machine for every tool instead of one a tool.
    pub(super) fn run<A, T, E, C, Fut>(
        self,
        types: ToolTypes<A, T, E>,
        grant: impl FnOnce() -> C + Send + 'a,
        handler: impl FnOnce(&'a S, A, Grant<'a, C>) -> Fut + Send + 'a,
    ) -> BoxFuture<'a, CallToolResponse>
    where
        A: Send + 'a,
        T: Send + 'a,
        E: 'a,
        C: 'a,
        Fut: Future<Output = Result<T, E>> + Send + 'a,
    {
        Box::pin(self.run_typed(Box::pin(Typed::new(types, grant, handler))))
    }

    /// The guarded call of the tool's part `typed`, within the call's span.
    async fn run_typed(
        mut self,
        mut typed: Pin<Box<dyn TypedCall<'a, S> + 'a>>,
    ) -> CallToolResponse {
        let spec = &self.route.spec;
        let span = audit::call_span(audit::Surface::Tool, &spec.name, spec.mode);
        self.run_in(span.clone(), typed.as_mut())
            .instrument(span)
            .await
    }

    /// [`run_typed`](Self::run_typed) within `span`. It borrows the invocation, which
    /// `run_typed`'s future holds: an async function keeps its arguments for as long as it
    /// runs, so one taking `self` would hold a second copy.
    async fn run_in(
        &mut self,
        span: tracing::Span,
        mut typed: Pin<&mut (dyn TypedCall<'a, S> + '_)>,
    ) -> CallToolResponse {
        let started = tokio::time::Instant::now();
        let route = self.route;
        let spec: &'a ToolSpec = &route.spec;
        let mut arguments = self.arguments.take();
        // The audit records the shape of what was sent...
        let mut event =
            audit::CallEvent::new(&spec.name, spec.mode, &self.principal, arguments.as_ref())
                .counted_in(self.context.metrics.then_some(&*route.metrics))
                .in_span(span);
        // ...but what the schema does not declare reaches nothing, and is gone before the
        // policy and the type see the arguments: they see the same members.
        if let Some(arguments) = &mut arguments {
            route.input.strip_undeclared(arguments);
        }
        let rounds_apply = match self.admit(arguments.as_ref(), &mut event, started).await {
            Ok(rounds_apply) => rounds_apply,
            Err(refused) => return refused.into(),
        };

        // The arguments, checked before the handler's type sees them: the size limits
        // first (cheap, and they bound the rest), then the published input schema, then
        // parsing. Parsing runs the user's `Deserialize`, rendering their `Serialize`: a
        // panic in either (or in the checks) is caught like one in the handler, and
        // answered the same way.
        let mut arguments = serde_json::Value::Object(arguments.unwrap_or_default());
        let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            typed.as_mut().parse(route, &mut arguments)
        }));
        match parsed {
            Ok(Ok(())) => {}
            Ok(Err(problems)) => return refused_arguments(problems, &mut event, started).into(),
            Err(panic) => {
                let panicked = Panicked::during("parsing the arguments", &*panic);
                return fail(&mut event, started, ToolError::internal(panicked)).into();
            }
        }

        // A confirmed tool's question (and its 2026-07-28 binding) is written from the
        // arguments, once they are known to be valid: those parsed, not a copy.
        let sent = match arguments {
            serde_json::Value::Object(sent) => Some(sent),
            _ => None,
        };
        let Ready {
            slot: _slot,
            limits,
            rounds,
        } = match self.ready(rounds_apply, sent, &mut event, started).await {
            Ok(ready) => ready,
            Err(answer) => {
                // The parsed arguments go now, within the call's span.
                typed.as_mut().discard();
                return answer;
            }
        };
        #[cfg(feature = "testing")]
        if let Some(reached) = self.reached {
            reached.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let context = CallContext::new(self.session.take(), &spec.name, self.principal.clone())
            .in_rounds(rounds.as_ref().map(|rounds| Arc::clone(&rounds.rounds)));
        typed.as_mut().start(self.this, context);
        let outcome = limits.run(Handling(typed.as_mut())).await;
        // A round that asked the client something is answered with the questions, whatever
        // the handler made of their pending answers; the next round runs it again.
        if let Some(rounds) = rounds
            && let Some(asked) =
                rounds.asked(&self.principal, spec, &self.context, &mut event, started)
        {
            // The handler's value, not rendered, goes while the tool's slot is held.
            typed.as_mut().discard();
            return asked;
        }
        // Rendering runs the user's `Serialize`: a panic in it is caught here, once per
        // server rather than once per tool.
        let rendered = outcome.map(|()| {
            std::panic::catch_unwind(AssertUnwindSafe(|| typed.as_mut().render(route.rendering)))
        });
        answer(route, &self.context, rendered, &mut event, started)
    }

    /// The checks before the arguments are read: the server's rate limit, authorization
    /// (fail-closed), the tool's rate limit and the write gate. Whether the call goes
    /// through 2026-07-28 rounds, or the answer that refuses it.
    async fn admit(
        &self,
        arguments: Option<&JsonObject>,
        event: &mut audit::CallEvent<'_>,
        started: tokio::time::Instant,
    ) -> Result<bool, CallToolResult> {
        let spec = &self.route.spec;
        // The server's rate limit first: a caller over it costs no policy decision.
        if let Err(limited) = self.context.admit(&self.principal) {
            return Err(rate_limited(limited, "server", event, started));
        }
        let mut request = AccessRequest::new(&spec.name, spec.mode, &self.principal);
        if let Some(arguments) = arguments {
            request = request.with_arguments(arguments);
        }
        if let Err(cause) = self.context.authorize(self.policy, request).await {
            let safe = SafeError::new(ErrorCategory::Denied, None, IncidentId::new());
            event.finish(started, Verdict::Denied(&cause), Some(safe.incident_id));
            return Err(safe.to_result());
        }
        // The tool's own limit counts only the calls its policy allows: a caller who may
        // not use the tool is told so, never the tool's limit. A 2026-07-28 retry carrying
        // the state of an earlier round is that round's call going on, counted when it
        // began (a forged or replayed state is denied below, and runs nothing).
        let rounds_apply = self
            .session
            .as_ref()
            .is_some_and(Session::asks_by_input_required)
            && !self.confirmed_by_caller;
        let continues_a_round = rounds_apply && !matches!(self.retry, (None, None));
        if let Some(limiter) = &self.route.rate
            && !continues_a_round
            && let Err(limited) = limiter.check(&self.principal)
        {
            return Err(rate_limited(limited, "tool", event, started));
        }

        if spec.mode == Mode::Write
            && let Some(gate) = self.context.write_gate
            && gate.monitor.status(ServicePath::Writes) == Status::Degraded
        {
            return Err(degraded(gate, event, started));
        }
        Ok(rounds_apply)
    }

    /// The checks once the arguments (`sent`) are valid: the user's yes, asked only now
    /// (so that a call that would be refused is never put to the user), the write gate
    /// again if the user was asked, and a slot of the tool. The call's limits and rounds,
    /// or the answer that ends it.
    async fn ready(
        &self,
        rounds_apply: bool,
        sent: Option<JsonObject>,
        event: &mut audit::CallEvent<'_>,
        started: tokio::time::Instant,
    ) -> Result<Ready<'a>, CallToolResponse> {
        let spec: &'a ToolSpec = &self.route.spec;
        // Waiting for a person takes no slot of the tool (questions are bounded on their
        // own), and the wait is not the handler's: its deadline starts after the answer.
        let mut asked_user = false;
        let mut rounds = None;
        if rounds_apply && let Some(sent) = sent {
            // 2026-07-28: a retry's state is opened (checked, redeemed once) before anything
            // else; what earlier rounds settled comes with it.
            // The binding (caller, tool, digest of the arguments) ties a round's state to
            // this call: made when a state is opened or sealed, not for every call.
            let bind = || crate::confirm::binding(&self.principal, &spec.name, &sent);
            let first = matches!(self.retry, (None, None));
            let mut binding = None;
            let mut carried = if first {
                Carried::default()
            } else {
                let (state, responses) = &self.retry;
                let opened = self.context.confirmations.open(
                    state.as_deref(),
                    responses.as_ref(),
                    binding.insert(bind()),
                    &self.principal,
                );
                match opened {
                    Ok(carried) => carried,
                    Err(Refusal::Denied(why)) => {
                        return Err(refused_state(why, event, started).into());
                    }
                    Err(Refusal::Busy) => {
                        return Err(not_confirmed(Unconfirmed::Busy, event, started).into());
                    }
                    Err(Refusal::TooLarge) => {
                        let safe = SafeError::new(
                            ErrorCategory::InvalidInput,
                            Some("The answers to this call's questions are too large.".into()),
                            IncidentId::new(),
                        );
                        event.finish(started, Verdict::InvalidArguments, Some(safe.incident_id));
                        return Err(safe.to_result().into());
                    }
                }
            };
            if let Some(question) = &spec.confirmation
                && !carried.confirmed
            {
                asked_user = true;
                let answers_forms = self.session.as_ref().is_some_and(Session::answers_forms);
                if first && answers_forms {
                    let asked = self
                        .context
                        .confirmations
                        .ask(question.render(&sent), binding.get_or_insert_with(bind));
                    event.finish(started, Verdict::ConfirmationAsked, None);
                    return Err(CallToolResponse::InputRequired(asked));
                }
                let decided = if first {
                    Confirmed::No(Unconfirmed::Unsupported)
                } else {
                    crate::confirm::decide_in(&carried.answers)
                };
                match decided {
                    Confirmed::Yes => carried.confirmed = true,
                    Confirmed::No(why) => return Err(not_confirmed(why, event, started).into()),
                }
            }
            rounds = Some(InRounds {
                rounds: Arc::new(Rounds::new(carried)),
                binding,
                sent,
            });
        } else if let (Some(question), Some(sent)) = (&spec.confirmation, &sent)
            && !self.confirmed_by_caller
        {
            // A session with a handshake: the user is asked through elicitation.
            asked_user = true;
            // Boxed: asking a person through elicitation is a future of ~6 KiB (rmcp's
            // request to the client), which every call's future would otherwise carry,
            // allocated and moved whether it confirms or not.
            let asked = Box::pin(confirm(
                question,
                sent,
                &spec.name,
                self.session.as_ref(),
                self.context.confirmations,
                &self.principal,
            ))
            .await;
            match asked {
                Confirmed::Yes => {}
                Confirmed::No(why) => return Err(not_confirmed(why, event, started).into()),
            }
        }
        if asked_user
            && let Some(gate) = self.context.write_gate
            && gate.monitor.status(ServicePath::Writes) == Status::Degraded
        {
            // Writes may have degraded while the user thought.
            return Err(degraded(gate, event, started).into());
        }

        // Every tool is bounded, whether or not it names a dependency.
        let slot = match self.route.calls.try_acquire() {
            Ok(slot) => slot,
            Err(full) => {
                let overloaded = crate::resilience::overloaded(full);
                return Err(fail(event, started, overloaded).into());
            }
        };
        let mut limits =
            Limits::new(spec.timeout).with_dependency_ref(self.route.dependency(self.this));
        if self.context.decided_locally(self.policy) && !asked_user {
            limits = limits.started_at(started);
        }
        Ok(Ready {
            slot,
            limits,
            rounds,
        })
    }
}

/// What a call that passed every check runs with: a slot of its tool, held until it ends,
/// its limits, and its rounds if it is a 2026-07-28 call that may ask the client.
struct Ready<'a> {
    slot: BulkheadPermit<'a>,
    limits: Limits<'a>,
    rounds: Option<InRounds>,
}

/// A 2026-07-28 call's rounds: what its handler asks the client goes into `rounds`, and is
/// answered with a state bound to the call (`binding`, made from the arguments as checked,
/// integral floats written as integers, if opening a state did not make it already).
struct InRounds {
    rounds: Arc<Rounds>,
    binding: Option<Vec<u8>>,
    sent: JsonObject,
}

impl InRounds {
    /// The answer of a round whose handler asked the client something: the questions,
    /// with the state that carries what was settled to the next round.
    fn asked(
        self,
        principal: &Principal,
        spec: &ToolSpec,
        settings: &CallSettings<'_>,
        event: &mut audit::CallEvent<'_>,
        started: tokio::time::Instant,
    ) -> Option<CallToolResponse> {
        let (requests, carried) = self.rounds.asked()?;
        let binding = self
            .binding
            .unwrap_or_else(|| crate::confirm::binding(principal, &spec.name, &self.sent));
        let asked = settings.confirmations.seal(requests, carried, &binding);
        event.finish(started, Verdict::ConfirmationAsked, None);
        Some(CallToolResponse::InputRequired(asked))
    }
}

/// A handler's value rendered as the call's result, or the panic that rendering it raised.
type Rendered = std::thread::Result<Result<CallToolResult, serde_json::Error>>;

/// A tool's part of a call, its types erased: what the guarded call, compiled once per
/// server, asks of the tool's arguments, handler and result, in this order.
trait TypedCall<'a, S>: Send {
    /// Checks `arguments` against `route`'s limits and input schema and parses them into
    /// the tool's arguments, kept for [`start`](Self::start).
    fn parse(
        self: Pin<&mut Self>,
        route: &SecureRoute<S>,
        arguments: &mut serde_json::Value,
    ) -> Result<(), Vec<Problem>>;

    /// Calls the handler on `state`, the parsed arguments and the call's capability and
    /// `context`; its future is kept, to be polled by [`poll_handler`](Self::poll_handler).
    ///
    /// # Panics
    ///
    /// If the arguments were not parsed, or the call started already.
    fn start(self: Pin<&mut Self>, state: &'a S, context: CallContext<'a>);

    /// Polls the handler's future, keeping its value for [`render`](Self::render). The
    /// future is dropped as soon as it is done.
    ///
    /// # Panics
    ///
    /// If the call was not started, or is done.
    fn poll_handler(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ToolError>>;

    /// The handler's value rendered as the call's result.
    ///
    /// # Panics
    ///
    /// If the handler has not returned a value, or rendering it panics: the guarded call
    /// catches both.
    fn render(
        self: Pin<&mut Self>,
        rendering: Rendering,
    ) -> Result<CallToolResult, serde_json::Error>;

    /// Drops the handler's future, if it is still there: the limits are done with the
    /// call (its deadline passed, it panicked, it was cancelled or refused).
    fn stop(self: Pin<&mut Self>);

    /// Drops whatever the call still holds of the tool's (its arguments, the handler's
    /// future or value): the call ends without rendering a value.
    fn discard(self: Pin<&mut Self>);
}

pin_project_lite::pin_project! {
    /// The [`TypedCall`] of a tool taking `A` and returning `Result<T, E>`: its types, the
    /// maker of its capability and its handler until it starts, then the handler's future,
    /// then its value.
    struct Typed<A, T, E, C, G, H, Fut> {
        types: ToolTypes<A, T, E>,
        handler: Option<(G, H)>,
        arguments: Option<A>,
        #[pin]
        running: Option<Fut>,
        value: Option<T>,
        capability: PhantomData<fn() -> C>,
    }
}

impl<A, T, E, C, G, H, Fut> Typed<A, T, E, C, G, H, Fut> {
    fn new(types: ToolTypes<A, T, E>, grant: G, handler: H) -> Self {
        Self {
            types,
            handler: Some((grant, handler)),
            arguments: None,
            running: None,
            value: None,
            capability: PhantomData,
        }
    }
}

impl<'a, S, A, T, E, C, G, H, Fut> TypedCall<'a, S> for Typed<A, T, E, C, G, H, Fut>
where
    S: Send + Sync + 'static,
    A: Send,
    T: Send,
    G: FnOnce() -> C + Send,
    H: FnOnce(&'a S, A, Grant<'a, C>) -> Fut + Send,
    Fut: Future<Output = Result<T, E>> + Send + 'a,
{
    fn parse(
        self: Pin<&mut Self>,
        route: &SecureRoute<S>,
        arguments: &mut serde_json::Value,
    ) -> Result<(), Vec<Problem>> {
        let this = self.project();
        *this.arguments = Some(route.checked_arguments(arguments, this.types.parse)?);
        Ok(())
    }

    fn start(self: Pin<&mut Self>, state: &'a S, context: CallContext<'a>) {
        let mut this = self.project();
        let (grant, handler) = this.handler.take().expect("a call starts once");
        let arguments = this.arguments.take().expect("a call starts once parsed");
        let grant = Grant::new(grant(), context);
        this.running.set(Some(handler(state, arguments, grant)));
    }

    fn poll_handler(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ToolError>> {
        let mut this = self.project();
        let running = this.running.as_mut().as_pin_mut();
        let result = std::task::ready!(running.expect("polled once started").poll(cx));
        this.running.set(None);
        Poll::Ready(match result {
            Ok(value) => {
                *this.value = Some(value);
                Ok(())
            }
            Err(error) => Err((this.types.into_error)(error)),
        })
    }

    fn render(
        self: Pin<&mut Self>,
        rendering: Rendering,
    ) -> Result<CallToolResult, serde_json::Error> {
        let this = self.project();
        let value = this.value.take();
        (this.types.render)(
            value.expect("rendered once the handler returned a value"),
            rendering,
        )
    }

    fn stop(self: Pin<&mut Self>) {
        let mut running = self.project().running;
        crate::util::drop_caught("a handler's future", || running.set(None));
    }

    fn discard(self: Pin<&mut Self>) {
        let mut this = self.project();
        // Each on its own: one that panics leaves the others to be dropped here too.
        crate::util::drop_caught("a call's arguments", || *this.arguments = None);
        crate::util::drop_caught("a handler's future", || this.running.set(None));
        crate::util::drop_caught("a handler's value", || *this.value = None);
    }
}

/// The handler's part of a call under its [`Limits`]: the call's [`TypedCall`] polled, and
/// stopped when the limits drop it (past the deadline, after a panic, when the call is
/// cancelled or the limits refuse it), as they would drop the handler's own future.
struct Handling<'t, 'a, S>(Pin<&'t mut (dyn TypedCall<'a, S> + 't)>);

impl<S> Future for Handling<'_, '_, S> {
    type Output = Result<(), ToolError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll_handler(cx)
    }
}

impl<S> Drop for Handling<'_, '_, S> {
    fn drop(&mut self) {
        self.0.as_mut().stop();
    }
}

/// The answer of a call whose arguments broke the tool's input schema or limits: each
/// problem by its place, never the value sent.
fn refused_arguments(
    problems: Vec<Problem>,
    event: &mut audit::CallEvent<'_>,
    started: tokio::time::Instant,
) -> CallToolResult {
    let message = invalid_arguments(problems);
    let safe = SafeError::new(
        ErrorCategory::InvalidInput,
        Some(message.into()),
        IncidentId::new(),
    );
    event.finish(started, Verdict::InvalidArguments, Some(safe.incident_id));
    safe.to_result()
}

/// The handler's outcome, its value `rendered` (or a panic while rendering), made the
/// call's answer: the result, checked against the output schema if the server checks
/// outputs, or the sanitized error.
fn answer<S: Send + Sync + 'static>(
    route: &SecureRoute<S>,
    settings: &CallSettings<'_>,
    rendered: Result<Rendered, ToolError>,
    event: &mut audit::CallEvent<'_>,
    started: tokio::time::Instant,
) -> CallToolResponse {
    match rendered {
        Ok(Ok(Ok(result))) => {
            if settings.check_outputs
                && let Err(violation) = route.check_output(&result)
            {
                return fail(event, started, ToolError::internal(violation)).into();
            }
            event.finish(started, Verdict::Ok, None);
            result.into()
        }
        Ok(Ok(Err(error))) => fail(event, started, ToolError::internal(error)).into(),
        Ok(Err(panic)) => {
            let panicked = Panicked::during("rendering the result", &*panic);
            fail(event, started, ToolError::internal(panicked)).into()
        }
        Err(error) => fail(event, started, error).into(),
    }
}

/// Asks the user to confirm a call of `tool` with the arguments `sent`: through
/// elicitation on a session with a handshake, through an `InputRequiredResult` (or its
/// retry) on a 2026-07-28 request; no session, or a client that cannot ask, is a no.
async fn confirm(
    question: &Confirmation,
    sent: &JsonObject,
    tool: &str,
    session: Option<&Session>,
    confirmations: &Confirmations,
    principal: &Principal,
) -> Confirmed {
    let Some(session) = session.filter(|session| session.takes_requests()) else {
        return Confirmed::No(Unconfirmed::Unsupported);
    };
    if !session.answers_forms() {
        return Confirmed::No(Unconfirmed::Unsupported);
    }
    let Some(_waiting) = confirmations.pending_slot(principal) else {
        return Confirmed::No(Unconfirmed::Busy);
    };
    // The question is the runtime's, not a handler's: asked for no one in particular.
    let context = CallContext::new(Some(session.clone()), tool, Principal::anonymous());
    let asked = context.ask(
        question.render(sent).into(),
        crate::confirm::schema(),
        crate::confirm::CONFIRMATION_TIMEOUT,
    );
    match asked.await {
        Ok(Some(answer)) => crate::confirm::decide(&answer),
        Ok(None) => Confirmed::No(Unconfirmed::Unsupported),
        // The session failed while asking: not a yes.
        Err(_) => Confirmed::No(Unconfirmed::Cancelled),
    }
}

/// The answer to a retry whose state is refused: the generic denial, the cause logged.
fn refused_state(
    why: StateRefused,
    event: &mut audit::CallEvent<'_>,
    started: tokio::time::Instant,
) -> CallToolResult {
    let safe = SafeError::new(ErrorCategory::Denied, None, IncidentId::new());
    let cause = DenialCause::RequestState(why.to_string());
    event.finish(started, Verdict::Denied(&cause), Some(safe.incident_id));
    safe.to_result()
}

/// The answer of a tool the user did not confirm: an error result saying so, and why.
fn not_confirmed(
    why: Unconfirmed,
    event: &mut audit::CallEvent<'_>,
    started: tokio::time::Instant,
) -> CallToolResult {
    let category = match why {
        Unconfirmed::Busy => ErrorCategory::Overloaded,
        _ => ErrorCategory::NotConfirmed,
    };
    let safe = SafeError::new(category, Some(why.message().into()), IncidentId::new());
    event.finish(
        started,
        Verdict::NotConfirmed(why.as_str()),
        Some(safe.incident_id),
    );
    let mut extra = serde_json::Map::new();
    extra.insert("confirmation".to_owned(), why.as_str().into());
    safe.to_result_with(safe.text(), extra)
}

/// The answer of a call over a rate limit (`limit`: `"tool"` or `"server"`): retryable,
/// with the time after which a retry may succeed.
pub(crate) fn rate_limited_error(
    limited: Limited,
    limit: &'static str,
    event: &mut audit::CallEvent<'_>,
    started: tokio::time::Instant,
) -> SafeError {
    let safe = SafeError::new(ErrorCategory::RateLimited, None, IncidentId::new())
        .retry_after(limited.retry_after);
    event.finish(started, Verdict::RateLimited(limit), Some(safe.incident_id));
    safe
}

fn rate_limited(
    limited: Limited,
    limit: &'static str,
    event: &mut audit::CallEvent<'_>,
    started: tokio::time::Instant,
) -> CallToolResult {
    rate_limited_error(limited, limit, event, started).to_result()
}

/// The answer of a write tool while writes are degraded: an error result the model can
/// act on, naming the read tools that still work.
fn degraded(
    gate: WriteGateView<'_>,
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
    failed(event, started, &error).to_result()
}

/// The caller's view of `error`, under a fresh incident id; the event records the whole
/// error (its internal chain, or the panic) under that id.
pub(crate) fn failed(
    event: &mut audit::CallEvent<'_>,
    started: tokio::time::Instant,
    error: &ToolError,
) -> SafeError {
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
        None => Verdict::Failed(error),
    };
    event.finish(started, outcome, Some(safe.incident_id));
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_of_a_confirmation_names_why_and_busy_is_retryable() {
        let principal = Principal::new("ada");
        for (why, category) in [
            (Unconfirmed::Declined, "not_confirmed"),
            (Unconfirmed::Cancelled, "not_confirmed"),
            (Unconfirmed::Unsupported, "not_confirmed"),
            (Unconfirmed::Busy, "overloaded"),
        ] {
            let mut event = audit::CallEvent::new("delete", Mode::Write, &principal, None);
            let result = not_confirmed(why, &mut event, tokio::time::Instant::now());
            let facts = crate::sanitize::error_facts(&result).unwrap();
            assert_eq!(facts["category"], category, "{why:?}");
            assert_eq!(facts["confirmation"], why.as_str());
            assert_eq!(facts["retryable"], why == Unconfirmed::Busy);
        }
    }
}

//! The audit trail: one `tracing` event per tool call, on the target `secure_tool::audit`.
//!
//! Each event has the tool, its mode, the principal, the decision, the outcome, the latency
//! in microseconds, the incident id (for failures) and the *shape* of the arguments (their
//! names and JSON types, never their values). Denials carry their cause, failures their
//! internal error chain: this is where the operator finds what the caller was not told.
//!
//! Nothing of the caller's reaches an event verbatim. Text from outside (the principal's
//! subject, argument names, error texts, panic messages) is escaped and cut, so that a
//! subject such as `"ada\n… INFO secure_tool::audit: …"` cannot forge a line; and a
//! failure's public message is logged as written only when it is a literal of the code
//! (`ToolError::not_found("no such note")`): one built at run time (`format!("no note with
//! id {id}")`) may hold the caller's data, and is logged as a digest (`public_message_digest`),
//! equal for equal messages within one process and not reversible.
//!
//! ```
//! use secure_tool::audit::argument_shape;
//! let args = serde_json::json!({"title": "secret plans", "tags": ["a"], "id": 7});
//! assert_eq!(
//!     argument_shape(args.as_object()),
//!     "{id: number, tags: array, title: string}"
//! );
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;
use std::hash::BuildHasher as _;
use std::sync::LazyLock;

use rmcp::model::JsonObject;
use tracing::Level;

use crate::authz::{DenialCause, Mode, Principal};
use crate::metrics::CallMetrics;
use crate::sanitize::{IncidentId, ToolError, error_chain};
use crate::util::LogSafe;

/// How much of a principal's subject an event writes.
const SUBJECT_LIMIT: usize = 256;
/// How much of an error chain, a denial's cause or a panic message an event writes.
const TEXT_LIMIT: usize = 2048;

/// How many arguments [`argument_shape`] lists at most.
pub const SHAPE_FIELDS: usize = 32;

/// The target of audit events, for filtering (`RUST_LOG=secure_tool::audit=info`).
pub const TARGET: &str = "secure_tool::audit";

/// The names and JSON types of the arguments of a call, sorted by name; never their values.
///
/// The caller chooses the names and how many there are: each name is cut at 64
/// characters, and only the first [`SHAPE_FIELDS`] are listed, then how many more there
/// were, so that the audit line stays short (about 2.5 KiB at most) whatever the call.
///
/// ```
/// use secure_tool::audit::argument_shape;
/// let many: serde_json::Map<_, _> = (0..1000).map(|i| (format!("k{i:04}"), 0.into())).collect();
/// let shape = argument_shape(Some(&many));
/// assert!(shape.starts_with("{k0000: number, k0001: number"));
/// assert!(shape.ends_with("k0031: number, … 968 more}"));
/// ```
pub fn argument_shape(arguments: Option<&JsonObject>) -> String {
    let Some(arguments) = arguments else {
        return "{}".to_owned();
    };
    let mut fields: Vec<(&str, &str)> = arguments
        .iter()
        .map(|(k, v)| {
            let kind = match v {
                serde_json::Value::Null => "null",
                serde_json::Value::Bool(_) => "boolean",
                serde_json::Value::Number(_) => "number",
                serde_json::Value::String(_) => "string",
                serde_json::Value::Array(_) => "array",
                serde_json::Value::Object(_) => "object",
            };
            (k.as_str(), kind)
        })
        .collect();
    fields.sort_unstable();
    let more = fields.len().saturating_sub(SHAPE_FIELDS);
    let mut shape = String::from("{");
    for (i, (name, kind)) in fields.iter().take(SHAPE_FIELDS).enumerate() {
        if i > 0 {
            shape.push_str(", ");
        }
        // Argument names come from the caller: escaped, and cut when absurdly long.
        let _ = write!(shape, "{}: {kind}", LogSafe::new(name, 64));
    }
    if more > 0 {
        let _ = write!(shape, ", … {more} more");
    }
    shape.push('}');
    shape
}

/// How a call ended, for the audit event.
pub(crate) enum Verdict<'a> {
    Ok,
    Denied(&'a DenialCause),
    InvalidArguments,
    Failed(&'a ToolError),
    Panicked(&'a str),
    Degraded,
    /// A tool that needs the user's confirmation did not get it (declined, cancelled,
    /// unsupported, busy).
    NotConfirmed(&'static str),
    /// A tool that needs the user's confirmation answered a 2026-07-28 request with the
    /// question; the client's retry carries the answer.
    ConfirmationAsked,
    /// The caller is over a rate limit: `"tool"` (the tool's own) or `"server"` (the
    /// server's, over every call of the caller).
    RateLimited(&'static str),
}

impl Verdict<'_> {
    /// The outcome, as the audit event, the call's span and the metrics name it.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Denied(_) => "denied",
            Verdict::InvalidArguments => "invalid_arguments",
            Verdict::Failed(_) => "error",
            Verdict::Panicked(_) => "panic",
            Verdict::Degraded => "degraded",
            Verdict::NotConfirmed(_) => "not_confirmed",
            Verdict::ConfirmationAsked => "confirmation_asked",
            Verdict::RateLimited(_) => "rate_limited",
        }
    }
}

/// The target of the span around each guarded call (`secure_tool.call`), for a tracing
/// layer that exports spans (OpenTelemetry): filter it in, or out of a log.
///
/// ```
/// use secure_tool::audit::SPAN_TARGET;
/// use tracing_subscriber::filter::{LevelFilter, Targets};
///
/// // A log that leaves the calls' spans to the exporter, and an exporter that takes them.
/// let log = Targets::new()
///     .with_default(LevelFilter::INFO)
///     .with_target(SPAN_TARGET, LevelFilter::OFF);
/// let export = Targets::new().with_target(SPAN_TARGET, LevelFilter::INFO);
/// assert!(!log.would_enable(SPAN_TARGET, &tracing::Level::INFO));
/// assert!(log.would_enable("secure_tool::audit", &tracing::Level::INFO));
/// assert!(export.would_enable(SPAN_TARGET, &tracing::Level::INFO));
/// ```
pub const SPAN_TARGET: &str = "secure_tool::trace";

/// The span around one call of `name` on `surface`: `secure_tool.call`, named for
/// OpenTelemetry `"<method> <name>"` (`tools/call get_note`), with the method, the
/// surface, the declared name and the mode; the outcome, the error category and the
/// incident id are recorded when the call ends. Never the caller, the arguments or a URI.
/// A disabled span (no layer wants [`SPAN_TARGET`]) costs a callsite check.
pub(crate) fn call_span(surface: Surface, name: &str, mode: Mode) -> tracing::Span {
    let method = surface.method();
    tracing::info_span!(
        target: SPAN_TARGET,
        "secure_tool.call",
        otel.name = %format_args!("{method} {name}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        mcp.method.name = method,
        secure_tool.surface = surface.noun(),
        secure_tool.name = name,
        secure_tool.mode = mode.as_str(),
        secure_tool.outcome = tracing::field::Empty,
        error.type = tracing::field::Empty,
        secure_tool.incident_id = tracing::field::Empty,
    )
}

/// What a call was of: the field that names it, and the words of its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Surface {
    /// `tools/call`: the event names the `tool`.
    Tool,
    /// `resources/read`: the event names the `resource` (never the URI read, which may
    /// hold the caller's data: its variables are the `arguments`' shape).
    Resource,
    /// `prompts/get`: the event names the `prompt`.
    Prompt,
    /// `completion/complete`: the event names the `prompt` or `resource` completed, and
    /// the arguments' shape is that of the request (`argument`, `value`).
    Completion {
        /// Whether a resource template's variable is completed, rather than a prompt's
        /// argument.
        resource: bool,
    },
}

impl Surface {
    fn what(self) -> &'static str {
        match self {
            Self::Tool => "tool call",
            Self::Resource => "resource read",
            Self::Prompt => "prompt get",
            Self::Completion { .. } => "completion",
        }
    }

    /// The MCP method of the request.
    fn method(self) -> &'static str {
        match self {
            Self::Tool => "tools/call",
            Self::Resource => "resources/read",
            Self::Prompt => "prompts/get",
            Self::Completion { .. } => "completion/complete",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::Resource => "resource",
            Self::Prompt => "prompt",
            Self::Completion { .. } => "completer",
        }
    }
}

/// The audit record of one call, emitted by [`CallEvent::finish`].
pub(crate) struct CallEvent<'a> {
    surface: Surface,
    name: &'a str,
    mode: Mode,
    principal: &'a Principal,
    shape: Option<String>,
    /// Where the call is counted, when the server's metrics are on.
    metrics: Option<&'a CallMetrics>,
    /// The span around the call, where its outcome is recorded (disabled unless a layer
    /// wants it).
    span: tracing::Span,
}

impl<'a> CallEvent<'a> {
    pub(crate) fn new(
        tool: &'a str,
        mode: Mode,
        principal: &'a Principal,
        arguments: Option<&JsonObject>,
    ) -> Self {
        Self::of(Surface::Tool, tool, mode, principal, arguments)
    }

    pub(crate) fn of(
        surface: Surface,
        name: &'a str,
        mode: Mode,
        principal: &'a Principal,
        arguments: Option<&JsonObject>,
    ) -> Self {
        // The shape costs an allocation: only build it when someone listens.
        let shape =
            tracing::enabled!(target: TARGET, Level::INFO).then(|| argument_shape(arguments));
        Self {
            surface,
            name,
            mode,
            principal,
            shape,
            metrics: None,
            span: tracing::Span::none(),
        }
    }

    /// This event, recording its outcome in `span` too.
    pub(crate) fn in_span(mut self, span: tracing::Span) -> Self {
        self.span = span;
        self
    }

    /// This event, also counted in `metrics` when it finishes (if there are any).
    pub(crate) fn counted_in(mut self, metrics: Option<&'a CallMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub(crate) fn finish(
        &mut self,
        started: tokio::time::Instant,
        outcome: Verdict<'_>,
        incident: Option<IncidentId>,
    ) {
        // The clock is read once, and only if the metrics or a listener want the latency.
        let elapsed = std::cell::OnceCell::new();
        let elapsed = || *elapsed.get_or_init(|| started.elapsed());
        if let Some(metrics) = self.metrics {
            metrics.record(&outcome, elapsed());
        }
        if !self.span.is_disabled() {
            self.record_in_span(&outcome, incident);
        }
        // Fields are evaluated only when someone listens: no clock read otherwise.
        let latency_us = || u64::try_from(elapsed().as_micros()).unwrap_or(u64::MAX);
        let (tool, resource, prompt) = match self.surface {
            Surface::Tool => (Some(self.name), None, None),
            Surface::Resource => (None, Some(self.name), None),
            Surface::Prompt | Surface::Completion { resource: false } => {
                (None, None, Some(self.name))
            }
            Surface::Completion { resource: true } => (None, Some(self.name), None),
        };
        let what = self.surface.what();
        let noun = self.surface.noun();
        let mode = self.mode.as_str();
        let principal = LogSafe::new(self.principal, SUBJECT_LIMIT);
        let arguments = self.shape.as_deref().unwrap_or("");
        let incident_id = incident.map(tracing::field::display);
        match outcome {
            Verdict::Ok => tracing::info!(
                target: TARGET, tool, resource, prompt, mode, %principal, decision = "allow", outcome = "ok",
                latency_us = latency_us(), arguments, "{what} succeeded"
            ),
            Verdict::Denied(cause) => tracing::warn!(
                target: TARGET, tool, resource, prompt, mode, %principal, decision = "deny", outcome = "denied",
                cause = %LogSafe::new(cause, TEXT_LIMIT), latency_us = latency_us(), arguments, incident_id, "{what} denied"
            ),
            Verdict::InvalidArguments => tracing::info!(
                target: TARGET, tool, resource, prompt, mode, %principal, decision = "allow",
                outcome = "invalid_arguments", latency_us = latency_us(), arguments, incident_id,
                "{what} rejected: invalid arguments"
            ),
            Verdict::Failed(error) => {
                let category = error.category().as_str();
                // The error's text runs the user's `Display` and `source()`: a panic there
                // must not unwind through the call, nor cut the audit event short. Written
                // only when someone listens.
                let caller_fault = error.category().caller_fault();
                // Written only when someone listens: nothing is formatted otherwise.
                let (public_message, public_message_digest) = match error.written_message() {
                    Some(Cow::Borrowed(literal)) => {
                        (Some(LogSafe::new(*literal, TEXT_LIMIT)), None)
                    }
                    Some(Cow::Owned(built)) => (None, Some(Digest(built))),
                    None => (None, None),
                };
                let public_message = public_message.map(tracing::field::display);
                let public_message_digest = public_message_digest.map(tracing::field::display);
                let cause = error.source().map(|_| {
                    tracing::field::display(LogSafe::new(InternalCause(error), TEXT_LIMIT))
                });
                if caller_fault {
                    tracing::info!(
                        target: TARGET, tool, resource, prompt, mode, %principal, decision = "allow",
                        outcome = "error", category, public_message, public_message_digest, error = cause,
                        latency_us = latency_us(), arguments, incident_id,
                        "{what} failed (caller's fault)"
                    );
                } else {
                    tracing::error!(
                        target: TARGET, tool, resource, prompt, mode, %principal, decision = "allow",
                        outcome = "error", category, public_message, public_message_digest, error = cause,
                        latency_us = latency_us(), arguments, incident_id, "{what} failed"
                    );
                }
            }
            Verdict::NotConfirmed(why) => tracing::info!(
                target: TARGET, tool, resource, prompt, mode, %principal, decision = "allow", outcome = "not_confirmed",
                confirmation = why, latency_us = latency_us(), arguments, incident_id,
                "write tool not run: the user did not confirm it"
            ),
            Verdict::ConfirmationAsked => tracing::info!(
                target: TARGET, tool, resource, prompt, mode, %principal, decision = "allow", outcome = "confirmation_asked",
                latency_us = latency_us(), arguments, incident_id,
                "write tool not run yet: the user's confirmation was asked for"
            ),
            Verdict::RateLimited(limit) => tracing::info!(
                target: TARGET, tool, resource, prompt, mode, %principal, outcome = "rate_limited",
                limit, latency_us = latency_us(), arguments, incident_id,
                "{what} refused: the caller is over its rate limit"
            ),
            Verdict::Degraded => tracing::warn!(
                target: TARGET, tool, resource, prompt, mode, %principal, decision = "allow", outcome = "degraded",
                latency_us = latency_us(), arguments, incident_id, "write tool refused: writes are degraded"
            ),
            Verdict::Panicked(message) => tracing::error!(
                target: TARGET, tool, resource, prompt, mode, %principal, decision = "allow", outcome = "panic",
                panic = %LogSafe::new(message, TEXT_LIMIT), latency_us = latency_us(), arguments, incident_id, "{noun} handler panicked"
            ),
        }
    }
}

impl CallEvent<'_> {
    /// Records how the call ended in its span: the outcome, the error category (or the
    /// outcome, for a refusal), the incident id, and an error status for the server's
    /// failures (and panics).
    fn record_in_span(&self, outcome: &Verdict<'_>, incident: Option<IncidentId>) {
        let span = &self.span;
        span.record("secure_tool.outcome", outcome.outcome());
        match outcome {
            Verdict::Ok | Verdict::ConfirmationAsked => {}
            Verdict::Failed(error) => {
                let category = error.category();
                span.record("error.type", category.as_str());
                // A server span fails for the server's failures, not for the caller's.
                if !category.caller_fault() {
                    span.record("otel.status_code", "ERROR");
                }
            }
            Verdict::Panicked(_) => {
                span.record("error.type", "panic");
                span.record("otel.status_code", "ERROR");
            }
            refused => {
                span.record("error.type", refused.outcome());
            }
        }
        if let Some(incident) = incident {
            span.record("secure_tool.incident_id", tracing::field::display(incident));
        }
    }
}

/// The internal cause of a failure (its source chain) as the log writes it. A cause
/// whose `Display` (or a `source()` in its chain) panics is written as such instead of
/// unwinding through the guarded call.
struct InternalCause<'a>(&'a ToolError);

impl std::fmt::Display for InternalCause<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(source) = self.0.source() else {
            return Ok(());
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| error_chain(source))) {
            Ok(text) => f.write_str(&text),
            Err(panic) => write!(
                f,
                "(the error's text could not be written: it panicked: {})",
                crate::util::panic_message(&*panic)
            ),
        }
    }
}

/// A digest of a message built at run time: equal for equal messages within this process,
/// and keyed with a key drawn at start, so that a short value in it (an id) cannot be
/// found by hashing candidates.
struct Digest<'a>(&'a str);

impl std::fmt::Display for Digest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        static KEY: LazyLock<std::collections::hash_map::RandomState> =
            LazyLock::new(std::collections::hash_map::RandomState::new);
        write!(f, "{:016x}", KEY.hash_one(self.0))
    }
}

#[cfg(test)]
mod tests;

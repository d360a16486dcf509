//! Error hygiene: what the caller of a tool may see of a failure.
//!
//! The caller (an LLM) never sees the text of a handler's error. It sees a safe message
//! chosen by [`ErrorCategory`], whether retrying is worth it, whether the fault is its own,
//! and an [`IncidentId`]; the operator finds the full error chain in the log under the same
//! id. The only text of a handler that reaches the caller is a message the code marks as
//! public with [`ToolError::public`] (or its shorthands such as
//! [`ToolError::invalid_input`]).
//!
//! ```
//! use secure_tool::sanitize::{ErrorCategory, ToolError};
//!
//! // Meant for the caller: shown as is.
//! let visible = ToolError::invalid_input("`title` must not be empty");
//! assert_eq!(visible.public_message(), "`title` must not be empty");
//!
//! // Internal: the caller sees only the category's safe message.
//! let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
//! let hidden = ToolError::from(refused);
//! assert_eq!(hidden.category(), ErrorCategory::Unavailable);
//! assert_eq!(hidden.public_message(), "Service temporarily unavailable");
//! ```

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::breaker::Outcome;

/// The kind of a tool failure, as told to the caller: each has a safe message and says
/// whether a retry may help and whether the caller is at fault.
///
/// ```
/// use secure_tool::sanitize::ErrorCategory;
/// let c = ErrorCategory::Timeout;
/// assert!(c.retryable() && !c.caller_fault());
/// assert_eq!(c.message(), "Request timed out — please retry");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCategory {
    /// The arguments were wrong: fix them, do not retry as is.
    InvalidInput,
    /// What the caller asked for does not exist.
    NotFound,
    /// The request conflicts with the current state (a duplicate, a stale version).
    Conflict,
    /// The caller may not use this tool. Always the same message, whatever the cause.
    Denied,
    /// A dependency is unavailable (refused, unreachable, circuit open): retry later.
    Unavailable,
    /// The call did not finish within its deadline: retry.
    Timeout,
    /// The server is at capacity for this dependency: retry later.
    Overloaded,
    /// Writes are temporarily unavailable; reads keep working.
    Degraded,
    /// The tool needs the user's confirmation, and did not get it: it did not run.
    NotConfirmed,
    /// The caller is over a rate limit (the tool's or the server's): the call did not run;
    /// retry after the time given.
    RateLimited,
    /// Anything else. Not the caller's fault; retrying is unlikely to help.
    Internal,
}

impl ErrorCategory {
    /// The category's name on the wire (`"invalid_input"`, `"not_found"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::InvalidInput => "invalid_input",
            ErrorCategory::NotFound => "not_found",
            ErrorCategory::Conflict => "conflict",
            ErrorCategory::Denied => "denied",
            ErrorCategory::Unavailable => "unavailable",
            ErrorCategory::Timeout => "timeout",
            ErrorCategory::Overloaded => "overloaded",
            ErrorCategory::Degraded => "degraded",
            ErrorCategory::NotConfirmed => "not_confirmed",
            ErrorCategory::RateLimited => "rate_limited",
            ErrorCategory::Internal => "internal",
        }
    }

    /// The safe message shown when the code gave no public one.
    pub const fn message(self) -> &'static str {
        match self {
            ErrorCategory::InvalidInput => "The arguments of this call are invalid",
            ErrorCategory::NotFound => "The requested resource was not found",
            ErrorCategory::Conflict => "The request conflicts with the current state",
            ErrorCategory::Denied => "Access denied: the caller is not allowed to use this tool",
            ErrorCategory::Unavailable => "Service temporarily unavailable",
            ErrorCategory::Timeout => "Request timed out — please retry",
            ErrorCategory::Overloaded => "The service is busy — please retry shortly",
            ErrorCategory::Degraded => {
                "Writes are temporarily unavailable; read tools keep working"
            }
            ErrorCategory::NotConfirmed => {
                "The user did not confirm this action; it was not performed"
            }
            ErrorCategory::RateLimited => {
                "Too many calls: this caller is over its rate limit — please retry later"
            }
            ErrorCategory::Internal => "An internal error occurred",
        }
    }

    /// Whether retrying the same call later may succeed.
    pub const fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCategory::Unavailable
                | ErrorCategory::Timeout
                | ErrorCategory::Overloaded
                | ErrorCategory::Degraded
                | ErrorCategory::RateLimited
        )
    }

    /// Whether the failure is the caller's (its arguments, its permissions), not the
    /// server's. Caller faults never count against a dependency's circuit breaker.
    pub const fn caller_fault(self) -> bool {
        matches!(
            self,
            ErrorCategory::InvalidInput
                | ErrorCategory::NotFound
                | ErrorCategory::Conflict
                | ErrorCategory::Denied
                | ErrorCategory::NotConfirmed
                | ErrorCategory::RateLimited
        )
    }

    /// A short instruction for the caller.
    pub const fn advice(self) -> &'static str {
        match self {
            ErrorCategory::InvalidInput => "Fix the arguments before calling again.",
            ErrorCategory::NotFound => "Check the identifier; retrying will not help.",
            ErrorCategory::Conflict => "Re-read the current state before trying again.",
            ErrorCategory::Denied => "Do not retry; this caller lacks permission.",
            ErrorCategory::Unavailable | ErrorCategory::Timeout | ErrorCategory::Overloaded => {
                "This is temporary: retry later."
            }
            ErrorCategory::Degraded => "Use read tools for now; retry writes later.",
            ErrorCategory::NotConfirmed => {
                "Do not retry unless the user asks for this action again."
            }
            ErrorCategory::RateLimited => "Slow down: wait for the time given, then retry.",
            ErrorCategory::Internal => "Retrying is unlikely to help; report the incident id.",
        }
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error type for tool handlers that want to choose what the caller sees.
///
/// Two visibly different families:
/// - **public** ([`ToolError::public`], [`ToolError::invalid_input`],
///   [`ToolError::not_found`], [`ToolError::conflict`]): the message is meant for the caller
///   and is sent as is;
/// - **internal** ([`ToolError::internal`], [`ToolError::unavailable`],
///   [`ToolError::timeout`], or `?` on any [`std::error::Error`]): the caller gets only the
///   category's safe message; the source goes to the log.
///
/// `?` converts any error into a `ToolError`, classified from its chain of sources
/// (a refused connection is [`ErrorCategory::Unavailable`], a timed out one
/// [`ErrorCategory::Timeout`], ...). Handlers may also return their own error type directly;
/// it is classified the same way.
///
/// ```
/// use secure_tool::sanitize::{ErrorCategory, ToolError};
///
/// fn parse(id: &str) -> Result<u64, ToolError> {
///     let id: u64 = id.parse().map_err(|_| ToolError::invalid_input("`id` must be a number"))?;
///     Ok(id)
/// }
/// assert_eq!(parse("x").unwrap_err().category(), ErrorCategory::InvalidInput);
///
/// fn read() -> Result<String, ToolError> {
///     Ok(std::fs::read_to_string("/definitely/not/here/secret.toml")?)
/// }
/// let err = read().unwrap_err();
/// assert_eq!(err.category(), ErrorCategory::NotFound);
/// assert!(!err.public_message().contains("secret"));
/// ```
pub struct ToolError {
    category: ErrorCategory,
    public: Option<Cow<'static, str>>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
    retry_after: Option<Duration>,
    breaker_outcome: Option<Outcome>,
}

impl ToolError {
    /// A failure whose `message` is meant for the caller, in `category`.
    pub fn public(category: ErrorCategory, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            category,
            public: Some(message.into()),
            source: None,
            retry_after: None,
            breaker_outcome: None,
        }
    }

    /// The caller's arguments are wrong; `message` (shown to the caller) says how.
    pub fn invalid_input(message: impl Into<Cow<'static, str>>) -> Self {
        Self::public(ErrorCategory::InvalidInput, message)
    }

    /// What the caller asked for does not exist; `message` is shown to the caller.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::public(ErrorCategory::NotFound, message)
    }

    /// The request conflicts with the current state; `message` is shown to the caller.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::public(ErrorCategory::Conflict, message)
    }

    /// An internal failure: `source` is logged, the caller sees only
    /// "An internal error occurred".
    pub fn internal(source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self::hidden(ErrorCategory::Internal, source)
    }

    /// A dependency is unavailable: `source` is logged, the caller is told to retry later.
    pub fn unavailable(source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self::hidden(ErrorCategory::Unavailable, source)
    }

    /// A dependency timed out: `source` is logged, the caller is told to retry.
    pub fn timeout(source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self::hidden(ErrorCategory::Timeout, source)
    }

    /// A failure in `category` whose `source` is logged and never shown.
    pub fn hidden(
        category: ErrorCategory,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            category,
            public: None,
            source: Some(source.into()),
            retry_after: None,
            breaker_outcome: None,
        }
    }

    /// Attaches an internal cause (logged, never shown) to a public error.
    ///
    /// ```
    /// use secure_tool::sanitize::ToolError;
    /// let e = ToolError::not_found("no note with this id")
    ///     .with_source(std::io::Error::other("SELECT * FROM notes WHERE id = 7: no rows"));
    /// assert_eq!(e.public_message(), "no note with this id");
    /// ```
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Tells the caller when a retry may succeed (shown as `retry_after_secs`, rounded up).
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::sanitize::{ErrorCategory, ToolError};
    /// let e = ToolError::public(ErrorCategory::Overloaded, "The export queue is full")
    ///     .with_retry_after(Duration::from_secs(30));
    /// assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    /// ```
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// When a retry may succeed, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Overrides what this error tells the circuit breaker of the tool's dependency.
    ///
    /// By default dependency failures (internal, unavailable, timeout, overloaded) count
    /// as [`Outcome::Failure`] and the caller's errors (invalid input, not found,
    /// conflict, denied, degraded) are [`Outcome::Ignored`]. A handler that knows better
    /// says so, for example a "quota exceeded" answer of a healthy dependency:
    ///
    /// ```
    /// use secure_tool::breaker::Outcome;
    /// use secure_tool::sanitize::ToolError;
    /// let quota = std::io::Error::other("quota exceeded for tenant 42");
    /// let e = ToolError::unavailable(quota).with_breaker_outcome(Outcome::Ignored);
    /// assert_eq!(e.breaker_outcome(), Outcome::Ignored);
    /// assert_eq!(ToolError::unavailable(std::io::Error::other("down")).breaker_outcome(), Outcome::Failure);
    /// ```
    pub fn with_breaker_outcome(mut self, outcome: Outcome) -> Self {
        self.breaker_outcome = Some(outcome);
        self
    }

    /// What this error tells the circuit breaker: the override, or the category's default.
    pub fn breaker_outcome(&self) -> Outcome {
        self.breaker_outcome.unwrap_or(match self.category {
            ErrorCategory::Unavailable
            | ErrorCategory::Timeout
            | ErrorCategory::Overloaded
            | ErrorCategory::Internal => Outcome::Failure,
            ErrorCategory::InvalidInput
            | ErrorCategory::NotFound
            | ErrorCategory::Conflict
            | ErrorCategory::Denied
            | ErrorCategory::Degraded
            | ErrorCategory::NotConfirmed
            | ErrorCategory::RateLimited => Outcome::Ignored,
        })
    }

    /// The category told to the caller.
    pub fn category(&self) -> ErrorCategory {
        self.category
    }

    /// What the caller will read: the public message, or the category's safe message.
    pub fn public_message(&self) -> &str {
        self.public.as_deref().unwrap_or(self.category.message())
    }

    /// The message written for the caller, if the handler wrote one: borrowed when it is a
    /// literal of the code, owned when it was built at run time.
    pub(crate) fn written_message(&self) -> Option<&Cow<'static, str>> {
        self.public.as_ref()
    }

    /// The internal cause, if any (for logs and tests; never sent to the caller).
    pub fn source(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl fmt::Debug for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolError")
            .field("category", &self.category)
            .field("public", &self.public)
            .field("source", &self.source)
            .field("retry_after", &self.retry_after)
            .field("breaker_outcome", &self.breaker_outcome)
            .finish()
    }
}

/// Shows what the caller would see, then the internal chain: meant for logs.
impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.category, self.public_message())?;
        if let Some(source) = &self.source {
            write!(f, ": {}", error_chain(&**source))?;
        }
        Ok(())
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for ToolError {
    fn from(error: E) -> Self {
        let category = classify(&error);
        Self::hidden(category, error)
    }
}

/// Classifies an error from its chain of sources: the first link that is known decides.
///
/// Known links: a [`ToolError`] wrapped in a chain is not possible (it is not an
/// [`std::error::Error`]); [`std::io::Error`] by kind (refused, reset, unreachable, broken
/// pipe → unavailable; timed out → timeout; not found → not found); tokio's elapsed
/// deadline → timeout; `serde_json` data errors → internal. Everything else is internal.
///
/// ```
/// use std::io::{Error, ErrorKind};
/// use secure_tool::sanitize::{classify, ErrorCategory};
/// assert_eq!(classify(&Error::from(ErrorKind::TimedOut)), ErrorCategory::Timeout);
/// assert_eq!(classify(&Error::other("boom")), ErrorCategory::Internal);
/// ```
pub fn classify(error: &(dyn StdError + 'static)) -> ErrorCategory {
    let mut link = Some(error);
    while let Some(e) = link {
        if let Some(category) = classify_one(e) {
            return category;
        }
        link = e.source();
    }
    ErrorCategory::Internal
}

fn classify_one(error: &(dyn StdError + 'static)) -> Option<ErrorCategory> {
    use std::io::ErrorKind as K;
    if let Some(io) = error.downcast_ref::<std::io::Error>() {
        return match io.kind() {
            K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::BrokenPipe
            | K::AddrNotAvailable
            | K::ResourceBusy => Some(ErrorCategory::Unavailable),
            K::TimedOut => Some(ErrorCategory::Timeout),
            K::NotFound => Some(ErrorCategory::NotFound),
            // Other kinds wrap something more specific further down the chain, if at all.
            K::Other => None,
            _ => Some(ErrorCategory::Internal),
        };
    }
    if error.is::<tokio::time::error::Elapsed>() {
        return Some(ErrorCategory::Timeout);
    }
    None
}

/// The whole chain of an error, `outer: inner: innermost`, for the log.
///
/// ```
/// let e = std::io::Error::other("disk full");
/// assert_eq!(secure_tool::sanitize::error_chain(&e), "disk full");
/// ```
pub fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut out = error.to_string();
    let mut link = error.source();
    while let Some(e) = link {
        let text = e.to_string();
        // Many errors repeat their source's text in their own: do not print it twice.
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        link = e.source();
    }
    out
}

/// The identifier of one failure: given to the caller, and written to the log with the full
/// error, so that an operator can find one from the other.
///
/// ```
/// use secure_tool::sanitize::IncidentId;
/// let a = IncidentId::new();
/// assert_ne!(a, IncidentId::new());
/// assert_eq!(a.to_string().len(), 36);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IncidentId(uuid::Uuid);

impl Serialize for IncidentId {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        serializer.collect_str(self)
    }
}

impl IncidentId {
    /// A fresh, random incident id.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IncidentId({self})")
    }
}

/// The key of an error result's `_meta` under which secure-tool puts the machine-readable
/// facts of the failure (a [`SafeError`]).
///
/// An error result (`isError: true`) carries its facts in `_meta`, never in
/// `structuredContent`: a client that listed the tools validates any `structuredContent`
/// against the tool's output schema (the MCP specification says structured results MUST
/// conform to it), and an error is not the tool's output. `_meta` is what the
/// specification reserves for such metadata, namespaced in reverse-DNS notation as it asks.
/// The model reads the same facts in the result's text content.
///
/// ```
/// use secure_tool::sanitize::ERROR_META_KEY;
/// assert_eq!(ERROR_META_KEY, "io.github.secure-tool/error");
/// ```
pub const ERROR_META_KEY: &str = "io.github.secure-tool/error";

/// The machine-readable facts of an error result that secure-tool produced (the object
/// under [`ERROR_META_KEY`] in its `_meta`), or `None` for any other result.
///
/// ```
/// use secure_tool::sanitize::{error_facts, ErrorCategory, IncidentId, SafeError};
/// let denied = SafeError::new(ErrorCategory::Denied, None, IncidentId::new()).to_result();
/// assert_eq!(error_facts(&denied).unwrap()["category"], "denied");
/// assert!(denied.structured_content.is_none());
///
/// let ok = rmcp::model::CallToolResult::success(vec![]);
/// assert!(error_facts(&ok).is_none());
/// ```
pub fn error_facts(result: &rmcp::model::CallToolResult) -> Option<&serde_json::Value> {
    if result.is_error != Some(true) {
        return None;
    }
    result.meta.as_ref()?.get(ERROR_META_KEY)
}

/// What the caller receives for a failed call: the object under [`ERROR_META_KEY`] in the
/// result's `_meta`, and the text mirrored into its `content`.
///
/// ```
/// use secure_tool::sanitize::{ErrorCategory, IncidentId, SafeError};
/// let e = SafeError::new(ErrorCategory::Unavailable, None, IncidentId::new());
/// assert!(e.text().starts_with("Service temporarily unavailable."));
/// assert!(e.text().contains("incident "));
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct SafeError {
    /// The category, on the wire as `"invalid_input"`, `"unavailable"`, ...
    pub category: ErrorCategory,
    /// The safe message.
    pub message: Cow<'static, str>,
    /// Whether retrying later may succeed.
    pub retryable: bool,
    /// Whether the caller is at fault.
    pub caller_fault: bool,
    /// The incident id, also in the log next to the full error.
    pub incident_id: IncidentId,
    /// For retryable failures, when to retry, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl SafeError {
    /// The caller's view of a failure in `category`, with an optional public message.
    pub fn new(
        category: ErrorCategory,
        public: Option<Cow<'static, str>>,
        incident_id: IncidentId,
    ) -> Self {
        Self {
            category,
            message: public.unwrap_or(Cow::Borrowed(category.message())),
            retryable: category.retryable(),
            caller_fault: category.caller_fault(),
            incident_id,
            retry_after_secs: None,
        }
    }

    /// Tells the caller to retry after `after`, rounded up to whole seconds and at least 1
    /// ("retry after 0 s" would invite an immediate retry).
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::sanitize::{ErrorCategory, IncidentId, SafeError};
    /// let e = SafeError::new(ErrorCategory::Unavailable, None, IncidentId::new())
    ///     .retry_after(Duration::from_millis(1200));
    /// assert_eq!(e.retry_after_secs, Some(2));
    /// ```
    pub fn retry_after(mut self, after: std::time::Duration) -> Self {
        self.retry_after_secs =
            Some((after.as_secs() + u64::from(after.subsec_nanos() > 0)).max(1));
        self
    }

    /// The `isError` result a caller receives for this failure: [`Self::text`] as its
    /// content, and these facts under [`ERROR_META_KEY`] in its `_meta`.
    ///
    /// ```
    /// use secure_tool::sanitize::{error_facts, ErrorCategory, IncidentId, SafeError};
    /// let e = SafeError::new(ErrorCategory::Timeout, None, IncidentId::new());
    /// let result = e.to_result();
    /// assert_eq!(result.is_error, Some(true));
    /// assert_eq!(error_facts(&result).unwrap()["retryable"], true);
    /// ```
    pub fn to_result(&self) -> rmcp::model::CallToolResult {
        self.to_result_with(self.text(), serde_json::Map::new())
    }

    /// [`Self::to_result`] with another text, and `extra` facts beside this error's.
    pub(crate) fn to_result_with(
        &self,
        text: String,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> rmcp::model::CallToolResult {
        let mut facts = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(facts)) => facts,
            // A struct of plain fields always serializes to an object.
            _ => serde_json::Map::new(),
        };
        facts.extend(extra);
        let mut meta = rmcp::model::MetaObject::new();
        meta.insert(ERROR_META_KEY.to_owned(), serde_json::Value::Object(facts));
        let mut result =
            rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(text)]);
        result.meta = Some(meta);
        result
    }

    /// The JSON-RPC error a caller receives for this failure where the protocol answers
    /// with an error rather than a result (`resources/read`, `prompts/get`): [`Self::text`]
    /// as its message and these facts as its `data`; `-32602` (invalid params) when the
    /// caller is at fault, `-32603` (internal error) otherwise.
    ///
    /// ```
    /// use secure_tool::sanitize::{ErrorCategory, IncidentId, SafeError};
    /// let e = SafeError::new(ErrorCategory::Unavailable, None, IncidentId::new());
    /// let error = e.to_error_data();
    /// assert_eq!(error.code.0, -32603);
    /// assert_eq!(error.data.unwrap()["category"], "unavailable");
    /// ```
    pub fn to_error_data(&self) -> rmcp::ErrorData {
        let data = serde_json::to_value(self).ok();
        if self.caller_fault {
            rmcp::ErrorData::invalid_params(self.text(), data)
        } else {
            rmcp::ErrorData::internal_error(self.text(), data)
        }
    }

    /// The text content: what the model reads of the failure.
    pub fn text(&self) -> String {
        let mut text = self.message.trim_end_matches('.').to_owned();
        text.push_str(". ");
        text.push_str(self.category.advice());
        if let Some(secs) = self.retry_after_secs {
            text.push_str(&format!(" Retry after {secs} s."));
        }
        text.push_str(&format!(
            " (category: {}, retryable: {}, incident {})",
            self.category, self.retryable, self.incident_id
        ));
        text
    }
}

/// What a handler may return as its error: any [`std::error::Error`], or a [`ToolError`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error type of a `#[secure_tool]` handler",
    label = "a tool error must implement `std::error::Error` or be `secure_tool::ToolError`",
    note = "the text of a tool error is logged, never sent to the caller; raw text types such as `String` and `&str` would be",
    note = "to show a message to the caller, return `ToolError::invalid_input(..)` (or `ToolError::public(..)`)"
)]
pub trait IntoToolError: Send + 'static {
    /// Converts into a [`ToolError`], classifying it.
    fn into_tool_error(self) -> ToolError;
}

impl IntoToolError for ToolError {
    fn into_tool_error(self) -> ToolError {
        self
    }
}

impl<E: StdError + Send + Sync + 'static> IntoToolError for E {
    fn into_tool_error(self) -> ToolError {
        ToolError::from(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    /// What the caller is told to do, per category: retry later, or fix its own call. A
    /// flip in either column changes what a model does next, and what a breaker counts.
    #[test]
    fn each_category_says_whether_to_retry_and_whose_fault_it_is() {
        use ErrorCategory::*;
        let table = [
            (InvalidInput, false, true),
            (NotFound, false, true),
            (Conflict, false, true),
            (Denied, false, true),
            (Unavailable, true, false),
            (Timeout, true, false),
            (Overloaded, true, false),
            (Degraded, true, false),
            (NotConfirmed, false, true),
            (RateLimited, true, true),
            (Internal, false, false),
        ];
        for (category, retryable, caller_fault) in table {
            assert_eq!(category.retryable(), retryable, "{category:?}");
            assert_eq!(category.caller_fault(), caller_fault, "{category:?}");
            assert!(!category.message().is_empty() && !category.advice().is_empty());
        }
    }

    #[derive(Debug)]
    struct Wrapped(Error);
    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("while running SELECT secret FROM vault")
        }
    }
    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn classification_walks_the_chain() {
        let cases = [
            (ErrorKind::ConnectionRefused, ErrorCategory::Unavailable),
            (ErrorKind::HostUnreachable, ErrorCategory::Unavailable),
            (ErrorKind::TimedOut, ErrorCategory::Timeout),
            (ErrorKind::NotFound, ErrorCategory::NotFound),
            (ErrorKind::PermissionDenied, ErrorCategory::Internal),
        ];
        for (kind, category) in cases {
            let e = ToolError::from(Wrapped(Error::from(kind)));
            assert_eq!(e.category(), category, "{kind:?}");
            assert!(!e.public_message().contains("SELECT"));
            assert!(e.to_string().contains("SELECT secret FROM vault"));
        }
        let other = Error::other(Wrapped(Error::from(ErrorKind::TimedOut)));
        assert_eq!(classify(&other), ErrorCategory::Timeout);
    }

    #[test]
    fn public_and_hidden_are_distinct() {
        let shown = ToolError::invalid_input("`title` must not be empty");
        assert_eq!(shown.public_message(), "`title` must not be empty");
        let hidden = ToolError::internal("password=hunter2");
        assert_eq!(hidden.public_message(), "An internal error occurred");
        assert!(hidden.to_string().contains("hunter2"));
    }

    #[test]
    fn safe_error_text_names_category_and_incident() {
        let id = IncidentId::new();
        let e = SafeError::new(ErrorCategory::Timeout, None, id);
        let text = e.text();
        assert!(text.contains("Request timed out"), "{text}");
        assert!(text.contains(&id.to_string()), "{text}");
        assert!(text.contains("retryable: true"), "{text}");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["category"], "timeout");
        assert_eq!(json["caller_fault"], false);
        assert_eq!(json["incident_id"], id.to_string());
    }
}

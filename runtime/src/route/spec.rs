//! A tool's static spec: its name, mode, policy, deadline, caps and argument limits, as
//! `#[secure_tool]` writes them.

use std::borrow::Cow;
use std::time::Duration;

use super::limits::ArgumentLimits;
use crate::authz::{Mode, Policy};
use crate::rate::Rate;

/// The static description of one secure tool, produced by `#[secure_tool]`.
#[derive(Clone, Debug)]
pub struct ToolSpec {
    pub(crate) name: Cow<'static, str>,
    pub(crate) mode: Mode,
    pub(crate) policy: Policy,
    pub(crate) title: Option<Cow<'static, str>>,
    pub(crate) description: Option<Cow<'static, str>>,
    pub(crate) timeout: Duration,
    /// The cap on this tool's concurrent calls, if the tool sets its own.
    pub(crate) max_concurrent: Option<usize>,
    /// The size caps of its arguments, if the tool sets its own.
    pub(crate) argument_limits: Option<ArgumentLimits>,
    /// The question the user must answer yes to before each call runs (write tools only).
    pub(crate) confirmation: Option<std::sync::Arc<crate::confirm::Confirmation>>,
    /// How often each caller may call this tool, if the tool limits it.
    pub(crate) rate: Option<Rate>,
}

impl ToolSpec {
    /// A tool named `name`, in `mode`, guarded by `policy`.
    ///
    /// ```
    /// use secure_tool::authz::{scopes, Mode};
    /// use secure_tool::route::ToolSpec;
    /// let spec = ToolSpec::new("get_note", Mode::Read, scopes("notes:read"))
    ///     .with_description("Reads a note.");
    /// assert_eq!(spec.name(), "get_note");
    /// ```
    pub fn new(name: impl Into<Cow<'static, str>>, mode: Mode, policy: Policy) -> Self {
        Self {
            name: name.into(),
            mode,
            policy,
            title: None,
            description: None,
            timeout: crate::resilience::DEFAULT_TIMEOUT,
            max_concurrent: None,
            argument_limits: None,
            confirmation: None,
            rate: None,
        }
    }

    /// Sets the human-readable title.
    pub fn with_title(mut self, title: impl Into<Cow<'static, str>>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the description shown to the model.
    pub fn with_description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the deadline of every call (default
    /// [`DEFAULT_TIMEOUT`](crate::resilience::DEFAULT_TIMEOUT), 30 s).
    ///
    /// # Panics
    ///
    /// If `timeout` is zero (every call would time out), or more than a day
    /// ([`MAX_TIMEOUT`](crate::resilience::MAX_TIMEOUT): nothing should wait that long).
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::authz::{public, Mode};
    /// use secure_tool::route::ToolSpec;
    /// let spec = ToolSpec::new("ping", Mode::Read, public()).with_timeout(Duration::from_secs(2));
    /// assert_eq!(spec.timeout(), Duration::from_secs(2));
    /// let forever = std::panic::catch_unwind(|| {
    ///     ToolSpec::new("wait", Mode::Read, public()).with_timeout(Duration::MAX)
    /// });
    /// assert!(forever.is_err());
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        crate::resilience::check_timeout(timeout, "tool", &self.name);
        self.timeout = timeout;
        self
    }

    /// Limits how often each caller may call this tool (`#[secure_tool(rate = "30/min")]`):
    /// a call over the limit is answered `rate_limited` at once, with the time after which a
    /// retry may succeed, and does not run. Callers are told apart by their subject; every
    /// anonymous caller shares one bucket. See [`rate`](crate::rate).
    ///
    /// ```
    /// use secure_tool::authz::{scopes, Mode};
    /// use secure_tool::rate::Rate;
    /// use secure_tool::route::ToolSpec;
    /// let spec = ToolSpec::new("send_mail", Mode::Write, scopes("mail:send"))
    ///     .with_rate(Rate::per_minute(10));
    /// assert_eq!(spec.rate(), Some(Rate::per_minute(10)));
    /// ```
    pub fn with_rate(mut self, rate: Rate) -> Self {
        self.rate = Some(rate);
        self
    }

    /// Caps this tool's concurrent calls at `max` (default: the server's
    /// [`max_concurrent_calls`](crate::SecureServerBuilder::max_concurrent_calls), 64): a call
    /// over the cap is answered `overloaded` at once, without running.
    ///
    /// # Panics
    ///
    /// If `max` is zero: every call would be refused.
    ///
    /// ```
    /// use secure_tool::authz::{public, Mode};
    /// use secure_tool::route::ToolSpec;
    /// let spec = ToolSpec::new("export", Mode::Read, public()).with_max_concurrent(2);
    /// assert_eq!(spec.max_concurrent(), Some(2));
    /// ```
    pub fn with_max_concurrent(mut self, max: usize) -> Self {
        assert!(
            max > 0,
            "the concurrency cap of tool `{}` must be more than zero",
            self.name
        );
        self.max_concurrent = Some(max);
        self
    }

    /// Holds this tool's arguments to `limits` (default: the server's
    /// [`argument_limits`](crate::SecureServerBuilder::argument_limits), else
    /// [`ArgumentLimits::DEFAULT`]): a call past one is answered `invalid_input` naming the
    /// field and the limit, without running. The tool's own limits replace the server's
    /// whole.
    ///
    /// ```
    /// use secure_tool::authz::{scopes, Mode};
    /// use secure_tool::route::{ArgumentLimits, ToolSpec};
    /// // Documents of up to 200,000 characters.
    /// let limits = ArgumentLimits::default()
    ///     .with_max_string_chars(200_000)
    ///     .with_max_bytes(1024 * 1024);
    /// let spec = ToolSpec::new("import", Mode::Write, scopes("docs:write"))
    ///     .with_argument_limits(limits);
    /// assert_eq!(spec.argument_limits(), Some(limits));
    /// ```
    pub fn with_argument_limits(mut self, limits: ArgumentLimits) -> Self {
        self.argument_limits = Some(limits);
        self
    }

    /// Asks the user `question` before each call runs, its `{field}` placeholders
    /// replaced by the arguments' values (see [`crate::confirm`]); the call runs only on
    /// a yes. Write tools only.
    ///
    /// # Panics
    ///
    /// If `question` is not well formed ([`Confirmation::new`]), naming the tool; building
    /// the route panics if the tool is not `mode = write` or a placeholder names no
    /// argument.
    ///
    /// [`Confirmation::new`]: crate::confirm::Confirmation::new
    ///
    /// ```
    /// use secure_tool::authz::{scopes, Mode};
    /// use secure_tool::route::ToolSpec;
    /// let spec = ToolSpec::new("delete_note", Mode::Write, scopes("notes:write"))
    ///     .with_confirmation("Delete note {id}?");
    /// assert_eq!(spec.confirmation().unwrap().to_string(), "Delete note {id}?");
    /// ```
    pub fn with_confirmation(mut self, question: &str) -> Self {
        match crate::confirm::Confirmation::new(question) {
            Ok(confirmation) => self.confirmation = Some(std::sync::Arc::new(confirmation)),
            Err(error) => panic!("the confirmation of tool `{}`: {error}", self.name),
        }
        self
    }

    /// The question the user must confirm before each call, if the tool asks one.
    pub fn confirmation(&self) -> Option<&crate::confirm::Confirmation> {
        self.confirmation.as_deref()
    }

    /// The size caps this tool sets for its own arguments, if any.
    pub fn argument_limits(&self) -> Option<ArgumentLimits> {
        self.argument_limits
    }

    /// How often each caller may call this tool, if the tool limits it.
    pub fn rate(&self) -> Option<Rate> {
        self.rate
    }

    /// The cap on concurrent calls this tool sets for itself, if any.
    pub fn max_concurrent(&self) -> Option<usize> {
        self.max_concurrent
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The deadline of every call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The tool's mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The tool's authorization policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

/// The default cap on each tool's concurrent calls: see
/// [`SecureServerBuilder::max_concurrent_calls`](crate::SecureServerBuilder::max_concurrent_calls).
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 64;

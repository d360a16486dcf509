//! A prompt's static spec: its name, policy, deadline and cap, as `#[secure_prompt]`
//! writes them.

use std::borrow::Cow;
use std::time::Duration;

use crate::authz::Policy;

/// The static description of one secure prompt.
///
/// ```
/// use secure_tool::authz::scopes;
/// use secure_tool::prompt::PromptSpec;
/// let spec = PromptSpec::new("summarise_notes", scopes("notes:read"))
///     .with_description("Summarise my notes.");
/// assert_eq!(spec.name(), "summarise_notes");
/// ```
#[derive(Clone, Debug)]
pub struct PromptSpec {
    pub(crate) name: Cow<'static, str>,
    pub(crate) policy: Policy,
    pub(crate) title: Option<Cow<'static, str>>,
    pub(crate) description: Option<Cow<'static, str>>,
    pub(crate) timeout: Duration,
    pub(crate) max_concurrent: Option<usize>,
}

impl PromptSpec {
    /// A prompt named `name`, guarded by `policy`.
    pub fn new(name: impl Into<Cow<'static, str>>, policy: Policy) -> Self {
        Self {
            name: name.into(),
            policy,
            title: None,
            description: None,
            timeout: crate::resilience::DEFAULT_TIMEOUT,
            max_concurrent: None,
        }
    }

    /// Sets the human-readable title.
    pub fn with_title(mut self, title: impl Into<Cow<'static, str>>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the description shown to the client.
    pub fn with_description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the deadline of every get (default
    /// [`DEFAULT_TIMEOUT`](crate::resilience::DEFAULT_TIMEOUT), 30 s).
    ///
    /// # Panics
    ///
    /// If `timeout` is zero (every get would time out), or more than a day
    /// ([`MAX_TIMEOUT`](crate::resilience::MAX_TIMEOUT): nothing should wait that long).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        crate::resilience::check_timeout(timeout, "prompt", &self.name);
        self.timeout = timeout;
        self
    }

    /// Caps this prompt's concurrent gets at `max` (default 64).
    ///
    /// # Panics
    ///
    /// If `max` is zero: every get would be refused.
    pub fn with_max_concurrent(mut self, max: usize) -> Self {
        assert!(
            max > 0,
            "the concurrency cap of prompt `{}` must be more than zero",
            self.name
        );
        self.max_concurrent = Some(max);
        self
    }

    /// The prompt's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The deadline of every get.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Its authorization policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

//! A resource's static spec: its name, URI (or URI template), policy, deadline and cap,
//! as `#[secure_resource]` writes them.

use std::borrow::Cow;
use std::time::Duration;

use super::template::UriTemplate;
use crate::authz::Policy;

/// The static description of one secure resource (or resource template), produced by
/// `#[secure_resource]`.
///
/// ```
/// use secure_tool::authz::scopes;
/// use secure_tool::resource::ResourceSpec;
/// let spec = ResourceSpec::new("note", "notes://{id}", scopes("notes:read"))
///     .with_mime_type("text/markdown")
///     .with_description("One note, as Markdown.");
/// assert_eq!(spec.name(), "note");
/// assert!(!spec.uri().is_fixed());
/// ```
#[derive(Clone, Debug)]
pub struct ResourceSpec {
    pub(crate) name: Cow<'static, str>,
    pub(crate) uri: UriTemplate,
    pub(crate) policy: Policy,
    pub(crate) title: Option<Cow<'static, str>>,
    pub(crate) description: Option<Cow<'static, str>>,
    pub(crate) mime_type: Option<Cow<'static, str>>,
    pub(crate) timeout: Duration,
    pub(crate) max_concurrent: Option<usize>,
}

impl ResourceSpec {
    /// A resource named `name` at `uri` (a fixed URI, or a template such as
    /// `notes://{id}`), guarded by `policy`.
    ///
    /// # Panics
    ///
    /// If `uri` is not a valid [`UriTemplate`]: the message says why.
    pub fn new(name: impl Into<Cow<'static, str>>, uri: &str, policy: Policy) -> Self {
        let name = name.into();
        let uri =
            UriTemplate::parse(uri).unwrap_or_else(|error| panic!("resource `{name}`: {error}"));
        Self {
            name,
            uri,
            policy,
            title: None,
            description: None,
            mime_type: None,
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

    /// Sets the MIME type the resource is listed with, and read with when its handler
    /// does not set one.
    pub fn with_mime_type(mut self, mime_type: impl Into<Cow<'static, str>>) -> Self {
        self.mime_type = Some(mime_type.into());
        self
    }

    /// Sets the deadline of every read (default
    /// [`DEFAULT_TIMEOUT`](crate::resilience::DEFAULT_TIMEOUT), 30 s).
    ///
    /// # Panics
    ///
    /// If `timeout` is zero (every read would time out), or more than a day
    /// ([`MAX_TIMEOUT`](crate::resilience::MAX_TIMEOUT): nothing should wait that long).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        crate::resilience::check_timeout(timeout, "resource", &self.name);
        self.timeout = timeout;
        self
    }

    /// Caps this resource's concurrent reads at `max` (default: the server's
    /// [`max_concurrent_calls`](crate::SecureServerBuilder::max_concurrent_calls), 64).
    ///
    /// # Panics
    ///
    /// If `max` is zero: every read would be refused.
    pub fn with_max_concurrent(mut self, max: usize) -> Self {
        assert!(
            max > 0,
            "the concurrency cap of resource `{}` must be more than zero",
            self.name
        );
        self.max_concurrent = Some(max);
        self
    }

    /// The resource's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its URI or URI template.
    pub fn uri(&self) -> &UriTemplate {
        &self.uri
    }

    /// Its MIME type, if it declares one.
    pub fn mime_type(&self) -> Option<&str> {
        self.mime_type.as_deref()
    }

    /// The deadline of every read.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Its authorization policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

//! Fail-closed authorization: who is calling ([`Principal`]), what a policy answers
//! ([`Decision`]), and the policies themselves ([`Policy`] and its combinators).
//!
//! A tool's handler runs only when its policy answers [`Decision::Allow`] within its
//! deadline. Every other outcome denies: an explicit [`Decision::Deny`], an
//! [`Decision::Abstain`], an error of the policy, a policy that misses its deadline, an
//! allow that comes after the deadline (even from a policy that blocked its thread, so that
//! the deadline's timer could not fire), a policy that panics, and a requirement that is
//! empty (`scopes` or `roles` with no name or a blank one, an empty `all_of` or `any_of`).
//! The caller always sees the same generic denial; the cause goes to the audit log.
//!
//! ```
//! use secure_tool::authz::{all_of, any_of, public, roles, scopes, Principal};
//!
//! let readers = scopes("notes:read");
//! let admins_or_editors = any_of([roles("admin"), scopes(["notes:read", "notes:write"])]);
//! let strict = all_of([scopes("notes:write"), roles("editor")]);
//! let anyone = public();
//!
//! let alice = Principal::new("alice").with_scopes(["notes:read"]);
//! assert!(readers.allows_locally(&alice));
//! assert!(!admins_or_editors.allows_locally(&alice));
//! assert!(!strict.allows_locally(&alice));
//! assert!(anyone.allows_locally(&Principal::anonymous()));
//! assert!(!readers.allows_locally(&Principal::anonymous()));
//! ```

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

mod denial;
mod evaluate;
mod policy;
mod principal;

pub use denial::DenialCause;
pub(crate) use policy::is_blank;
#[cfg(feature = "oauth")]
pub(crate) use policy::is_scope_token;
pub use policy::{
    Names, Policy, all_of, any_of, authenticated, custom, public, public_because, roles, scopes,
};
pub use principal::Principal;

/// The default deadline of a policy decision: a policy that has not answered after it denies.
pub const DEFAULT_AUTHZ_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether a tool reads or writes. Sets the MCP annotations and the write gate.
///
/// ```
/// use secure_tool::authz::Mode;
/// assert_eq!(Mode::Write.as_str(), "write");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The tool only reads: advertised with `readOnlyHint: true`.
    Read,
    /// The tool changes state: advertised with `readOnlyHint: false`, `destructiveHint: true`.
    Write,
}

impl Mode {
    /// `"read"` or `"write"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Read => "read",
            Mode::Write => "write",
        }
    }
}

/// What a policy is asked: which tool, in which mode, for whom, naming what.
///
/// Authorization runs before the arguments are checked, so that an unauthorized caller
/// learns nothing from validation errors: [`arguments`](Self::arguments) are the
/// arguments as sent, unchecked. A policy that reads them (the id of the note a call
/// deletes) must deny whatever it does not expect, never guess.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct AccessRequest<'a> {
    /// The name of the tool being called.
    pub tool: &'a str,
    /// The tool's declared mode.
    pub mode: Mode,
    /// The caller.
    pub principal: &'a Principal,
    /// The call's arguments as sent, not yet checked against the input schema (none for a
    /// call without arguments).
    pub arguments: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl<'a> AccessRequest<'a> {
    /// A request for `tool` in `mode` by `principal`.
    ///
    /// ```
    /// use secure_tool::authz::{AccessRequest, Mode, Principal};
    /// let p = Principal::new("bob");
    /// let request = AccessRequest::new("get_note", Mode::Read, &p);
    /// assert_eq!(request.tool, "get_note");
    /// ```
    pub fn new(tool: &'a str, mode: Mode, principal: &'a Principal) -> Self {
        Self {
            tool,
            mode,
            principal,
            arguments: None,
        }
    }

    /// This request, for a call with `arguments` (as sent, unchecked).
    ///
    /// ```
    /// use secure_tool::authz::{AccessRequest, Mode, Principal};
    /// let p = Principal::new("bob");
    /// let arguments = serde_json::json!({ "id": 7 }).as_object().cloned().unwrap();
    /// let request = AccessRequest::new("delete_note", Mode::Write, &p).with_arguments(&arguments);
    /// assert_eq!(request.arguments.and_then(|a| a.get("id")), Some(&serde_json::json!(7)));
    /// ```
    #[must_use]
    pub fn with_arguments(
        mut self,
        arguments: &'a serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        self.arguments = Some(arguments);
        self
    }
}

/// A policy's answer. Only [`Decision::Allow`] lets the handler run.
///
/// ```
/// use secure_tool::authz::Decision;
/// assert!(Decision::Allow.is_allow());
/// assert!(!Decision::Abstain.is_allow());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The caller may use the tool.
    Allow,
    /// The caller may not use the tool.
    Deny,
    /// The policy has no opinion (for example, a remote policy service that did not know
    /// the tool). Treated as a denial.
    Abstain,
}

impl Decision {
    /// Whether this is an explicit allow.
    pub const fn is_allow(self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// The error type of a custom policy: anything that implements [`std::error::Error`].
pub type PolicyError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The future returned by [`Authorize::authorize`].
pub type PolicyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Decision, PolicyError>> + Send + 'a>>;

/// A custom authorization policy, for decisions the built-in combinators cannot express
/// (a remote policy service, a policy engine, a lookup in a store).
///
/// Whatever it does, it cannot fail open: an error, a panic, a missed deadline or any answer
/// other than [`Decision::Allow`] denies. It is never asked about anonymous callers (they
/// are denied before it runs); only [`public`] admits them.
///
/// # A policy that blocks its thread
///
/// A synchronous client (an LDAP bind, a blocking HTTP request) called in `authorize`
/// itself or in its future cannot let a call through late either: the clock is read after
/// the answer, and an allow at or after the deadline denies
/// ([`DenialCause::LateAnswer`]), at the top of the policy and inside `all_of` and
/// `any_of`. What the guard cannot give back is the thread: while the policy blocks, it
/// holds a runtime worker, so nothing else scheduled on that worker runs (on a
/// current-thread runtime, the whole server waits), and the deadline's timer cannot cut
/// the wait short: every call of the tool costs the full time the client blocks. Run
/// blocking work with [`tokio::task::spawn_blocking`], or use an async client: the worker
/// stays free, the deadline's timer fires on time, and the late answer is dropped.
///
/// ```
/// use std::sync::Arc;
/// use secure_tool::authz::{custom, AccessRequest, Authorize, Decision, Mode, Principal, PolicyFuture};
///
/// /// A directory reached through a synchronous client.
/// struct Directory;
/// impl Directory {
///     /// Blocks on the network in real life.
///     fn is_member(&self, subject: &str, group: &str) -> bool {
///         subject == "alice" && group == "editors"
///     }
/// }
///
/// struct InGroup(Arc<Directory>);
///
/// impl Authorize for InGroup {
///     fn authorize<'a>(&'a self, request: AccessRequest<'a>) -> PolicyFuture<'a> {
///         let directory = self.0.clone();
///         let subject = request.principal.subject().unwrap_or_default().to_owned();
///         Box::pin(async move {
///             // On tokio's blocking pool: the worker stays free, the deadline can fire.
///             let member = tokio::task::spawn_blocking(move || {
///                 directory.is_member(&subject, "editors")
///             })
///             .await?;
///             Ok(if member { Decision::Allow } else { Decision::Deny })
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let policy = custom(InGroup(Arc::new(Directory)));
/// let alice = Principal::new("alice");
/// let request = AccessRequest::new("edit", Mode::Write, &alice);
/// let verdict = policy.evaluate(request, std::time::Duration::from_secs(2)).await;
/// assert_eq!(verdict, Ok(()));
/// # }
/// ```
///
/// ```
/// use secure_tool::authz::{custom, AccessRequest, Authorize, Decision, PolicyFuture};
///
/// /// Lets a subject in only during its shift (here: a fixed allow-list).
/// struct OnShift(Vec<String>);
///
/// impl Authorize for OnShift {
///     fn authorize<'a>(&'a self, request: AccessRequest<'a>) -> PolicyFuture<'a> {
///         Box::pin(async move {
///             let on_shift = request
///                 .principal
///                 .subject()
///                 .is_some_and(|s| self.0.iter().any(|o| o == s));
///             Ok(if on_shift { Decision::Allow } else { Decision::Deny })
///         })
///     }
///     fn describe(&self) -> String {
///         "subject on shift".into()
///     }
/// }
///
/// let policy = custom(OnShift(vec!["alice".into()]));
/// assert_eq!(policy.to_string(), "custom: subject on shift");
/// ```
pub trait Authorize: Send + Sync + 'static {
    /// Decides whether `request` may proceed.
    fn authorize<'a>(&'a self, request: AccessRequest<'a>) -> PolicyFuture<'a>;

    /// The policy in words, for the tool manifest and the audit log.
    fn describe(&self) -> String {
        "custom policy".into()
    }
}

/// What `authz = ...` accepts: a [`Policy`], or any custom [`Authorize`] implementation.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an authorization policy",
    label = "`authz` expects a policy",
    note = "use `public`, `public_because(\"...\")`, `authenticated`, `scopes(..)`, `roles(..)`, `all_of([..])`, `any_of([..])`, or a type that implements `secure_tool::authz::Authorize`"
)]
pub trait IntoPolicy {
    /// Converts into a [`Policy`].
    fn into_policy(self) -> Policy;
}

impl IntoPolicy for Policy {
    fn into_policy(self) -> Policy {
        self
    }
}

impl<A: Authorize> IntoPolicy for A {
    fn into_policy(self) -> Policy {
        custom(self)
    }
}

#[cfg(test)]
pub(crate) mod tests;

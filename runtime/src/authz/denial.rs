//! Why a call was denied: the [`DenialCause`] the audit log gets (the caller never does).

use std::fmt;
use std::time::Duration;

/// Why a call was denied. Written to the audit log; never sent to the caller, who always
/// gets the same generic denial.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenialCause {
    /// The caller is anonymous and the policy is not [`public`](super::public).
    Anonymous,
    /// The policy answered [`Decision::Deny`](super::Decision::Deny) (or a required scope or role is missing).
    Denied,
    /// The policy answered [`Decision::Abstain`](super::Decision::Abstain).
    Abstained,
    /// The policy returned an error (its text is kept for the log).
    PolicyError(String),
    /// The policy did not answer within its deadline.
    DeadlineExceeded(Duration),
    /// The policy panicked (the panic message is kept for the log).
    PolicyPanicked(String),
    /// An answer came at or after the deadline: a custom part allowed late, or failed late
    /// inside an `any_of` whose next part could only have answered later still. Typically
    /// the policy held its thread (a synchronous client), so the deadline's timer could not
    /// fire; the clock read after the answer caught it. The call is denied, whatever the
    /// answer was.
    LateAnswer {
        /// The deadline.
        deadline: Duration,
        /// When the answer came, measured from the start of the decision.
        elapsed: Duration,
    },
    /// The policy's requirement is empty (no scope or role, a blank name, an empty
    /// `all_of`/`any_of`): it denies every caller.
    EmptyRequirement,
    /// A confirmed tool's 2026-07-28 retry carried a request state that is forged,
    /// altered, another call's, expired or already redeemed (why, for the log).
    RequestState(String),
    /// Over HTTP, the caller's token lacks scopes the operation's policy requires, and
    /// scopes are all it lacks: it was answered `403 insufficient_scope` naming them, so
    /// that its client can step up (the only denial whose answer says why).
    InsufficientScope(Vec<String>),
    /// A Cedar policy set did not allow the call: no policy permits it, a `forbid`
    /// applies, a policy's evaluation erred, the entity the call names does not exist, or
    /// the call's arguments do not fit the schema (why, for the log).
    Cedar(String),
}

impl fmt::Display for DenialCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenialCause::Anonymous => f.write_str("anonymous caller on a non-public tool"),
            DenialCause::Denied => f.write_str("policy denied"),
            DenialCause::Abstained => f.write_str("policy abstained"),
            DenialCause::PolicyError(e) => write!(f, "policy error: {e}"),
            DenialCause::DeadlineExceeded(d) => {
                write!(f, "policy deadline of {} ms exceeded", d.as_millis())
            }
            DenialCause::PolicyPanicked(m) => write!(f, "policy panicked: {m}"),
            DenialCause::LateAnswer { deadline, elapsed } => write!(
                f,
                "late answer: the policy answered after {} ms, past its deadline of {} ms \
                 (a policy that blocks its thread keeps the deadline's timer from firing)",
                elapsed.as_millis(),
                deadline.as_millis()
            ),
            DenialCause::EmptyRequirement => {
                f.write_str("empty requirement: the policy denies every caller")
            }
            DenialCause::RequestState(why) => write!(f, "confirmation refused: {why}"),
            DenialCause::InsufficientScope(scopes) => write!(
                f,
                "insufficient scope: asked the client to step up to {}",
                scopes.join(" ")
            ),
            DenialCause::Cedar(why) => write!(f, "cedar: {why}"),
        }
    }
}

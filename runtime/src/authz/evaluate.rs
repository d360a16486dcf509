//! Deciding a policy, fail-closed: built-in parts here and now, custom parts under a
//! deadline, with every late, failed, panicking or abstaining answer a denial.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::{self, Either};

use super::policy::Node;
use super::{AccessRequest, Authorize, Decision, DenialCause, Policy, Principal};
use crate::util::panic_message;

impl Policy {
    /// Evaluates a policy made only of built-in combinators, without any I/O. A policy that
    /// contains a [`custom`](super::custom) part answers `false` here: use [`Policy::evaluate`].
    ///
    /// ```
    /// use secure_tool::authz::{scopes, Principal};
    /// assert!(scopes("x").allows_locally(&Principal::new("a").with_scopes(["x"])));
    /// ```
    pub fn allows_locally(&self, principal: &Principal) -> bool {
        self.local && self.local(principal) == Ok(())
    }

    /// Whether `principal` may be let in, as far as can be told without asking a
    /// [`custom`](super::custom) part (which could say yes): `false` only when the built-in parts alone
    /// deny, whatever a custom part would answer. What a caller-specific tool list
    /// ([`SecureServerBuilder::tool_lists`](crate::SecureServerBuilder::tool_lists))
    /// shows; the call itself is still decided by [`evaluate`](Self::evaluate).
    ///
    /// ```
    /// use secure_tool::authz::{all_of, any_of, custom, scopes, Principal};
    /// # use secure_tool::authz::{AccessRequest, Authorize, Decision, PolicyFuture};
    /// # struct OnShift;
    /// # impl Authorize for OnShift {
    /// #     fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
    /// #         Box::pin(async { Ok(Decision::Allow) })
    /// #     }
    /// # }
    ///
    /// let reader = Principal::new("ada").with_scopes(["notes:read"]);
    /// assert!(scopes("notes:read").may_admit(&reader));
    /// assert!(!scopes("notes:write").may_admit(&reader));
    /// let ask = custom(OnShift);
    /// // The custom part could let the caller in: the tool stays visible.
    /// assert!(any_of([scopes("notes:write"), ask.clone()]).may_admit(&reader));
    /// // No answer of the custom part can make up for the missing scope.
    /// assert!(!all_of([scopes("notes:write"), ask]).may_admit(&reader));
    /// ```
    pub fn may_admit(&self, principal: &Principal) -> bool {
        if self.local {
            return self.local(principal).is_ok();
        }
        if principal.is_anonymous() && !self.admits_anonymous() {
            return false;
        }
        match &self.node {
            Node::Custom(_) => true,
            #[cfg(feature = "cedar")]
            Node::Cedar(_) => true,
            // A policy with a custom part that is an `all_of` has that part: never empty.
            Node::AllOf(ps) => ps.iter().all(|p| p.may_admit(principal)),
            Node::AnyOf(ps) => ps.iter().any(|p| p.may_admit(principal)),
            _ => self.local(principal).is_ok(),
        }
    }

    /// The scopes `principal` would need for this policy to allow it, when scopes are all it
    /// lacks: every scope of the requirement it would meet (sorted, deduplicated), for an
    /// OAuth `insufficient_scope` challenge that names them all at once. `None` when more
    /// scopes cannot help or nothing is missing: an anonymous caller, a role it lacks, an
    /// empty requirement, a [`custom`](super::custom) part (whose answer is not known
    /// before it is asked), or a requirement the caller already meets.
    ///
    /// The scopes named are all those the requirement needs, the ones the caller holds
    /// included: a client that asks for exactly these keeps what it had. In an
    /// [`any_of`](super::any_of), an alternative the caller already meets is the one named
    /// (so it needs nothing more); otherwise the first alternative that scopes alone can
    /// meet.
    ///
    /// ```
    /// use secure_tool::authz::{all_of, any_of, custom, roles, scopes, Principal};
    /// # use secure_tool::authz::{AccessRequest, Authorize, Decision, PolicyFuture};
    /// # struct Ask;
    /// # impl Authorize for Ask {
    /// #     fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
    /// #         Box::pin(async { Ok(Decision::Allow) })
    /// #     }
    /// # }
    ///
    /// let reader = Principal::new("ada").with_scopes(["notes:read"]);
    /// let write = scopes(["notes:read", "notes:write"]);
    /// assert_eq!(write.scope_challenge(&reader), Some(vec!["notes:read", "notes:write"]));
    /// assert_eq!(scopes("notes:read").scope_challenge(&reader), None);
    /// // Scopes cannot make up for a role, nor stand in for a custom policy's answer.
    /// assert_eq!(all_of([roles("admin"), write.clone()]).scope_challenge(&reader), None);
    /// assert_eq!(any_of([write.clone(), custom(Ask)]).scope_challenge(&reader), None);
    /// let admin = Principal::new("root").with_roles(["admin"]);
    /// assert_eq!(any_of([roles("admin"), write]).scope_challenge(&admin), None);
    /// ```
    pub fn scope_challenge(&self, principal: &Principal) -> Option<Vec<&str>> {
        let needed = self.scopes_needed(principal)?;
        if needed.iter().all(|scope| principal.has_scope(scope)) {
            return None;
        }
        Some(needed)
    }

    /// Every scope that, with what `principal` has besides scopes, meets this policy
    /// (sorted, deduplicated; those it holds included, so that a token asked for them
    /// keeps them); `None` when scopes cannot meet it.
    pub(crate) fn scopes_needed(&self, principal: &Principal) -> Option<Vec<&str>> {
        if principal.is_anonymous() {
            return None;
        }
        let mut needed = Vec::new();
        if !self.met_with_scopes(principal, &mut needed) {
            return None;
        }
        needed.sort_unstable();
        needed.dedup();
        Some(needed)
    }

    /// Whether scopes alone (those pushed onto `needed`) would make this policy allow
    /// `principal`.
    fn met_with_scopes<'p>(&'p self, principal: &Principal, needed: &mut Vec<&'p str>) -> bool {
        if !self.local {
            return false;
        }
        match &self.node {
            Node::Public(_) | Node::Authenticated => true,
            Node::Scopes(names) => {
                needed.extend(names.iter().map(|name| &**name));
                true
            }
            Node::Roles(names) => names.iter().all(|role| principal.has_role(role)),
            Node::AllOf(ps) => {
                !ps.is_empty() && ps.iter().all(|p| p.met_with_scopes(principal, needed))
            }
            Node::AnyOf(ps) => {
                // An alternative met already: what it needs (the scopes it holds, if any).
                if let Some(met) = ps.iter().find(|p| p.local(principal).is_ok()) {
                    return met.met_with_scopes(principal, needed);
                }
                ps.iter().any(|p| {
                    let mut own = Vec::new();
                    let met = p.met_with_scopes(principal, &mut own);
                    if met {
                        needed.append(&mut own);
                    }
                    met
                })
            }
            Node::Custom(_) | Node::Empty(_) => false,
            #[cfg(feature = "cedar")]
            Node::Cedar(_) => false,
        }
    }

    fn local(&self, principal: &Principal) -> Result<(), DenialCause> {
        if principal.is_anonymous() && !self.admits_anonymous() {
            return Err(DenialCause::Anonymous);
        }
        let ok = match &self.node {
            Node::Public(_) | Node::Authenticated => true,
            Node::Scopes(required) => required.iter().all(|s| principal.has_scope(s)),
            Node::Roles(required) => required.iter().all(|r| principal.has_role(r)),
            Node::AllOf(ps) => {
                if ps.is_empty() {
                    return Err(DenialCause::EmptyRequirement);
                }
                return ps.iter().try_for_each(|p| p.local(principal));
            }
            Node::AnyOf(ps) => {
                let mut last = DenialCause::EmptyRequirement;
                for p in ps.iter() {
                    match p.local(principal) {
                        Ok(()) => return Ok(()),
                        Err(cause) => last = cause,
                    }
                }
                return Err(last);
            }
            Node::Custom(_) => false,
            #[cfg(feature = "cedar")]
            Node::Cedar(_) => false,
            Node::Empty(_) => return Err(DenialCause::EmptyRequirement),
        };
        if ok { Ok(()) } else { Err(DenialCause::Denied) }
    }

    /// Decides `request`, fail-closed: `Ok(())` only on an explicit allow within `deadline`.
    /// A custom part that errors, panics, abstains or misses `deadline` denies, with the
    /// cause in the `Err`; so does an allow that comes at or after `deadline` (measured by
    /// tokio's clock after the answer: [`DenialCause::LateAnswer`]), and an empty
    /// requirement ([`DenialCause::EmptyRequirement`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::authz::{scopes, AccessRequest, DenialCause, Mode, Principal};
    ///
    /// # tokio_test_block_on(async {
    /// let p = Principal::new("a");
    /// let verdict = scopes("x")
    ///     .evaluate(AccessRequest::new("t", Mode::Read, &p), Duration::from_secs(2))
    ///     .await;
    /// assert_eq!(verdict, Err(DenialCause::Denied));
    /// # });
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
    /// # }
    /// ```
    pub fn evaluate<'a>(
        &'a self,
        request: AccessRequest<'a>,
        deadline: Duration,
    ) -> impl Future<Output = Result<(), DenialCause>> + Send + 'a {
        // Built-in policies are decided here and now: a ready future of a few bytes, no
        // timer and no allocation on the per-call path.
        if let Some(verdict) = self.decide_now(request) {
            return Either::Left(future::ready(verdict));
        }
        Either::Right(Box::pin(async move {
            let deadline = Deadline::starting_now(deadline);
            match tokio::time::timeout_at(deadline.expires(), self.remote(request, deadline)).await
            {
                Ok(verdict) => verdict,
                Err(_elapsed) => Err(DenialCause::DeadlineExceeded(deadline.length)),
            }
        }))
    }

    /// The decision of `request` when it takes no I/O: a policy of built-in parts only, or
    /// an anonymous caller the policy cannot let in whatever its custom parts say. `None`
    /// when a custom part must be asked ([`evaluate`](Self::evaluate) then asks it).
    pub(crate) fn decide_now(&self, request: AccessRequest<'_>) -> Option<Verdict> {
        if self.local {
            return Some(self.local(request.principal));
        }
        if request.principal.is_anonymous() && !self.admits_anonymous() {
            return Some(Err(DenialCause::Anonymous));
        }
        None
    }

    /// Decides a policy with a custom part. Only the parts of a combinator are boxed (the
    /// recursion needs it); the whole evaluation is one allocation at the top.
    ///
    /// The timer around this future fires only when the thread is free to run it: a part
    /// that blocks its thread (a synchronous client) answers after the deadline with the
    /// timer none the wiser. So the clock is read after every custom answer that could let
    /// the call through: an allow ([`ask`]), and a failed part that an `any_of` would move
    /// past. Built-in parts take no time and are never timed.
    async fn remote(&self, request: AccessRequest<'_>, deadline: Deadline) -> Verdict {
        match &self.node {
            Node::Custom(policy) => ask(&**policy, request, deadline).await,
            #[cfg(feature = "cedar")]
            Node::Cedar(rule) => ask_cedar(rule, request, deadline).await,
            Node::AllOf(ps) if ps.is_empty() => Err(DenialCause::EmptyRequirement),
            Node::AllOf(ps) => {
                for p in ps.iter() {
                    p.part(request, deadline).await?;
                }
                Ok(())
            }
            Node::AnyOf(ps) => {
                let mut last = DenialCause::EmptyRequirement;
                for (i, p) in ps.iter().enumerate() {
                    match p.part(request, deadline).await {
                        Ok(()) => return Ok(()),
                        // A late part: nothing after it can answer in time.
                        Err(cause @ DenialCause::LateAnswer { .. }) => return Err(cause),
                        // A custom part that denied (or failed) late: the parts after it
                        // would answer after the deadline too.
                        Err(cause) if !p.local && i + 1 < ps.len() => {
                            deadline.check()?;
                            last = cause;
                        }
                        Err(cause) => last = cause,
                    }
                }
                Err(last)
            }
            _ => self.local(request.principal),
        }
    }

    /// One part of a combinator: built-in parts are decided at once, custom ones boxed.
    fn part<'a>(
        &'a self,
        request: AccessRequest<'a>,
        deadline: Deadline,
    ) -> Either<future::Ready<Verdict>, BoxedVerdict<'a>> {
        if self.local {
            Either::Left(future::ready(self.local(request.principal)))
        } else {
            Either::Right(Box::pin(self.remote(request, deadline)))
        }
    }
}

/// The deadline of one decision by a policy with a custom part.
#[derive(Clone, Copy, Debug)]
struct Deadline {
    /// When the decision started (tokio's clock, so that paused-time tests drive it).
    started: tokio::time::Instant,
    /// How long it may take.
    length: Duration,
}

impl Deadline {
    fn starting_now(length: Duration) -> Self {
        Self {
            started: tokio::time::Instant::now(),
            length,
        }
    }

    /// When the timer fires (a deadline too far to represent is thirty years away, as in
    /// `tokio::time::timeout`).
    fn expires(self) -> tokio::time::Instant {
        crate::resilience::deadline(self.started, self.length)
    }

    /// Reads the clock: `Ok` while the deadline has not passed, a [`DenialCause::LateAnswer`]
    /// once it has (at the deadline itself, where the timer would fire, too).
    fn check(self) -> Verdict {
        let elapsed = self.started.elapsed();
        if elapsed < self.length {
            Ok(())
        } else {
            Err(DenialCause::LateAnswer {
                deadline: self.length,
                elapsed,
            })
        }
    }
}

/// The answer of a policy: `Ok(())` allows, anything else denies.
type Verdict = Result<(), DenialCause>;

/// A verdict still being decided by a custom policy.
type BoxedVerdict<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

async fn ask(policy: &dyn Authorize, request: AccessRequest<'_>, deadline: Deadline) -> Verdict {
    if request.principal.is_anonymous() {
        return Err(DenialCause::Anonymous);
    }
    // Building the future may panic too: catch both.
    let future = match std::panic::catch_unwind(AssertUnwindSafe(|| policy.authorize(request))) {
        Ok(future) => future,
        Err(panic) => return Err(DenialCause::PolicyPanicked(panic_message(&*panic))),
    };
    // Dropped with a panic in its `Drop` caught, however it ends (its deadline included).
    let future = crate::resilience::DropCaught::new("a policy's future", future);
    match AssertUnwindSafe(future).catch_unwind().await {
        // An allow counts only if it came in time, however the policy spent its time: a
        // policy that held its thread kept the deadline's timer from firing.
        Ok(Ok(Decision::Allow)) => deadline.check(),
        Ok(Ok(Decision::Deny)) => Err(DenialCause::Denied),
        Ok(Ok(Decision::Abstain)) => Err(DenialCause::Abstained),
        Ok(Err(error)) => {
            // The error is the policy's: its `Display`, `source` and `Drop` may panic too,
            // each caught on its own (a `Drop` that panics while a `Display` panic unwinds
            // would abort).
            let chain = std::panic::catch_unwind(AssertUnwindSafe(|| {
                crate::sanitize::error_chain(&*error)
            }))
            .unwrap_or_else(|_| "the policy's error panicked when read".to_owned());
            crate::util::drop_caught("a policy's error", move || drop(error));
            Err(DenialCause::PolicyError(chain))
        }
        Err(panic) => Err(DenialCause::PolicyPanicked(panic_message(&*panic))),
    }
}

/// Asks a Cedar part: like [`ask`], with the policy set's own reasons for a denial.
#[cfg(feature = "cedar")]
async fn ask_cedar(
    rule: &crate::cedar::Rule,
    request: AccessRequest<'_>,
    deadline: Deadline,
) -> Verdict {
    if request.principal.is_anonymous() {
        return Err(DenialCause::Anonymous);
    }
    match AssertUnwindSafe(rule.decide(request)).catch_unwind().await {
        Ok(Ok(())) => deadline.check(),
        Ok(Err(cause)) => Err(cause),
        Err(panic) => Err(DenialCause::PolicyPanicked(panic_message(&*panic))),
    }
}

//! [`Policy`]: the built-in requirements and combinators, and what can be read of a
//! policy without deciding it (the scopes and roles it names, whether it admits anonymous
//! callers, its empty requirements).

use std::fmt;
use std::sync::Arc;

use super::Authorize;
use super::principal::sorted_names;

/// An authorization policy: what `authz = ...` in `#[secure_tool]` evaluates to.
///
/// Built with [`public`], [`public_because`], [`authenticated`], [`scopes`], [`roles`],
/// [`all_of`], [`any_of`] and [`custom`]. Policies are built once, when the server's router is built; evaluating
/// the built-in ones is a few comparisons, never allocates and never reads the clock.
///
/// Two rules keep a policy from failing open however it is written:
/// - **A late answer denies.** A policy with a [`custom`] part decides under a deadline;
///   an allow that comes at or after it denies, measured by tokio's clock after the
///   answer, even when the policy blocked its thread and the deadline's timer could not
///   fire (see [`Authorize`] for what such a policy still costs).
/// - **An empty requirement denies.** `scopes` or `roles` with no name or a blank one,
///   and `all_of`/`any_of` with no part, deny every caller; the manifest shows them as
///   `deny: ...`. Anyone authenticated is [`authenticated`], anyone at all is [`public`].
///
/// ```
/// use secure_tool::authz::{any_of, roles, scopes, Principal};
/// let policy = any_of([roles("admin"), scopes("notes:write")]);
/// assert_eq!(policy.to_string(), "any of (roles: admin; scopes: notes:write)");
///
/// let from_config: Vec<String> = Vec::new();
/// let nobody = scopes(from_config);
/// assert_eq!(nobody.to_string(), "deny: empty scope list");
/// assert!(!nobody.allows_locally(&Principal::new("ada")));
/// ```
#[derive(Clone)]
pub struct Policy {
    pub(super) node: Node,
    /// Whether the policy is made only of built-in parts (decided without I/O), computed
    /// once so that the per-call path does not walk the tree twice.
    pub(super) local: bool,
}

#[derive(Clone)]
pub(super) enum Node {
    /// Anyone, anonymous callers included; with the reason given for it, if any (never
    /// blank: a blank reason is no reason).
    Public(Option<Box<str>>),
    Authenticated,
    Scopes(Box<[Box<str>]>),
    Roles(Box<[Box<str>]>),
    AllOf(Box<[Policy]>),
    AnyOf(Box<[Policy]>),
    Custom(Arc<dyn Authorize>),
    /// A Cedar-guarded operation, decided by a server's policy set once bound to it.
    #[cfg(feature = "cedar")]
    Cedar(Arc<crate::cedar::Rule>),
    /// A requirement no caller can meet: denies every caller it decides.
    Empty(EmptyRequirement),
}

/// The ways a requirement can be empty, each named in the manifest as `deny: ...`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EmptyRequirement {
    NoScopes,
    BlankScope,
    MalformedScope,
    NoRoles,
    BlankRole,
    NoAllOf,
    NoAnyOf,
}

impl EmptyRequirement {
    const fn as_str(self) -> &'static str {
        match self {
            EmptyRequirement::NoScopes => "empty scope list",
            EmptyRequirement::BlankScope => "blank scope name",
            EmptyRequirement::MalformedScope => "scope name no token can hold",
            EmptyRequirement::NoRoles => "empty role list",
            EmptyRequirement::BlankRole => "blank role name",
            EmptyRequirement::NoAllOf => "empty all_of list",
            EmptyRequirement::NoAnyOf => "empty any_of list",
        }
    }
}

/// `scopes(..)` or `roles(..)`: every name required, or an empty requirement when there is
/// no name or a blank one (an empty string, only whitespace). No token carries a blank
/// name on purpose, and a list with no name must not mean "anyone".
fn names_node(
    names: Names,
    required: fn(Box<[Box<str>]>) -> Node,
    none: EmptyRequirement,
    blank: EmptyRequirement,
) -> Node {
    if names.0.is_empty() {
        Node::Empty(none)
    } else if names.0.iter().any(|name| is_blank(name)) {
        Node::Empty(blank)
    } else {
        required(names.0)
    }
}

/// Whether `text` says nothing: empty, or only whitespace, control characters and
/// characters that show nothing (Unicode's default-ignorable code points: zero-width
/// spaces and joiners, bidirectional controls, variation selectors, fillers, tags; and
/// the blank braille pattern).
pub(crate) fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '\u{00AD}'
                    | '\u{034F}'
                    | '\u{061C}'
                    | '\u{115F}'..='\u{1160}'
                    | '\u{17B4}'..='\u{17B5}'
                    | '\u{180B}'..='\u{180F}'
                    | '\u{200B}'..='\u{200F}'
                    | '\u{202A}'..='\u{202E}'
                    | '\u{2060}'..='\u{206F}'
                    | '\u{2800}'
                    | '\u{3164}'
                    | '\u{FE00}'..='\u{FE0F}'
                    | '\u{FEFF}'
                    | '\u{FFA0}'
                    | '\u{FFF0}'..='\u{FFF8}'
                    | '\u{1BCA0}'..='\u{1BCA3}'
                    | '\u{1D173}'..='\u{1D17A}'
                    | '\u{E0000}'..='\u{E0FFF}'
            )
    })
}

/// Whether `name` is a scope a token can hold (RFC 6749 §3.3: `%x21 / %x23-5B /
/// %x5D-7E`, no space, quote or backslash): a scope with a space would be two scopes in
/// a token's `scope`, and match none of them.
pub(crate) fn is_scope_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// `all_of(..)` or `any_of(..)`: the parts, or an empty requirement when there is none.
fn group_node(
    parts: Box<[Policy]>,
    group: fn(Box<[Policy]>) -> Node,
    none: EmptyRequirement,
) -> Node {
    if parts.is_empty() {
        Node::Empty(none)
    } else {
        group(parts)
    }
}

/// Lets every caller in, anonymous ones included. With [`public_because`], the only way to
/// admit anonymous callers, and deliberately greppable: `authz = public`.
///
/// For a `mode = read` tool. A `mode = write` tool that lets anonymous callers in must say
/// why, with [`public_because`]: `authz = public` on a write tool does not compile, and a
/// write tool whose policy (built elsewhere: a `fn`, a `static`) admits anonymous callers
/// through a `public()` with no reason is refused when its route is built
/// ([`Policy::admits_anonymous_without_reason`]).
///
/// ```
/// use secure_tool::authz::{public, Principal};
/// assert!(public().allows_locally(&Principal::anonymous()));
/// assert!(public().admits_anonymous_without_reason());
/// ```
pub fn public() -> Policy {
    Policy::from_node(Node::Public(None))
}

/// Lets every caller in, anonymous ones included, and says why: what a `mode = write` tool
/// open to anyone must write (`authz = public_because("...")`), so that a reviewer reads
/// the reason beside the tool. The reason is part of the policy's text in the manifest
/// (`public (reason: ...)`), and the server logs a warning naming the tool and the reason
/// when it is built.
///
/// It decides like [`public`]. A blank reason (empty, or only whitespace, control
/// characters and characters that show nothing: zero-width, bidirectional controls,
/// fillers, the blank braille pattern) is no reason: the policy is then plain `public`,
/// which a write tool may not use. The same holds for a tool's description, a
/// confirmation question and the reason for forwarding a surface unguarded.
///
/// ```
/// use secure_tool::authz::{public_because, Principal};
/// let open = public_because("anyone may report a broken link");
/// assert!(open.allows_locally(&Principal::anonymous()));
/// assert_eq!(open.to_string(), "public (reason: anyone may report a broken link)");
/// assert_eq!(open.public_reasons(), ["anyone may report a broken link"]);
/// assert!(!open.admits_anonymous_without_reason());
///
/// let blank = public_because("  ");
/// assert_eq!(blank.to_string(), "public");
/// assert!(blank.admits_anonymous_without_reason());
/// // Invisible characters say nothing either.
/// assert!(public_because("\u{200B}").admits_anonymous_without_reason());
/// ```
pub fn public_because(reason: impl Into<String>) -> Policy {
    let reason = reason.into();
    let reason = (!is_blank(&reason)).then(|| reason.into_boxed_str());
    Policy::from_node(Node::Public(reason))
}

/// Lets in every authenticated caller, whatever its scopes and roles.
///
/// ```
/// use secure_tool::authz::{authenticated, Principal};
/// assert!(authenticated().allows_locally(&Principal::new("bob")));
/// assert!(!authenticated().allows_locally(&Principal::anonymous()));
/// ```
pub fn authenticated() -> Policy {
    Policy::from_node(Node::Authenticated)
}

/// Requires every one of the given scopes: `scopes("notes:read")` or
/// `scopes(["notes:read", "notes:write"])`.
///
/// An empty requirement denies every caller: no name at all (`scopes(Vec::new())`, a list
/// from configuration that came back empty) or a blank one (`scopes("")`, `scopes([" "])`).
/// A list with no name never means "anyone": say [`authenticated`] for that. Such a policy
/// is shown as `deny: empty scope list` (or `deny: blank scope name`) in the manifest, is
/// listed by [`Policy::empty_requirements`], is reported by the `testing` audit, and is
/// logged as a warning when the server is built.
///
/// ```
/// use secure_tool::authz::{scopes, Principal};
/// let p = Principal::new("bob").with_scopes(["a", "b", ""]);
/// assert!(scopes(["a", "b"]).allows_locally(&p));
/// assert!(!scopes(["a", "c"]).allows_locally(&p));
///
/// let from_config: Vec<String> = Vec::new();
/// let nobody = scopes(from_config);
/// assert!(!nobody.allows_locally(&p));
/// assert_eq!(nobody.to_string(), "deny: empty scope list");
/// assert!(!scopes("").allows_locally(&p));
///
/// // A name no token can hold (RFC 6749: no space, quote or backslash) is no requirement
/// // either: "a b" would be two scopes in a token, and match neither.
/// let two = Principal::new("bob").with_scopes(["a b"]);
/// assert!(!scopes("a b").allows_locally(&two));
/// assert_eq!(scopes("a b").to_string(), "deny: scope name no token can hold");
/// ```
pub fn scopes(required: impl Into<Names>) -> Policy {
    let node = names_node(
        required.into(),
        Node::Scopes,
        EmptyRequirement::NoScopes,
        EmptyRequirement::BlankScope,
    );
    match &node {
        Node::Scopes(names) if !names.iter().all(|name| is_scope_token(name)) => {
            Policy::from_node(Node::Empty(EmptyRequirement::MalformedScope))
        }
        _ => Policy::from_node(node),
    }
}

/// Requires every one of the given roles: `roles("admin")` or `roles(["admin", "ops"])`.
///
/// As with [`scopes`], an empty requirement (no role, or a blank role name) denies every
/// caller and is shown as `deny: empty role list` (or `deny: blank role name`).
///
/// ```
/// use secure_tool::authz::{roles, Principal};
/// let p = Principal::new("root").with_roles(["admin"]);
/// assert!(roles("admin").allows_locally(&p));
/// assert!(!roles(Vec::<String>::new()).allows_locally(&p));
/// assert_eq!(roles(["admin", " "]).to_string(), "deny: blank role name");
/// ```
pub fn roles(required: impl Into<Names>) -> Policy {
    Policy::from_node(names_node(
        required.into(),
        Node::Roles,
        EmptyRequirement::NoRoles,
        EmptyRequirement::BlankRole,
    ))
}

/// Allows only when every policy allows. An empty list denies every caller (shown as
/// `deny: empty all_of list`).
///
/// ```
/// use secure_tool::authz::{all_of, roles, scopes, Principal};
/// let p = Principal::new("e").with_scopes(["w"]).with_roles(["editor"]);
/// assert!(all_of([scopes("w"), roles("editor")]).allows_locally(&p));
/// assert!(!all_of([]).allows_locally(&p));
/// assert_eq!(all_of([]).to_string(), "deny: empty all_of list");
/// ```
pub fn all_of(policies: impl IntoIterator<Item = Policy>) -> Policy {
    Policy::from_node(group_node(
        policies.into_iter().collect(),
        Node::AllOf,
        EmptyRequirement::NoAllOf,
    ))
}

/// Allows when at least one policy allows. An empty list denies every caller (shown as
/// `deny: empty any_of list`).
///
/// ```
/// use secure_tool::authz::{any_of, roles, scopes, Principal};
/// let p = Principal::new("e").with_roles(["admin"]);
/// assert!(any_of([scopes("w"), roles("admin")]).allows_locally(&p));
/// assert!(!any_of([]).allows_locally(&p));
/// ```
pub fn any_of(policies: impl IntoIterator<Item = Policy>) -> Policy {
    Policy::from_node(group_node(
        policies.into_iter().collect(),
        Node::AnyOf,
        EmptyRequirement::NoAnyOf,
    ))
}

/// Wraps a custom [`Authorize`] implementation into a policy.
///
/// ```
/// # use secure_tool::authz::{custom, AccessRequest, Authorize, Decision, PolicyFuture};
/// struct Never;
/// impl Authorize for Never {
///     fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
///         Box::pin(async { Ok(Decision::Deny) })
///     }
/// }
/// let policy = custom(Never);
/// assert_eq!(policy.to_string(), "custom: custom policy");
/// ```
pub fn custom(policy: impl Authorize) -> Policy {
    Policy::from_node(Node::Custom(Arc::new(policy)))
}

/// A list of scope or role names: built from a `&str`, a `String`, an array or a `Vec`.
///
/// ```
/// use secure_tool::authz::Names;
/// let one: Names = "a".into();
/// let many: Names = ["a", "b"].into();
/// assert_eq!(many.iter().count(), 2);
/// assert_eq!(one.iter().next(), Some("a"));
/// ```
#[derive(Clone, Debug)]
pub struct Names(Box<[Box<str>]>);

impl Names {
    /// The names, sorted and deduplicated.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| &**s)
    }
}

impl From<&str> for Names {
    fn from(name: &str) -> Self {
        Names(sorted_names([name]))
    }
}

impl From<String> for Names {
    fn from(name: String) -> Self {
        Names(sorted_names([name]))
    }
}

impl<S: Into<String>, const N: usize> From<[S; N]> for Names {
    fn from(names: [S; N]) -> Self {
        Names(sorted_names(names))
    }
}

impl<S: Into<String>> From<Vec<S>> for Names {
    fn from(names: Vec<S>) -> Self {
        Names(sorted_names(names))
    }
}

impl Policy {
    fn from_node(node: Node) -> Self {
        let local = match &node {
            Node::Custom(_) => false,
            #[cfg(feature = "cedar")]
            Node::Cedar(_) => false,
            Node::AllOf(ps) | Node::AnyOf(ps) => ps.iter().all(|p| p.local),
            _ => true,
        };
        Self { node, local }
    }

    /// The scopes this policy names anywhere, sorted and deduplicated: what a token may
    /// need to call the tool (for the manifest and `scopes_supported`).
    ///
    /// ```
    /// use secure_tool::authz::{any_of, roles, scopes};
    /// let policy = any_of([scopes(["b", "a"]), roles("admin"), scopes("a")]);
    /// assert_eq!(policy.scopes(), ["a", "b"]);
    /// ```
    pub fn scopes(&self) -> Vec<&str> {
        self.names(|node| match node {
            Node::Scopes(names) => Some(names),
            _ => None,
        })
    }

    /// The roles this policy names anywhere, sorted and deduplicated.
    ///
    /// ```
    /// use secure_tool::authz::{all_of, roles, scopes};
    /// assert_eq!(all_of([roles("ops"), scopes("x")]).roles(), ["ops"]);
    /// ```
    pub fn roles(&self) -> Vec<&str> {
        self.names(|node| match node {
            Node::Roles(names) => Some(names),
            _ => None,
        })
    }

    fn names(&self, pick: NamesOf) -> Vec<&str> {
        fn walk<'a>(policy: &'a Policy, pick: NamesOf, out: &mut Vec<&'a str>) {
            if let Some(names) = pick(&policy.node) {
                out.extend(names.iter().map(|n| &**n));
            }
            if let Node::AllOf(ps) | Node::AnyOf(ps) = &policy.node {
                for p in ps.iter() {
                    walk(p, pick, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self, pick, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// A policy of one Cedar part.
    #[cfg(feature = "cedar")]
    pub(crate) fn cedar(rule: Arc<crate::cedar::Rule>) -> Self {
        Self::from_node(Node::Cedar(rule))
    }

    /// The Cedar parts of this policy, in the order they appear.
    #[cfg(feature = "cedar")]
    pub(crate) fn cedar_rules(&self) -> Vec<&crate::cedar::Rule> {
        fn walk<'a>(policy: &'a Policy, out: &mut Vec<&'a crate::cedar::Rule>) {
            match &policy.node {
                Node::Cedar(rule) => out.push(rule),
                Node::AllOf(ps) | Node::AnyOf(ps) => ps.iter().for_each(|p| walk(p, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }

    /// This policy with each Cedar part replaced by what `bind` makes of it.
    #[cfg(feature = "cedar")]
    pub(crate) fn bind_cedar(
        &mut self,
        bind: &dyn Fn(&crate::cedar::Rule) -> Result<crate::cedar::Rule, crate::cedar::CedarError>,
    ) -> Result<(), crate::cedar::CedarError> {
        match &mut self.node {
            Node::Cedar(rule) => *rule = Arc::new(bind(rule)?),
            Node::AllOf(ps) | Node::AnyOf(ps) => {
                for p in ps.iter_mut() {
                    p.bind_cedar(bind)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether a part of this policy is a [`custom`] one (decided by user code, possibly
    /// remotely, under the authorization deadline).
    ///
    /// ```
    /// use secure_tool::authz::scopes;
    /// assert!(!scopes("x").has_custom_part());
    /// ```
    pub fn has_custom_part(&self) -> bool {
        !self.local
    }

    /// The parts of this policy whose requirement is empty (no scope or role, a blank
    /// name, an empty `all_of`/`any_of`), in words, in the order they appear. Each denies
    /// every caller it decides: a policy made only of such a part is a tool nobody can
    /// call, most likely a list from configuration that came back empty. The server warns
    /// about them when it is built, and the `testing` audit reports them.
    ///
    /// ```
    /// use secure_tool::authz::{any_of, roles, scopes};
    /// let configured: Vec<String> = Vec::new();
    /// let policy = any_of([roles("admin"), scopes(configured)]);
    /// assert_eq!(policy.empty_requirements(), ["empty scope list"]);
    /// assert!(roles("admin").empty_requirements().is_empty());
    /// ```
    pub fn empty_requirements(&self) -> Vec<&'static str> {
        fn walk(policy: &Policy, out: &mut Vec<&'static str>) {
            match &policy.node {
                Node::Empty(empty) => out.push(empty.as_str()),
                Node::AllOf(ps) | Node::AnyOf(ps) => ps.iter().for_each(|p| walk(p, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }

    /// Whether this is exactly [`public`] (or [`public_because`]).
    ///
    /// ```
    /// use secure_tool::authz::{any_of, public, public_because, scopes};
    /// assert!(public().is_public() && public_because("a form anyone may fill").is_public());
    /// assert!(!any_of([public(), scopes("x")]).is_public());
    /// ```
    pub fn is_public(&self) -> bool {
        matches!(self.node, Node::Public(_))
    }

    /// Whether this policy can let an anonymous caller in: it is [`public`], or a
    /// combinator that a `public` part decides (an `any_of` with a public part, an `all_of`
    /// of public parts only). A [`custom`] policy never can: it is not asked about
    /// anonymous callers.
    ///
    /// ```
    /// use secure_tool::authz::{all_of, any_of, authenticated, public, scopes};
    /// assert!(public().admits_anonymous());
    /// assert!(any_of([public(), scopes("x")]).admits_anonymous());
    /// assert!(!all_of([public(), scopes("x")]).admits_anonymous());
    /// assert!(!authenticated().admits_anonymous());
    /// ```
    pub fn admits_anonymous(&self) -> bool {
        self.anonymous_through(|_| true)
    }

    /// Whether this policy lets anonymous callers in through a [`public`] part that gives
    /// no reason: what a `mode = write` tool may not have. Such a tool's route is refused
    /// (`SecureRoute::write` panics, naming the tool, so the server is never built); write
    /// [`public_because`] to say why anyone may change state, or require a caller.
    ///
    /// Each `public` that lets anonymous callers in must carry the reason: in
    /// `any_of([public(), scopes("x")])` the bare `public()` does, whatever its siblings
    /// say. A `public()` that cannot let anyone in alone (in an `all_of` with a part that
    /// requires a caller) needs none.
    ///
    /// ```
    /// use secure_tool::authz::{all_of, any_of, public, public_because, scopes};
    /// assert!(public().admits_anonymous_without_reason());
    /// assert!(any_of([scopes("x"), public()]).admits_anonymous_without_reason());
    /// assert!(!any_of([scopes("x"), public_because("a sign-up form")]).admits_anonymous_without_reason());
    /// assert!(!all_of([public(), scopes("x")]).admits_anonymous_without_reason());
    /// ```
    pub fn admits_anonymous_without_reason(&self) -> bool {
        self.anonymous_through(|reason| reason.is_none())
    }

    /// The reasons given for letting anonymous callers in ([`public_because`]), in the
    /// order they appear, for the parts through which they do get in.
    ///
    /// ```
    /// use secure_tool::authz::{all_of, any_of, public_because, scopes};
    /// let policy = any_of([scopes("x"), public_because("status page")]);
    /// assert_eq!(policy.public_reasons(), ["status page"]);
    /// assert!(all_of([public_because("unused"), scopes("x")]).public_reasons().is_empty());
    /// ```
    pub fn public_reasons(&self) -> Vec<&str> {
        fn walk<'a>(policy: &'a Policy, out: &mut Vec<&'a str>) {
            if !policy.admits_anonymous() {
                return;
            }
            match &policy.node {
                Node::Public(Some(reason)) => out.push(reason),
                Node::AllOf(ps) | Node::AnyOf(ps) => ps.iter().for_each(|p| walk(p, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }

    /// Whether anonymous callers get in when only the `public` parts whose reason passes
    /// `counts` let them in.
    fn anonymous_through(&self, counts: fn(Option<&str>) -> bool) -> bool {
        match &self.node {
            Node::Public(reason) => counts(reason.as_deref()),
            Node::AnyOf(ps) => ps.iter().any(|p| p.anonymous_through(counts)),
            Node::AllOf(ps) => !ps.is_empty() && ps.iter().all(|p| p.anonymous_through(counts)),
            _ => false,
        }
    }
}

/// Picks the scope or role names of one node of a policy.
type NamesOf = for<'a> fn(&'a Node) -> Option<&'a [Box<str>]>;

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, label: &str, names: &[Box<str>]) -> fmt::Result {
            write!(f, "{label}: ")?;
            for (i, n) in names.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(n)?;
            }
            Ok(())
        }
        fn group(f: &mut fmt::Formatter<'_>, label: &str, ps: &[Policy]) -> fmt::Result {
            write!(f, "{label} (")?;
            for (i, p) in ps.iter().enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                write!(f, "{p}")?;
            }
            f.write_str(")")
        }
        match &self.node {
            Node::Public(None) => f.write_str("public"),
            Node::Public(Some(reason)) => write!(f, "public (reason: {reason})"),
            Node::Authenticated => f.write_str("authenticated"),
            Node::Scopes(s) => list(f, "scopes", s),
            Node::Roles(r) => list(f, "roles", r),
            Node::AllOf(ps) => group(f, "all of", ps),
            Node::AnyOf(ps) => group(f, "any of", ps),
            Node::Custom(c) => write!(f, "custom: {}", c.describe()),
            #[cfg(feature = "cedar")]
            Node::Cedar(rule) => write!(f, "{rule}"),
            Node::Empty(empty) => write!(f, "deny: {}", empty.as_str()),
        }
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Policy({self})")
    }
}

//! Who is calling: the [`Principal`] a transport hands the guarded call.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// Who is calling a tool.
///
/// A principal is either anonymous or an authenticated subject with scopes and roles. Over
/// HTTP it comes from the request (an authentication layer puts it into the request's
/// extensions); over stdio it is the principal the server was configured with. Cloning is
/// cheap.
///
/// ```
/// use secure_tool::authz::Principal;
///
/// let p = Principal::new("alice").with_scopes(["notes:read"]).with_roles(["editor"]);
/// assert_eq!(p.subject(), Some("alice"));
/// assert!(p.has_scope("notes:read") && !p.has_scope("notes:write"));
/// assert!(p.has_role("editor"));
/// assert!(Principal::anonymous().is_anonymous());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Principal {
    identity: Option<Arc<Identity>>,
}

#[derive(PartialEq, Eq)]
struct Identity {
    subject: Box<str>,
    scopes: Box<[Box<str>]>,
    roles: Box<[Box<str>]>,
    /// When the credential it was read from stops being valid, if it does (tokio's clock:
    /// monotonic, and paused with it in tests).
    valid_until: Option<Instant>,
}

impl Principal {
    /// The anonymous caller: no subject, no scopes, no roles. Only [`public`](super::public) lets it in.
    pub const fn anonymous() -> Self {
        Self { identity: None }
    }

    /// An authenticated subject with no scopes and no roles yet.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            identity: Some(Arc::new(Identity {
                subject: subject.into().into_boxed_str(),
                scopes: Box::default(),
                roles: Box::default(),
                valid_until: None,
            })),
        }
    }

    /// Replaces the scopes of this principal (an anonymous principal stays anonymous).
    pub fn with_scopes<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.map_identity(|id| id.scopes = sorted_names(scopes))
    }

    /// Replaces the roles of this principal (an anonymous principal stays anonymous).
    pub fn with_roles<I, S>(self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.map_identity(|id| id.roles = sorted_names(roles))
    }

    /// This principal, whose credential (a bearer token: what is left of its life, with the
    /// leeway) stops being valid in `left`. What outlives one request (a subscription, a
    /// listen stream) ends then: a request is authenticated anew each time, a subscription
    /// is not.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::authz::Principal;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let ada = Principal::new("ada").valid_for(Duration::from_secs(60));
    /// assert!(!ada.has_expired());
    /// tokio::time::advance(Duration::from_secs(60)).await;
    /// assert!(ada.has_expired());
    /// assert!(!Principal::new("ada").has_expired());
    /// # }
    /// ```
    pub fn valid_for(self, left: Duration) -> Self {
        // Past the clock's range is never (thirty years on, as a deadline is).
        let until = crate::resilience::deadline(Instant::now(), left);
        self.map_identity(|id| id.valid_until = Some(until))
    }

    /// When this principal's credential stops being valid, if it does
    /// ([`valid_for`](Self::valid_for)).
    pub fn valid_until(&self) -> Option<Instant> {
        self.identity.as_deref().and_then(|id| id.valid_until)
    }

    /// Whether this principal's credential is no longer valid (never, for a principal made
    /// without [`valid_for`](Self::valid_for), and for the anonymous caller).
    pub fn has_expired(&self) -> bool {
        self.valid_until()
            .is_some_and(|until| Instant::now() >= until)
    }

    fn map_identity(self, edit: impl FnOnce(&mut Identity)) -> Self {
        let Some(identity) = self.identity else {
            return self;
        };
        let mut identity = Arc::try_unwrap(identity).unwrap_or_else(|shared| Identity {
            subject: shared.subject.clone(),
            scopes: shared.scopes.clone(),
            roles: shared.roles.clone(),
            valid_until: shared.valid_until,
        });
        edit(&mut identity);
        Self {
            identity: Some(Arc::new(identity)),
        }
    }

    /// Whether this is the anonymous caller.
    pub fn is_anonymous(&self) -> bool {
        self.identity.is_none()
    }

    /// The authenticated subject, or `None` for the anonymous caller.
    pub fn subject(&self) -> Option<&str> {
        self.identity.as_deref().map(|id| &*id.subject)
    }

    /// Whether the principal was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.identity
            .as_deref()
            .is_some_and(|id| contains(&id.scopes, scope))
    }

    /// Whether the principal holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.identity
            .as_deref()
            .is_some_and(|id| contains(&id.roles, role))
    }

    /// The scopes granted to the principal, sorted.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.identity
            .as_deref()
            .into_iter()
            .flat_map(|id| id.scopes.iter().map(|s| &**s))
    }

    /// The roles of the principal, sorted.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.identity
            .as_deref()
            .into_iter()
            .flat_map(|id| id.roles.iter().map(|s| &**s))
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.identity {
            None => f.write_str("Principal(anonymous)"),
            Some(id) => {
                let mut shown = f.debug_struct("Principal");
                shown
                    .field("subject", &id.subject)
                    .field("scopes", &id.scopes)
                    .field("roles", &id.roles);
                if let Some(until) = id.valid_until {
                    shown.field("valid_until", &until);
                }
                shown.finish()
            }
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.subject().unwrap_or("anonymous"))
    }
}

pub(super) fn sorted_names<I, S>(names: I) -> Box<[Box<str>]>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut names: Vec<Box<str>> = names
        .into_iter()
        .map(|s| s.into().into_boxed_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names.into_boxed_slice()
}

fn contains(sorted: &[Box<str>], name: &str) -> bool {
    sorted.binary_search_by(|probe| (**probe).cmp(name)).is_ok()
}

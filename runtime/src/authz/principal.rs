//! Who is calling: the [`Principal`] a transport hands the guarded call.

use std::fmt;
use std::sync::Arc;

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

    fn map_identity(self, edit: impl FnOnce(&mut Identity)) -> Self {
        let Some(identity) = self.identity else {
            return self;
        };
        let mut identity = Arc::try_unwrap(identity).unwrap_or_else(|shared| Identity {
            subject: shared.subject.clone(),
            scopes: shared.scopes.clone(),
            roles: shared.roles.clone(),
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
            Some(id) => f
                .debug_struct("Principal")
                .field("subject", &id.subject)
                .field("scopes", &id.scopes)
                .field("roles", &id.roles)
                .finish(),
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

//! The names the macros recognise, in one place.

pub const AUTHZ: &str = "authz";
pub const MODE: &str = "mode";
pub const BREAKER: &str = "breaker";
pub const TIMEOUT: &str = "timeout";
pub const ARGUMENT_LIMITS: &str = "argument_limits";
pub const NAME: &str = "name";
pub const DESCRIPTION: &str = "description";
pub const TITLE: &str = "title";

/// Every key of `#[secure_tool(...)]`, in the order the docs list them.
pub const TOOL_KEYS: &[&str] = &[
    AUTHZ,
    MODE,
    BREAKER,
    TIMEOUT,
    ARGUMENT_LIMITS,
    NAME,
    DESCRIPTION,
    TITLE,
];

pub const READ: &str = "read";
pub const WRITE: &str = "write";

/// The write capability a `mode = write` handler may take as its last parameter.
pub const WRITE_ACCESS: &str = "WriteAccess";

pub const ROUTER: &str = "router";
pub const ROUTER_KEYS: &[&str] = &[ROUTER];

/// Our method attribute.
pub const SECURE_TOOL: &str = "secure_tool";
/// rmcp's method attribute: registers a handler without our guard.
pub const RMCP_TOOL: &str = "tool";
/// rmcp's impl attribute.
pub const RMCP_TOOL_ROUTER: &str = "tool_router";

/// The prefix of every generated item.
pub const ROUTE_FN_PREFIX: &str = "__secure_tool_route_";
/// The prefix of the hidden method that finds a tool's dependency in the server's state.
pub const DEPENDENCY_FN_PREFIX: &str = "__secure_tool_dependency_";
/// The hidden method through which a tool's route calls its handler.
pub const HANDLER_FN_PREFIX: &str = "__secure_tool_handler_";

/// The only argument of the `#[secure_tool]` that `#[secure_tool_router]` leaves on a
/// method it has expanded: the attribute then returns the method as it is.
pub const REGISTERED: &str = "__registered_by_secure_tool_router";

/// The built-in policies the `authz` checks recognise by name.
pub const PUBLIC: &str = "public";
pub const PUBLIC_BECAUSE: &str = "public_because";
pub const ANY_OF: &str = "any_of";
/// The key of `public(reason = "...")`, a form that is refused with the right spelling.
pub const REASON: &str = "reason";

//! The names the macros recognise, in one place.

pub const AUTHZ: &str = "authz";
pub const MODE: &str = "mode";
pub const BREAKER: &str = "breaker";
pub const TIMEOUT: &str = "timeout";
pub const ARGUMENT_LIMITS: &str = "argument_limits";
pub const NAME: &str = "name";
pub const DESCRIPTION: &str = "description";
pub const TITLE: &str = "title";
pub const URI: &str = "uri";
pub const MIME_TYPE: &str = "mime_type";
/// `confirm = "Delete note {id}?"`: a write tool's question to the user.
pub const CONFIRM: &str = "confirm";
/// `complete(variable = Self::completer, ..)`: a resource's or a prompt's completers.
pub const COMPLETE: &str = "complete";
/// `rate = "30/min"`: how often each caller may call a tool.
pub const RATE: &str = "rate";

/// Every key of `#[secure_tool(...)]`, in the order the docs list them.
pub const TOOL_KEYS: &[&str] = &[
    AUTHZ,
    MODE,
    BREAKER,
    TIMEOUT,
    RATE,
    ARGUMENT_LIMITS,
    NAME,
    DESCRIPTION,
    TITLE,
    CONFIRM,
];

/// Every key of `#[secure_resource(...)]`, in the order the docs list them. A resource is
/// read-only (no `mode`) and its parameters are its URI's variables (no `argument_limits`).
pub const RESOURCE_KEYS: &[&str] = &[
    URI,
    AUTHZ,
    BREAKER,
    TIMEOUT,
    NAME,
    DESCRIPTION,
    TITLE,
    MIME_TYPE,
    COMPLETE,
];

/// Every key of `#[secure_prompt(...)]`, in the order the docs list them. A prompt is
/// read-only (no `mode`), its arguments are text checked by their struct's schema (no
/// `argument_limits`), and it has no URI.
pub const PROMPT_KEYS: &[&str] = &[AUTHZ, BREAKER, TIMEOUT, NAME, DESCRIPTION, TITLE, COMPLETE];

pub const READ: &str = "read";
pub const WRITE: &str = "write";

/// The write capability a `mode = write` handler may take as its last parameter.
pub const WRITE_ACCESS: &str = "WriteAccess";
pub const CALL_CONTEXT: &str = "CallContext";

pub const ROUTER: &str = "router";
pub const ROUTER_KEYS: &[&str] = &[ROUTER];

/// Our method attributes: a tool, a resource, and a prompt.
pub const SECURE_TOOL: &str = "secure_tool";
pub const SECURE_RESOURCE: &str = "secure_resource";
pub const SECURE_PROMPT: &str = "secure_prompt";
/// rmcp's method attribute: registers a handler without our guard.
pub const RMCP_TOOL: &str = "tool";
/// rmcp's impl attribute.
pub const RMCP_TOOL_ROUTER: &str = "tool_router";

/// The prefix of the hidden method that builds a tool's route.
pub const ROUTE_FN_PREFIX: &str = "__secure_tool_route_";
/// The prefix of the hidden method that finds a tool's (or a resource's, or a prompt's)
/// dependency in the server's state.
pub const DEPENDENCY_FN_PREFIX: &str = "__secure_tool_dependency_";
/// The hidden method through which a tool's route calls its handler.
pub const HANDLER_FN_PREFIX: &str = "__secure_tool_handler_";
/// The prefix of the hidden method that builds a resource's route.
pub const RESOURCE_ROUTE_FN_PREFIX: &str = "__secure_resource_route_";
/// The hidden method through which a resource's route calls its handler.
pub const RESOURCE_HANDLER_FN_PREFIX: &str = "__secure_resource_handler_";
/// The prefix of the hidden method that builds a prompt's route.
pub const PROMPT_ROUTE_FN_PREFIX: &str = "__secure_prompt_route_";
/// The hidden method through which a prompt's route calls its handler.
pub const PROMPT_HANDLER_FN_PREFIX: &str = "__secure_prompt_handler_";
/// The hidden method through which a route calls a completer (one per completer method,
/// whichever variables and arguments it completes).
pub const COMPLETER_FN_PREFIX: &str = "__secure_tool_completer_";

/// The only argument of the `#[secure_tool]` (or `#[secure_resource]`, `#[secure_prompt]`)
/// that `#[secure_tool_router]` leaves on a method it has expanded: the attribute then
/// returns the method as it is.
pub const REGISTERED: &str = "__registered_by_secure_tool_router";

/// The built-in policies the `authz` checks recognise by name.
pub const PUBLIC: &str = "public";
pub const PUBLIC_BECAUSE: &str = "public_because";
pub const ANY_OF: &str = "any_of";
/// The key of `public(reason = "...")`, a form that is refused with the right spelling.
pub const REASON: &str = "reason";

/// `self`, which the expressions read when the router is built cannot use.
pub const SELF: &str = "self";
/// `Self`, through which `complete(..)` names a completer method of the impl block.
pub const SELF_TYPE: &str = "Self";
/// The attribute a doc comment becomes.
pub const DOC: &str = "doc";

/// The requirement lists of `authz` (with [`ANY_OF`]), whose literal forms are checked.
pub const SCOPES: &str = "scopes";
pub const ROLES: &str = "roles";
pub const ALL_OF: &str = "all_of";
/// The literal lists: `vec![..]` and `Vec::new()`.
pub const VEC_MACRO: &str = "vec";
pub const VEC: &str = "Vec";
pub const NEW: &str = "new";
/// A breaker built in the attribute: `Dependency::new(..)`, `with_breaker(..)`, `.build()`.
pub const WITH_BREAKER: &str = "with_breaker";
pub const BUILD: &str = "build";

/// The type a handler returns.
pub const RESULT: &str = "Result";
/// `Box<dyn Error>`, which is not itself an error type.
pub const BOX: &str = "Box";
/// Error types whose text would reach the caller as is.
pub const STR: &str = "str";
pub const STRING: &str = "String";
pub const COW: &str = "Cow";

/// rmcp's crate, through which its protocol types are named.
pub const RMCP: &str = "rmcp";
/// rmcp's JSON-RPC error, and the alias rmcp gives it.
pub const ERROR_DATA: &str = "ErrorData";
pub const MCP_ERROR: &str = "McpError";
/// rmcp's result and content types.
pub const CALL_TOOL_RESULT: &str = "CallToolResult";
pub const CONTENT: &str = "Content";
pub const CONTENT_BLOCK: &str = "ContentBlock";
/// rmcp's structured-output wrapper, also one of its extractors.
pub const JSON: &str = "Json";
/// rmcp's extractors, which a handler written for rmcp's `#[tool]` takes.
pub const RMCP_EXTRACTORS: &[&str] = &["Parameters", "Extension", "RequestContext", "Peer", JSON];

/// A handler written to return a future: `Pin<Box<dyn Future<..>>>`, `impl Future<..>`,
/// `BoxFuture<..>`, `LocalBoxFuture<..>`.
pub const PIN: &str = "Pin";
pub const FUTURES: &[&str] = &["Future", "BoxFuture", "LocalBoxFuture"];

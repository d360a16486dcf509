//! What `#[secure_tool]` expands against: a tool's static [`ToolSpec`], the
//! [`ToolTypes`] of its arguments, result and error, the [`SecureRoute`] that wraps its
//! handler in the guarded call, and the [`SecureToolRouter`] that collects a type's routes.
//!
//! The guarded call itself (authorize, pass the write gate, check the arguments against
//! their [`ArgumentLimits`] and the published input schema, parse, bound, run, render, one
//! audit event) is crate-private: a route is made only by [`SecureRoute::read`] and
//! [`SecureRoute::write`], and both put the handler behind it, so no route can skip its
//! policy. [`SecureServer`](crate::SecureServer) serves the routes.
//!
//! | file | job |
//! |---|---|
//! | `route/spec.rs` | [`ToolSpec`]: name, mode, policy, deadline, caps |
//! | `route/types.rs` | [`ToolTypes`]: what the call needs of the user's types, checked at them |
//! | `route/limits.rs` | [`ArgumentLimits`]: the size caps of every tool's arguments, checked first |
//! | `route/validate.rs` | the published input schema, compiled once per tool, enforced on every call |
//! | `route/arguments.rs` | JSON arguments to the handler's type, errors without the caller's values or Rust paths |
//! | `route/field_path.rs` | how a refusal names a field (declared names only) and is worded |
//! | `route/render.rs` | the handler's value as an MCP result |
//! | `route/rich.rs` | [`RichResult`]: text, image, audio, resource and link blocks |
//! | `route/output.rs` | the published output schema, checked when the server asks |
//! | `route/schema.rs` | the published schemas, with only the formats clients know |
//! | `route/secure_route.rs` | [`SecureRoute`]: a tool's description and guarded entry point |
//! | `route/router.rs` | [`SecureToolRouter`] and [`SecureTools`] |
//! | `route/call.rs` | the guarded call, in order (crate-private) |
//! | `route/settings.rs` | what the server gives every call: its policy, decided before the tool's, its rate limit, its write gate (crate-private) |
//! | `route/plumbing.rs` | compile-time checks the generated code names (not public API) |
//!
//! ```
//! use secure_tool::prelude::*;
//! use secure_tool::route::{ArgumentsType, ErrorType, NoArguments, OutputType};
//! use secure_tool::route::{SecureRoute, SecureToolRouter, ToolSpec, ToolTypes};
//!
//! struct Clock;
//! async fn ticks(_: &Clock, _: NoArguments, _: secure_tool::context::Grant<'_>) -> Result<u64, ToolError> {
//!     Ok(42)
//! }
//!
//! let spec = ToolSpec::new("ticks", Mode::Read, public()).with_description("The ticks.");
//! let types = ToolTypes::new(ArgumentsType::new(), OutputType::new(), ErrorType::new());
//! let router = SecureToolRouter::new().with_route(SecureRoute::read(spec, types, ticks));
//! assert_eq!(router.tool_names(), ["ticks"]);
//! ```

pub(crate) mod arguments;
pub(crate) mod call;
pub(crate) mod field_path;
mod limits;
mod output;
pub(crate) mod plumbing;
mod render;
mod rich;
mod router;
pub(crate) mod schema;
pub(crate) mod secure_route;
mod settings;
pub(crate) mod spec;
mod types;
pub(crate) mod validate;

pub(crate) use call::Invocation;
pub use limits::ArgumentLimits;
pub use output::OutputViolation;
pub use rich::RichResult;
pub use router::{SecureToolRouter, SecureTools};
#[cfg(all(test, feature = "testing"))]
pub(crate) use secure_route::route_fn;
pub use secure_route::{BoxFuture, DependencyFn, Handler, SecureRoute};
pub(crate) use settings::{CallSettings, WriteGateView};
pub use spec::{DEFAULT_MAX_CONCURRENT_CALLS, ToolSpec};
pub use types::{
    ArgumentsType, ErrorType, NoArguments, OutputType, ToolArguments, ToolOutput, ToolTypes,
};

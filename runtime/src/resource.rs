//! Resources under the same guard as tools: what `#[secure_resource]` expands against.
//!
//! A resource is a fixed URI (`docs://readme`) or a URI template (`notes://{id}`) with a
//! policy, a deadline, an optional dependency (breaker and bulkhead) and a handler that
//! returns a [`ResourceBody`]. Every read goes through the guarded read, in order:
//! authorize (server policy, then the resource's, fail-closed), check and parse the URI's
//! variables into the handler's typed parameters, take a slot, run the handler under the
//! deadline and the breaker with panics caught, one audit event. `resources/list` and
//! `resources/templates/list` show each caller only what its scopes and roles let it read.
//!
//! A read that is denied, of a URI that nothing matches, or with variables that are not
//! valid parameters, gets one answer, "resource not found", without the URI: a caller who
//! may not read `notes://7` cannot learn that it exists. Other failures are JSON-RPC errors
//! whose message is the sanitized text (category, advice, incident id) and whose `data`
//! holds the same facts; the internal error is only in the log.
//!
//! | file | job |
//! |---|---|
//! | `resource/template.rs` | [`UriTemplate`]: fixed URIs and `{name}` variables, matching a read's URI |
//! | `resource/spec.rs` | [`ResourceSpec`]: name, URI, policy, MIME type, deadline, cap |
//! | `resource/body.rs` | [`ResourceBody`]: what a handler returns (text, JSON, bytes) |
//! | `resource/route.rs` | [`ResourceRoute`]: the parameters' schema and the guarded entry point |
//! | `resource/read.rs` | the guarded read, in order (crate-private) |
//!
//! ```
//! use secure_tool::prelude::*;
//! use secure_tool::resource::{ResourceBody, ResourceRoute, ResourceSpec};
//! use secure_tool::route::{ArgumentsType, ErrorType, NoArguments, SecureToolRouter};
//!
//! struct Docs;
//! async fn readme(_: &Docs, _: NoArguments, _: secure_tool::context::Grant<'_>) -> Result<ResourceBody, ToolError> {
//!     Ok(ResourceBody::text("# Docs"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let spec = ResourceSpec::new("readme", "docs://readme", public());
//! let route = ResourceRoute::new(spec, ArgumentsType::new(), ErrorType::new(), readme);
//! let server =
//!     secure_tool::SecureServerBuilder::with_router(Docs, SecureToolRouter::new().with_resource(route))
//!         .build();
//! let listed = server.resources_for(&Principal::anonymous());
//! assert_eq!(listed[0].uri, "docs://readme");
//! # }
//! ```

mod body;
pub(crate) mod read;
mod route;
mod spec;
pub(crate) mod template;

pub use body::ResourceBody;
pub use route::ResourceRoute;
pub use spec::ResourceSpec;
pub(crate) use template::acknowledgeable;
pub use template::{MAX_URI_BYTES, TemplateError, UriTemplate};

/// What the parameters of a resource template may be: a struct whose fields are the URI's
/// variables.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the parameters of a `#[secure_resource]` handler",
    label = "resource parameters must implement `serde::Deserialize` and `schemars::JsonSchema`",
    note = "add `#[derive(serde::Deserialize, schemars::JsonSchema)]` to a struct with one field per variable of the URI template"
)]
pub trait ResourceParams:
    serde::de::DeserializeOwned + schemars::JsonSchema + Send + 'static
{
}

impl<T: serde::de::DeserializeOwned + schemars::JsonSchema + Send + 'static> ResourceParams for T {}

#[cfg(test)]
mod tests;

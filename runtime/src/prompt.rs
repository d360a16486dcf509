//! Prompts under the same guard as tools: what `#[secure_prompt]` expands against.
//!
//! A prompt has a policy, a deadline, an optional dependency, typed arguments (listed by
//! `prompts/list` from the arguments type's schema) and a handler that returns a
//! [`PromptReply`]. Every get goes through the guarded path: authorize (server policy,
//! then the prompt's, fail-closed), check and parse the arguments, take a slot, run the
//! handler under the deadline and the breaker with panics caught, one audit event.
//! `prompts/list` shows each caller only the prompts its scopes and roles let it get; a
//! get that is denied is answered as one of a prompt that does not exist.
//!
//! | file | job |
//! |---|---|
//! | `prompt/spec.rs` | [`PromptSpec`]: name, policy, deadline, cap |
//! | `prompt/reply.rs` | [`PromptReply`]: the messages a handler returns |
//! | `prompt/route.rs` | [`PromptRoute`]: the listed arguments and the guarded entry point |
//! | `prompt/get.rs` | the guarded get and its answers (crate-private) |
//!
//! See [`PromptRoute::new`] for an example.

mod get;
mod reply;
mod route;
mod spec;

pub(crate) use get::{GetInvocation, prompt_not_found};
pub use reply::PromptReply;
pub use route::PromptRoute;
pub use spec::PromptSpec;

/// What the arguments of a prompt may be: a struct whose fields are the prompt's arguments.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the arguments of a `#[secure_prompt]` handler",
    label = "prompt arguments must implement `serde::Deserialize` and `schemars::JsonSchema`",
    note = "add `#[derive(serde::Deserialize, schemars::JsonSchema)]` to a struct whose fields are the prompt's arguments: text, numbers or booleans"
)]
pub trait PromptArguments:
    serde::de::DeserializeOwned + schemars::JsonSchema + Send + 'static
{
}

impl<T: serde::de::DeserializeOwned + schemars::JsonSchema + Send + 'static> PromptArguments for T {}

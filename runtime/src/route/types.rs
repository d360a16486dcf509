//! What the guarded call needs of a tool's argument, result and error types, captured
//! once, where the trait bounds are checked at the user's types.

use std::sync::Arc;

use rmcp::handler::server::tool::{schema_for_input, schema_for_output};
use rmcp::model::{CallToolResult, JsonObject};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::arguments::parse_arguments;
use super::field_path::{DeclaredNames, Problem};
use super::render::{Rendering, success_result};
use crate::sanitize::{IntoToolError, ToolError};

/// What the caller of a tool may send as its arguments.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the arguments of a `#[secure_tool]` handler",
    label = "tool arguments must implement `serde::Deserialize` and `schemars::JsonSchema`",
    note = "add `#[derive(serde::Deserialize, schemars::JsonSchema)]` to the arguments struct: the schema is what `tools/list` advertises and the only shape accepted"
)]
pub trait ToolArguments: DeserializeOwned + JsonSchema + Send + 'static {}

impl<T: DeserializeOwned + JsonSchema + Send + 'static> ToolArguments for T {}

/// What a tool may return on success: a `Serialize + JsonSchema` value (sent as text and,
/// when its schema is an object, as structured content), or a
/// [`RichResult`](super::RichResult) of content blocks.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of a `#[secure_tool]` handler",
    label = "tool results must implement `serde::Serialize` and `schemars::JsonSchema`",
    note = "add `#[derive(serde::Serialize, schemars::JsonSchema)]`: the schema is advertised as the tool's output schema",
    note = "for images, audio or resources, return `secure_tool::route::RichResult`"
)]
pub trait ToolOutput: Send + Sized + 'static {
    /// How the guarded call renders this type. Not public API.
    #[doc(hidden)]
    fn __output_type() -> OutputType<Self>;
}

impl<T: Serialize + JsonSchema + Send + 'static> ToolOutput for T {
    fn __output_type() -> OutputType<Self> {
        OutputType {
            render: success_result::<T>,
            schema: schema_for_output::<T>,
            is_partial: crate::partial::is_partial::<T>,
        }
    }
}

impl<T: Serialize + JsonSchema + Send + 'static> ToolOutput for super::RichResult<T> {
    fn __output_type() -> OutputType<Self> {
        OutputType {
            render: super::rich::render::<T>,
            // The structured part's schema: for `RichResult<()>` not an object, so no
            // output schema is published.
            schema: schema_for_output::<T>,
            is_partial: || false,
        }
    }
}

/// The arguments of a tool that takes none: an empty object (extra fields are ignored).
#[derive(Clone, Copy, Debug, Default, serde::Deserialize, JsonSchema)]
pub struct NoArguments {}

/// What the guarded call needs to know of a tool's argument, result and error types,
/// captured where the trait bounds are checked: once, at the user's types.
pub struct ToolTypes<A, T, E> {
    pub(crate) parse: fn(&serde_json::Value, &DeclaredNames) -> Result<A, Problem>,
    pub(crate) render: fn(T, Rendering) -> Result<CallToolResult, serde_json::Error>,
    pub(crate) into_error: fn(E) -> ToolError,
    pub(crate) input_schema: fn() -> Result<Arc<JsonObject>, String>,
    pub(crate) output_schema: fn() -> Arc<JsonObject>,
    pub(crate) is_partial: fn() -> bool,
}

impl<A, T, E> Clone for ToolTypes<A, T, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, T, E> Copy for ToolTypes<A, T, E> {}

impl<A, T, E> ToolTypes<A, T, E> {
    /// The types of a tool taking `A` and returning `Result<T, E>`, from their parts (each
    /// checked on its own, so that a wrong type is reported once, at the type).
    pub fn new(arguments: ArgumentsType<A>, output: OutputType<T>, error: ErrorType<E>) -> Self {
        Self {
            parse: arguments.parse,
            render: output.render,
            into_error: error.into_error,
            input_schema: arguments.schema,
            output_schema: output.schema,
            is_partial: output.is_partial,
        }
    }
}

/// Proof that `A` can be a tool's arguments, with what the guarded call needs of it.
pub struct ArgumentsType<A> {
    pub(crate) parse: fn(&serde_json::Value, &DeclaredNames) -> Result<A, Problem>,
    pub(crate) schema: fn() -> Result<Arc<JsonObject>, String>,
}

impl<A: ToolArguments> Default for ArgumentsType<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: ToolArguments> ArgumentsType<A> {
    /// The arguments type `A`.
    pub fn new() -> Self {
        Self {
            parse: parse_arguments::<A>,
            schema: schema_for_input::<A>,
        }
    }
}

/// Proof that `T` can be a tool's result, with what the guarded call needs of it.
pub struct OutputType<T> {
    render: fn(T, Rendering) -> Result<CallToolResult, serde_json::Error>,
    schema: fn() -> Arc<JsonObject>,
    is_partial: fn() -> bool,
}

impl<T: ToolOutput> Default for OutputType<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ToolOutput> OutputType<T> {
    /// The result type `T`.
    pub fn new() -> Self {
        T::__output_type()
    }
}

/// Proof that `E` can be a tool's error, with what the guarded call needs of it.
pub struct ErrorType<E> {
    pub(crate) into_error: fn(E) -> ToolError,
}

impl<E: IntoToolError> Default for ErrorType<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: IntoToolError> ErrorType<E> {
    /// The error type `E`.
    pub fn new() -> Self {
        Self {
            into_error: E::into_tool_error,
        }
    }
}

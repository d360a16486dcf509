//! Procedural macros of [secure-tool](https://docs.rs/secure-tool). Depend on the
//! `secure-tool` crate, which re-exports them; this crate is an implementation detail.

mod attr;
mod router;
mod symbol;
mod tool;

use proc_macro::TokenStream;

/// Makes an `async fn` method of a `#[secure_tool_router]` impl block a secure MCP tool.
/// The keys (`authz`, `mode`, `breaker`, `timeout`, `name`, `description`, `title`) are
/// described in the `secure-tool` crate's documentation.
///
/// Accepted signatures, with `T: Deserialize + JsonSchema` (the tool's input schema),
/// `O: Serialize + JsonSchema` and an error type `E` that is not raw text:
///
/// ```text
/// async fn tool(&self) -> Result<O, E>
/// async fn tool(&self, args: T) -> Result<O, E>
/// async fn tool(&self, access: WriteAccess) -> Result<O, E>           // mode = write only
/// async fn tool(&self, args: T, access: WriteAccess) -> Result<O, E>  // mode = write only
/// ```
///
/// The write capability is recognised by the last segment of its type's path
/// (`WriteAccess`, `capability::WriteAccess`, `secure_tool::capability::WriteAccess`; not
/// through an alias, which is then taken for the arguments and refused because
/// `WriteAccess` is not `Deserialize`). It must come last and by value; a `mode = read`
/// tool that asks for it does not compile.
#[proc_macro_attribute]
pub fn secure_tool(args: TokenStream, input: TokenStream) -> TokenStream {
    tool::expand(args.into(), input.into()).into()
}

/// See `secure_tool::secure_tool_router`.
#[proc_macro_attribute]
pub fn secure_tool_router(args: TokenStream, input: TokenStream) -> TokenStream {
    router::expand(args.into(), input.into()).into()
}

//! Procedural macros of [secure-tool](https://docs.rs/secure-tool). Depend on the
//! `secure-tool` crate, which re-exports them; this crate is an implementation detail.
//!
//! One module per job: `errors` collects every error of one expansion, `symbol` holds every
//! name the macros recognise, `attr` parses `#[secure_tool(...)]`, `#[secure_resource(...)]`
//! and `#[secure_prompt(...)]`, `tool` takes one handler, tool, resource or prompt, through
//! its phases (parsed form, validation, expansion, fallback) and `router` expands
//! `#[secure_tool_router]`, which owns the handlers of its impl block.

mod attr;
mod errors;
mod router;
mod symbol;
mod tool;

use proc_macro::TokenStream;

use attr::Kind;

/// `#[secure_tool]`, implemented in `secure-tool-macros`: see the `secure-tool` crate.
#[proc_macro_attribute]
pub fn secure_tool(args: TokenStream, input: TokenStream) -> TokenStream {
    tool::expand_standalone(Kind::Tool, args.into(), input.into()).into()
}

/// `#[secure_resource]`, implemented in `secure-tool-macros`: see the `secure-tool` crate.
#[proc_macro_attribute]
pub fn secure_resource(args: TokenStream, input: TokenStream) -> TokenStream {
    tool::expand_standalone(Kind::Resource, args.into(), input.into()).into()
}

/// `#[secure_prompt]`, implemented in `secure-tool-macros`: see the `secure-tool` crate.
#[proc_macro_attribute]
pub fn secure_prompt(args: TokenStream, input: TokenStream) -> TokenStream {
    tool::expand_standalone(Kind::Prompt, args.into(), input.into()).into()
}

/// `#[secure_tool_router]`, implemented in `secure-tool-macros`: see the `secure-tool`
/// crate.
#[proc_macro_attribute]
pub fn secure_tool_router(args: TokenStream, input: TokenStream) -> TokenStream {
    router::expand(args.into(), input.into()).into()
}

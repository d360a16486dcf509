//! `#[secure_tool(...)]` on a handler method: arguments → handler IR → validation →
//! expansion (or, when anything is wrong, a fallback that keeps the user's method and
//! reports every error at once).
//!
//! Input:
//! ```ignore
//! /// Reads a note.
//! #[secure_tool(authz = scopes("notes:read"), mode = read)]
//! async fn get_note(&self, args: GetNote) -> Result<Note, StoreError> { ... }
//! ```
//! Output: the method unchanged, plus two hidden associated fns: `__secure_tool_handler_get_note`,
//! which calls the method with the parsed arguments and the call's capability, and
//! `__secure_tool_route_get_note()`, which hands it to the runtime's `SecureRoute::read` (or
//! `write`), the only constructors of a route, which wrap it in the guarded call. The
//! router that `#[secure_tool_router]` generates calls it; nothing else can reach the
//! handler through MCP.
//!
//! A handler may take, last, the write capability (`access: WriteAccess<'_>`, recognised
//! by the last segment of its type's path). Only a `mode = write` handler may: the runtime
//! makes the capability inside the guarded call of a write route and passes it to the
//! handler fn; a read route passes `()`, so the types enforce what the syntactic check
//! reports.
//!
//! This module runs the phases; each has a module of its own: `ast` builds the handler IR
//! (the parsed form) while `signature` and `requirements` validate the method and the
//! attribute's expressions (`types` recognises the types in a signature), `expand` writes
//! the expansion from the IR alone, and `fallback` keeps the user's method beside the
//! errors when anything is wrong.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ImplItemFn;

use crate::attr::{ToolArgs, is_attr};
use crate::errors::Errors;
use crate::symbol::*;

mod ast;
mod expand;
mod fallback;
mod requirements;
mod signature;
mod types;

use ast::Handler;
pub use ast::ToolName;
pub use expand::route_fn_ident;
pub use fallback::expand_standalone;
use fallback::fallback;

/// A tool expanded by its router: the impl items, and the tool's name, which the router
/// needs to check that no two of its tools share one.
pub struct Expanded {
    pub tokens: TokenStream,
    pub name: ToolName,
}

/// `#[secure_tool(args)]` on `item`, a method of a `#[secure_tool_router]` impl block: the
/// router has taken the attribute off, and calls this with the attribute to leave on the
/// method in its place (`#[secure_tool(registered)]`). The tokens are impl items.
pub fn expand(
    attr: &syn::Attribute,
    args: TokenStream,
    item: &ImplItemFn,
    registered: syn::Attribute,
) -> Expanded {
    let mut errors = Errors::default();
    let args = ToolArgs::parse(args, &mut errors);
    let name = ToolName::new(&args, item);
    let handler = Handler::analyze(item, attr, &args, &name, &mut errors);
    let mut item = item.clone();
    let tokens = match (handler, errors.into_result()) {
        (Some(handler), Ok(())) => {
            let out = handler.expand();
            item.attrs.insert(0, registered);
            quote!(#item #out)
        }
        (_, Err(error)) => {
            // A second `#[secure_tool]` was reported as a duplicate: it must not expand on
            // its own.
            item.attrs.retain(|a| !is_attr(a, SECURE_TOOL));
            item.attrs.insert(0, registered);
            fallback(&item, error)
        }
        (None, Ok(())) => panic!(
            "secure-tool-macros: `{}` was refused without an error saying why",
            item.sig.ident
        ),
    };
    Expanded { tokens, name }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: TokenStream, item: TokenStream) -> String {
        let item: ImplItemFn = syn::parse2(item).unwrap();
        let registered: syn::Attribute = syn::parse_quote!(#[secure_tool(registered)]);
        expand(&registered, args, &item, registered.clone())
            .tokens
            .to_string()
    }

    #[test]
    fn expands_a_valid_handler() {
        let out = expand_str(
            quote!(authz = scopes("notes:read"), mode = read),
            quote! {
                /// Reads a note.
                async fn get_note(&self, args: GetNote) -> Result<Note, StoreError> { todo!() }
            },
        );
        assert!(out.contains("fn __secure_tool_route_get_note"), "{out}");
        assert!(out.contains("\"Reads a note.\""), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn reports_every_error_at_once() {
        let out = expand_str(
            quote!(mode = read),
            quote! {
                /// x
                unsafe fn f(&mut self) -> Result<(), String> { todo!() }
            },
        );
        for needle in [
            "requires `authz",
            "async fn",
            "unsafe fn",
            "&mut self",
            "`String`",
        ] {
            assert!(out.contains(needle), "missing {needle}: {out}");
        }
        // The fallback keeps the method and a stub route so nothing cascades.
        assert!(out.contains("fn __secure_tool_route_f"), "{out}");
    }

    #[test]
    fn a_write_tool_is_handed_the_calls_write_access_after_its_arguments() {
        for item in [
            quote! {
                /// Adds a note.
                async fn add(&self, args: NewNote, access: WriteAccess) -> Result<Note, E> { todo!() }
            },
            quote! {
                /// Adds a note.
                async fn add(&self, access: secure_tool::capability::WriteAccess) -> Result<Note, E> { todo!() }
            },
        ] {
            let out = expand_str(quote!(authz = authenticated, mode = write), item);
            assert!(!out.contains("compile_error"), "{out}");
            // The runtime makes the capability: the route is a write route, whose handler
            // is given the call's `WriteAccess` and passes it on last.
            assert!(out.contains(":: write ("), "{out}");
            assert!(!out.contains(":: read ("), "{out}");
            assert!(out.contains("WriteAccess < '__secure_tool_call >"), "{out}");
            assert!(out.contains("__secure_tool_capability)"), "{out}");
        }
    }

    #[test]
    fn a_read_tool_cannot_take_write_access() {
        let out = expand_str(
            quote!(authz = public, mode = read),
            quote! {
                /// Reads a note.
                async fn get(&self, args: NoteId, access: WriteAccess) -> Result<Note, E> { todo!() }
            },
        );
        assert!(
            out.contains("a `mode = read` tool cannot take `WriteAccess`"),
            "{out}"
        );
        assert!(!out.contains("Grant"), "{out}");
    }

    #[test]
    fn write_access_comes_last_and_by_value() {
        let misplaced = expand_str(
            quote!(authz = authenticated, mode = write),
            quote! {
                /// Adds a note.
                async fn add(&self, access: WriteAccess, args: NewNote) -> Result<Note, E> { todo!() }
            },
        );
        assert!(misplaced.contains("is the last parameter"), "{misplaced}");
        assert!(!misplaced.contains("one arguments struct"), "{misplaced}");
        let borrowed = expand_str(
            quote!(authz = authenticated, mode = write),
            quote! {
                /// Adds a note.
                async fn add(&self, access: &WriteAccess) -> Result<Note, E> { todo!() }
            },
        );
        assert!(borrowed.contains("by value"), "{borrowed}");
        assert!(!borrowed.contains("owned values"), "{borrowed}");
    }

    #[test]
    fn a_write_tool_open_to_anyone_says_why() {
        let item = || {
            quote! {
                /// Clears the notes.
                async fn clear(&self) -> Result<(), E> { todo!() }
            }
        };
        let refused = "lets anyone, anonymous callers included, change state";
        for authz in [
            quote!(public),
            quote!(public()),
            quote!(secure_tool::authz::public),
            quote!((public())),
            quote!(any_of([scopes("x"), public()])),
            quote!(any_of(vec![roles("a"), any_of([public])])),
        ] {
            let out = expand_str(quote!(authz = #authz, mode = write), item());
            assert!(out.contains(refused), "{authz}: {out}");
        }
        let out = expand_str(quote!(authz = public(reason = "x"), mode = write), item());
        assert!(out.contains("`public` takes no argument"), "{out}");
        let out = expand_str(quote!(authz = public_because(" "), mode = write), item());
        assert!(out.contains("a blank reason says nothing"), "{out}");
        for authz in [
            quote!(public_because("a sign-up form")),
            quote!(any_of([scopes("x"), public_because("a sign-up form")])),
            quote!(authenticated),
            quote!(open_policy()),
            quote!(publicly_listed),
        ] {
            let out = expand_str(quote!(authz = #authz, mode = write), item());
            assert!(!out.contains("compile_error"), "{authz}: {out}");
        }
        // A read tool's `public` stays as it is.
        let out = expand_str(quote!(authz = public, mode = read), item());
        assert!(!out.contains("compile_error"), "{out}");
    }
}

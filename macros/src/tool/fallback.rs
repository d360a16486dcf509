//! What is emitted instead of an expansion: the user's method as written, beside every
//! error, so that the rest of the user's crate does not cascade into errors of its own.
//! Two cases: a tool (or resource, or prompt) of a `#[secure_tool_router]` whose checks
//! failed, and a `#[secure_tool]` (or `#[secure_resource]`, `#[secure_prompt]`) that
//! expanded on its own, outside any secure router.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, ImplItemFn, ReturnType, Type};

use crate::attr::Kind;
use crate::symbol::*;

use super::expand::route_fn_ident;

/// When the input is wrong: the user's method as written (so the rest of the crate does not
/// cascade into errors), a route builder that never runs, and every error.
pub(super) fn fallback(kind: Kind, item: &ImplItemFn, error: syn::Error) -> TokenStream {
    let route_fn = route_fn_ident(kind, &item.sig.ident);
    let route = match kind {
        Kind::Tool => quote!(SecureRoute),
        Kind::Resource => quote!(ResourceRoute),
        Kind::Prompt => quote!(PromptRoute),
    };
    let did_not_compile = format!("`{}` did not compile", kind.attribute());
    let errors = error.to_compile_error();
    quote! {
        #errors
        #item
        #[doc(hidden)]
        #[allow(non_snake_case, dead_code, unreachable_code, clippy::all)]
        fn #route_fn() -> ::secure_tool::__private::#route<Self> {
            ::core::panic!(#did_not_compile)
        }
    }
}

/// `#[secure_tool]` (or `#[secure_resource]`, `#[secure_prompt]`, as `kind` says) expanded
/// on its own. After
/// `#[secure_tool_router]` expanded the handler, it left the attribute with [`REGISTERED`]
/// as its only argument (so that the user's import of the attribute is used): the method
/// is then returned as it is. Any other such attribute was outside a secure router, and
/// the tool or resource would be registered nowhere: an error at the attribute, with the
/// item kept as written so that nothing else cascades.
pub fn expand_standalone(kind: Kind, args: TokenStream, input: TokenStream) -> TokenStream {
    if args.to_string() == REGISTERED && !written_in_source(&args) {
        return input;
    }
    let attribute = kind.attribute();
    let noun = kind.noun();
    let message = match syn::parse2::<ImplItemFn>(input.clone()) {
        Ok(item) if rewritten_by_rmcp_tool(&item) => {
            // Everything else about the signature is rmcp's doing: say only what happened.
            let mut out = syn::Error::new(
                item.sig.fn_token.span(),
                format!(
                    "`#[tool]` is placed above `{attribute}`, so rmcp registered this handler \
                     without its guard: remove `#[tool]` and mark the impl block \
                     `#[secure_tool_router]` (it registers the {noun} itself)"
                ),
            )
            .to_compile_error();
            out.extend(input);
            return out;
        }
        _ => format!(
            "`{attribute}` takes effect only on a method of an impl block marked \
             `#[secure_tool_router]`, which registers the {noun}: add `#[secure_tool_router]` \
             above the server type's inherent `impl` block"
        ),
    };
    let mut out = syn::Error::new(Span::call_site(), message).to_compile_error();
    out.extend(input);
    out
}

/// Whether `args` come from the user's source: the router's marker never does (it is
/// made by the router, spanned at its own attribute), so a marker written by hand, which
/// would silence the attribute on a method no router registered, is not taken for it.
fn written_in_source(args: &TokenStream) -> bool {
    args.clone()
        .into_iter()
        .next()
        .is_some_and(|marker| marker.span().source_text().as_deref() == Some(REGISTERED))
}

/// rmcp's `#[tool]`, when it expands first, removes `async`, returns
/// `::std::pin::Pin<Box<dyn ::std::future::Future<Output = ..> + ..>>` and wraps the body
/// in `Box::pin(async move ..)`, all spanned at its own attribute rather than at the
/// user's source: recognise exactly that, to say what happened. Chooses a message only.
///
/// This happens only outside a secure router: in an rmcp `#[tool_router]` impl, with
/// `#[tool]` above `#[secure_tool]` (a `#[secure_tool_router]` expands its methods before
/// any `#[tool]` on them can, and refuses the `#[tool]`). There the generic message would
/// only ask for `#[secure_tool_router]`, and leave `#[tool]` and `#[tool_router]` for later
/// errors.
fn rewritten_by_rmcp_tool(item: &ImplItemFn) -> bool {
    let ReturnType::Type(_, ty) = &item.sig.output else {
        return false;
    };
    let Type::Path(path) = &**ty else {
        return false;
    };
    let pin = path.path.segments.last();
    let generated = pin.is_some_and(|pin| {
        pin.ident == PIN && pin.ident.span().source_text().as_deref() != Some(PIN)
    });
    let boxed_body = matches!(
        item.block.stmts.as_slice(),
        [syn::Stmt::Expr(Expr::Call(call), None)]
            if matches!(call.args.first(), Some(Expr::Async(_)))
    );
    item.sig.asyncness.is_none() && path.path.leading_colon.is_some() && generated && boxed_body
}

//! Syntactic recognisers of the types in a handler's signature: the write capability,
//! futures, rmcp's extractors and protocol types, and error types that are no error.
//! Syntax only: the types themselves are checked by the compiler, in the generated code.

use proc_macro2::{Span, TokenTree};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{GenericArgument, PathArguments, Type};

use crate::symbol::*;

/// Whether a type names `Future` (or a `BoxFuture` alias) anywhere.
pub(super) fn mentions_future(ty: &Type) -> bool {
    ty.to_token_stream().into_iter().any(|tt| {
        fn walk(tt: TokenTree) -> bool {
            match tt {
                TokenTree::Ident(i) => FUTURES.iter().any(|future| i == future),
                TokenTree::Group(g) => g.stream().into_iter().any(walk),
                _ => false,
            }
        }
        walk(tt)
    })
}

/// Whether `ty` asks for the write capability: a path whose last segment is `WriteAccess`
/// (`WriteAccess`, `capability::WriteAccess`, `secure_tool::WriteAccess`). Syntax only:
/// the types enforce (an alias is taken for the arguments and fails there, and a foreign
/// type of that name does not match what the generated code passes).
pub(super) fn is_write_access(ty: &Type) -> bool {
    is_call_type(ty, WRITE_ACCESS)
}

/// Whether `ty` asks for the call's context: a path whose last segment is `CallContext`
/// with no arguments or one lifetime (`CallContext<'_>`, `context::CallContext`). Syntax
/// only, like [`is_write_access`]: the generated code passes the runtime's type.
pub(super) fn is_call_context(ty: &Type) -> bool {
    is_call_type(ty, CALL_CONTEXT)
}

/// Whether `ty` is a path whose last segment is `name`, with no arguments or the call's
/// lifetime: how the runtime's per-call types are recognised.
fn is_call_type(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(p) => {
            p.qself.is_none()
                && p.path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == name && is_call_lifetime(&s.arguments))
        }
        Type::Paren(p) => is_call_type(&p.elem, name),
        Type::Group(g) => is_call_type(&g.elem, name),
        _ => false,
    }
}

/// `WriteAccess`'s arguments: none (rustc then asks for `<'_>`), or the call's lifetime.
pub(super) fn is_call_lifetime(arguments: &syn::PathArguments) -> bool {
    match arguments {
        syn::PathArguments::None => true,
        syn::PathArguments::AngleBracketed(angle) => {
            angle.args.len() == 1
                && matches!(angle.args.first(), Some(syn::GenericArgument::Lifetime(_)))
        }
        syn::PathArguments::Parenthesized(_) => false,
    }
}

/// Error types that carry raw text to the client: named so the message can say which.
pub(super) fn raw_text_error(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::Reference(r) => match &*r.elem {
            Type::Path(p) if p.path.is_ident(STR) => Some("`&str`"),
            _ => None,
        },
        Type::Path(p) => {
            let last = p.path.segments.last()?;
            match last.ident.to_string().as_str() {
                STRING => Some("`String`"),
                COW => Some("`Cow<str>`"),
                ERROR_DATA | MCP_ERROR => {
                    Some("rmcp's `ErrorData` (sent to the client verbatim as a JSON-RPC error)")
                }
                CALL_TOOL_RESULT | CONTENT | CONTENT_BLOCK => Some("an MCP result or content"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The first `impl Trait` inside a type.
pub(super) fn find_impl_trait(ty: &Type) -> Option<Span> {
    match ty {
        Type::ImplTrait(i) => Some(i.impl_token.span()),
        Type::Reference(r) => find_impl_trait(&r.elem),
        Type::Paren(p) => find_impl_trait(&p.elem),
        Type::Group(g) => find_impl_trait(&g.elem),
        Type::Slice(s) => find_impl_trait(&s.elem),
        Type::Array(a) => find_impl_trait(&a.elem),
        Type::Ptr(p) => find_impl_trait(&p.elem),
        Type::Tuple(t) => t.elems.iter().find_map(find_impl_trait),
        Type::Path(p) => p.path.segments.iter().find_map(|s| match &s.arguments {
            PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                GenericArgument::Type(t) => find_impl_trait(t),
                _ => None,
            }),
            _ => None,
        }),
        _ => None,
    }
}

/// Every type inside `ty`, `ty` first.
pub(super) fn each_type<'a>(ty: &'a Type, out: &mut Vec<&'a Type>) {
    out.push(ty);
    match ty {
        Type::Reference(r) => each_type(&r.elem, out),
        Type::Paren(p) => each_type(&p.elem, out),
        Type::Group(g) => each_type(&g.elem, out),
        Type::Slice(s) => each_type(&s.elem, out),
        Type::Array(a) => each_type(&a.elem, out),
        Type::Ptr(p) => each_type(&p.elem, out),
        Type::Tuple(t) => t.elems.iter().for_each(|e| each_type(e, out)),
        Type::Path(p) => {
            for segment in &p.path.segments {
                if let PathArguments::AngleBracketed(args) = &segment.arguments {
                    for arg in &args.args {
                        if let GenericArgument::Type(t) = arg {
                            each_type(t, out);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// Whether `WriteAccess` appears inside `ty` (`Option<WriteAccess>`, `Box<WriteAccess>`).
pub(super) fn mentions_write_access(ty: &Type) -> bool {
    let mut all = Vec::new();
    each_type(ty, &mut all);
    all.into_iter().any(is_write_access)
}

/// Whether `ty` holds a type named through rmcp's crate (`rmcp::model::CallToolResult`,
/// `secure_tool::rmcp::..`). Names imported first are caught by type, in the generated
/// code; this says it earlier, at the path.
pub(super) fn mentions_rmcp(ty: &Type) -> bool {
    let mut all = Vec::new();
    each_type(ty, &mut all);
    all.into_iter()
        .any(|t| matches!(t, Type::Path(p) if p.path.segments.iter().any(|s| s.ident == RMCP)))
}

/// rmcp's extractors, which a tool written for rmcp's `#[tool]` takes: named with their
/// generic arguments (`Parameters<T>`, `RequestContext<RoleServer>`), or through `rmcp::`.
pub(super) fn rmcp_extractor(ty: &Type) -> Option<String> {
    let Type::Path(p) = ty else {
        return None;
    };
    let last = p.path.segments.last()?;
    let name = last.ident.to_string();
    let generic = matches!(last.arguments, PathArguments::AngleBracketed(_));
    let through_rmcp = p.path.segments.iter().any(|s| s.ident == RMCP);
    let known = RMCP_EXTRACTORS.contains(&name.as_str());
    (through_rmcp || (known && generic)).then(|| if generic { format!("{name}<..>") } else { name })
}

/// `Json<T>`, rmcp's structured-output wrapper (a `Json<T>` of another crate is no tool
/// result either).
pub(super) fn is_json_wrapper(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| {
        s.ident == JSON && matches!(s.arguments, PathArguments::AngleBracketed(_))
    }))
}

/// `Box<dyn ..>`: an error type that is not itself an `Error`.
pub(super) fn is_boxed_dyn(ty: &Type) -> bool {
    let Type::Path(p) = ty else {
        return false;
    };
    p.path.segments.last().is_some_and(|s| {
        s.ident == BOX
            && matches!(&s.arguments, PathArguments::AngleBracketed(args)
                if matches!(args.args.first(), Some(GenericArgument::Type(Type::TraitObject(_)))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;
    use quote::quote;

    #[test]
    fn only_the_last_path_segment_is_recognised() {
        let ty = |tokens: TokenStream| syn::parse2::<Type>(tokens).unwrap();
        assert!(is_write_access(&ty(quote!(WriteAccess))));
        assert!(is_write_access(&ty(quote!(
            secure_tool::capability::WriteAccess
        ))));
        assert!(!is_write_access(&ty(quote!(WriteAccessArgs))));
        assert!(!is_write_access(&ty(quote!(WriteAccess<T>))));
        assert!(!is_write_access(&ty(quote!(&WriteAccess))));
    }
}

//! Validation of the attribute's expressions: `authz` (no `self`, no empty or blank
//! requirement, a reason for a write tool open to anyone), `breaker`, and the completers
//! `complete(..)` names.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Expr, Ident};

use crate::attr::Kind;
use crate::errors::Errors;
use crate::symbol::*;

pub(super) fn find_self(tokens: TokenStream) -> Option<Span> {
    tokens.into_iter().find_map(|tt| match tt {
        TokenTree::Ident(i) if i == SELF => Some(i.span()),
        TokenTree::Group(g) => find_self(g.stream()),
        _ => None,
    })
}

pub(super) fn check_authz(kind: Kind, expr: &Expr, errors: &mut Errors) {
    if let Some(span) = find_self(expr.to_token_stream()) {
        errors.push_at(
            span,
            "`authz` is evaluated once, when the router is built, and cannot use `self`: build the \
             policy from values available then (or implement `secure_tool::authz::Authorize`)",
        );
    }
    check_requirements(kind, expr, errors);
}

/// A requirement list written empty (`scopes([])`, `roles(vec![])`, `all_of([])`) or a
/// blank name (`scopes("")`) is a degenerate declaration: refused in words, wherever it
/// sits in the expression. Lists built at run time are the runtime's to refuse.
fn check_requirements(kind: Kind, expr: &Expr, errors: &mut Errors) {
    match expr {
        Expr::Call(call) => {
            let callee = match &*call.func {
                Expr::Path(p) => p.path.segments.last().map(|s| &s.ident),
                _ => None,
            };
            if let (Some(callee), [argument]) = (callee, &call.args.iter().collect::<Vec<_>>()[..])
            {
                match callee.to_string().as_str() {
                    SCOPES => check_name_list(kind, argument, "scope", errors),
                    ROLES => check_name_list(kind, argument, "role", errors),
                    ALL_OF | ANY_OF
                        if literal_list(argument).is_some_and(|items| items.is_empty()) =>
                    {
                        errors.push_at(
                            argument.span(),
                            format!(
                                "an empty `{callee}([])` names no policy, and would deny every \
                                 caller: name at least one policy"
                            ),
                        );
                    }
                    _ => {}
                }
            }
            for argument in &call.args {
                check_requirements(kind, argument, errors);
            }
        }
        Expr::Array(array) => array
            .elems
            .iter()
            .for_each(|e| check_requirements(kind, e, errors)),
        Expr::Paren(p) => check_requirements(kind, &p.expr, errors),
        Expr::Group(g) => check_requirements(kind, &g.expr, errors),
        Expr::Reference(r) => check_requirements(kind, &r.expr, errors),
        Expr::MethodCall(m) => {
            check_requirements(kind, &m.receiver, errors);
            m.args
                .iter()
                .for_each(|e| check_requirements(kind, e, errors));
        }
        Expr::Macro(_) => {
            if let Some(items) = literal_list(expr) {
                items
                    .iter()
                    .for_each(|e| check_requirements(kind, e, errors));
            }
        }
        _ => {}
    }
}

/// On a `mode = write` tool, a `public` that alone lets anonymous callers in (the whole
/// `authz`, or a part of an `any_of`, nested or not) must say why: `public_because("...")`,
/// with a reason that is not blank. Spanned at `public`, matched by name like the
/// requirement lists above, whatever the name resolves to (a reader of the attribute sees
/// `public`). What the tokens do not show (a policy built in a `fn` or a `static`, a
/// `public()` inside an `all_of`) is the runtime's to refuse when the route is built.
pub(super) fn check_public_write(expr: &Expr, errors: &mut Errors) {
    match expr {
        Expr::Path(path) if path.qself.is_none() => {
            if let Some(ident) = last_ident_named(&path.path, PUBLIC) {
                errors.push_at(ident.span(), PUBLIC_WRITE);
            }
        }
        Expr::Call(call) => {
            let Expr::Path(callee) = &*call.func else {
                return;
            };
            let arguments: Vec<&Expr> = call.args.iter().collect();
            if let Some(ident) = last_ident_named(&callee.path, PUBLIC) {
                match arguments[..] {
                    [] => errors.push_at(ident.span(), PUBLIC_WRITE),
                    // `public(reason = "...")`: the reason has a function of its own.
                    [Expr::Assign(assign)] if is_named(&assign.left, REASON) => errors.push_at(
                        ident.span(),
                        "`public` takes no argument: give a write tool's reason with \
                         `public_because(\"...\")`",
                    ),
                    _ => {}
                }
            } else if last_ident_named(&callee.path, PUBLIC_BECAUSE).is_some() {
                if let [
                    reason @ Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(text),
                        ..
                    }),
                ] = arguments[..]
                    && is_blank(&text.value())
                {
                    errors.push_at(
                        reason.span(),
                        "a blank reason says nothing: write why anyone, anonymous callers \
                         included, may change state through this tool, or require a scope",
                    );
                }
            } else if last_ident_named(&callee.path, ANY_OF).is_some()
                && let [parts] = arguments[..]
                && let Some(parts) = literal_list(parts)
            {
                parts
                    .iter()
                    .for_each(|part| check_public_write(part, errors));
            }
        }
        Expr::Paren(p) => check_public_write(&p.expr, errors),
        Expr::Group(g) => check_public_write(&g.expr, errors),
        _ => {}
    }
}

/// The error of a write tool's `public` that gives no reason.
const PUBLIC_WRITE: &str = "a `mode = write` tool with `authz = public` lets anyone, anonymous \
                            callers included, change state: write `authz = public_because(\"...\")` \
                            to say why, or require a scope";

/// The last segment of `path`, when it is `name`.
fn last_ident_named<'p>(path: &'p syn::Path, name: &str) -> Option<&'p Ident> {
    path.segments
        .last()
        .map(|segment| &segment.ident)
        .filter(|ident| *ident == name)
}

/// Whether `expr` is the bare name `name`.
fn is_named(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Path(p) if p.qself.is_none() && p.path.is_ident(name))
}

/// The elements of `[a, b]`, `&[a, b]`, `vec![a, b]`, or `Vec::new()` (none).
fn literal_list(expr: &Expr) -> Option<Vec<Expr>> {
    match expr {
        Expr::Array(array) => Some(array.elems.iter().cloned().collect()),
        Expr::Reference(r) => literal_list(&r.expr),
        Expr::Paren(p) => literal_list(&p.expr),
        Expr::Group(g) => literal_list(&g.expr),
        Expr::Macro(m) if m.mac.path.is_ident(VEC_MACRO) => m
            .mac
            .parse_body_with(syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated)
            .ok()
            .map(|items| items.into_iter().collect()),
        Expr::Call(call)
            if call.args.is_empty()
                && matches!(&*call.func, Expr::Path(p)
                    if p.path.segments.len() >= 2
                        && p.path.segments.last().is_some_and(|s| s.ident == NEW)
                        && p.path.segments[p.path.segments.len() - 2].ident == VEC) =>
        {
            Some(Vec::new())
        }
        _ => None,
    }
}

/// The argument of `scopes(..)` or `roles(..)`: a literal list that is not empty, of
/// names that are not blank, or one name that is not blank.
fn check_name_list(kind: Kind, argument: &Expr, what: &str, errors: &mut Errors) {
    let Some(items) = literal_list(argument) else {
        check_name(argument, what, errors);
        return;
    };
    if items.is_empty() {
        errors.push_at(
            argument.span(),
            format!(
                "an empty {what} list requires nothing: name at least one {what}, or use \
                 `authenticated` if every signed-in caller may {}",
                kind.action()
            ),
        );
    }
    for item in &items {
        check_name(item, what, errors);
    }
}

/// A scope or role name written blank (`""`, `"  "`).
fn check_name(expr: &Expr, what: &str, errors: &mut Errors) {
    if let Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Str(name),
        ..
    }) = expr
        && is_blank(&name.value())
    {
        errors.push_at(
            name.span(),
            format!("a blank {what} name is not a {what} anyone should hold: write the {what} the caller must have"),
        );
    }
}

/// `breaker = ...` must name a dependency that outlives the call; catch the usual mistakes
/// here, where the message can say why (the compiler would only talk about a temporary).
pub(super) fn check_breaker(expr: &Expr, errors: &mut Errors) {
    const WHERE: &str = "name the `Dependency` (or `CircuitBreaker`) that lives as long as the server, \
                         like `breaker = self.store` (a field of the server's state) or a `static`";
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(_),
            ..
        }) => errors.push_at(
            expr.span(),
            format!("`breaker` takes the dependency itself, not its name: {WHERE}"),
        ),
        Expr::Call(call)
            if matches!(&*call.func, Expr::Path(p)
                if p.path.segments.last().is_some_and(|s| s.ident == NEW || s.ident == WITH_BREAKER)) =>
        {
            errors.push_at(
                expr.span(),
                format!(
                    "a breaker built here would be a new one for every call and never open: {WHERE}"
                ),
            );
        }
        Expr::MethodCall(call) if call.method == BUILD => errors.push_at(
            expr.span(),
            format!(
                "a breaker built here would be a new one for every call and never open: {WHERE}"
            ),
        ),
        _ => {}
    }
}

/// The method a `complete(..)` entry names: `Self::note_ids` (the one form: a completer is
/// a method of the impl block, called through a hidden method beside it). `None`, with the
/// error at the value, for any other expression.
pub(super) fn completer_method<'e>(
    completed: &str,
    name: &str,
    expr: &'e Expr,
    errors: &mut Errors,
) -> Option<&'e Ident> {
    let method = match expr {
        Expr::Path(path) if path.qself.is_none() && path.path.leading_colon.is_none() => {
            match path.path.segments.iter().collect::<Vec<_>>()[..] {
                [ty, method]
                    if ty.ident == SELF_TYPE
                        && ty.arguments.is_none()
                        && method.arguments.is_none() =>
                {
                    Some(&method.ident)
                }
                _ => None,
            }
        }
        _ => None,
    };
    if method.is_none() {
        errors.push_spanned(
            expr,
            format!(
                "`complete` maps each {completed} to a completer method of this impl block, by \
                 path: write `{name} = Self::completer`, naming an {}",
                super::signature::completer_form("completer")
            ),
        );
    }
    method
}

/// Whether `text` says nothing: empty, or only whitespace, control characters and
/// characters that show nothing (Unicode's default-ignorable code points: zero-width
/// spaces and joiners, bidirectional controls, variation selectors, fillers, tags; and
/// the blank braille pattern), as the runtime reads a reason.
pub(crate) fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '\u{00AD}'
                    | '\u{034F}'
                    | '\u{061C}'
                    | '\u{115F}'..='\u{1160}'
                    | '\u{17B4}'..='\u{17B5}'
                    | '\u{180B}'..='\u{180F}'
                    | '\u{200B}'..='\u{200F}'
                    | '\u{202A}'..='\u{202E}'
                    | '\u{2060}'..='\u{206F}'
                    | '\u{2800}'
                    | '\u{3164}'
                    | '\u{FE00}'..='\u{FE0F}'
                    | '\u{FEFF}'
                    | '\u{FFA0}'
                    | '\u{FFF0}'..='\u{FFF8}'
                    | '\u{1BCA0}'..='\u{1BCA3}'
                    | '\u{1D173}'..='\u{1D17A}'
                    | '\u{E0000}'..='\u{E0FFF}'
            )
    })
}

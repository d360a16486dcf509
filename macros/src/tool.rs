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

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{Expr, ImplItemFn, LitStr, Type};

use crate::attr::{Errors, Mode, ToolArgs, is_attr};
use crate::symbol::*;

mod expand;
mod requirements;
mod signature;

use expand::fallback;
pub use expand::route_fn_ident;
use requirements::*;
use signature::*;

/// `#[secure_tool]` expanded on its own. After `#[secure_tool_router]` expanded the tool,
/// it left the attribute with [`REGISTERED`] as its only argument (so that the user's
/// import of the attribute is used): the method is then returned as it is. Any other
/// `#[secure_tool]` was outside a secure router, and the tool would be registered
/// nowhere: an error at the attribute, with the item kept as written so that nothing else
/// cascades.
pub fn expand_standalone(args: TokenStream, input: TokenStream) -> TokenStream {
    if args.to_string() == REGISTERED {
        return input;
    }
    let message = match syn::parse2::<ImplItemFn>(input.clone()) {
        Ok(item) if rewritten_by_rmcp_tool(&item) => {
            // Everything else about the signature is rmcp's doing: say only what happened.
            let mut out = syn::Error::new(
                item.sig.fn_token.span(),
                "`#[tool]` is placed above `#[secure_tool]`, so rmcp registered this handler \
                 without its guard: remove `#[tool]` and mark the impl block \
                 `#[secure_tool_router]` (it registers the tool itself)",
            )
            .to_compile_error();
            out.extend(input);
            return out;
        }
        _ => {
            "`#[secure_tool]` takes effect only on a method of an impl block marked \
             `#[secure_tool_router]`, which registers the tool: add `#[secure_tool_router]` \
             above the server type's inherent `impl` block"
        }
    };
    let mut out = syn::Error::new(Span::call_site(), message).to_compile_error();
    out.extend(input);
    out
}

/// `#[secure_tool(args)]` on `item`, a method of a `#[secure_tool_router]` impl block: the
/// router has taken the attribute off, and calls this with the attribute to leave on the
/// method in its place (`#[secure_tool(registered)]`). Returns impl items.
pub fn expand(
    attr: &syn::Attribute,
    args: TokenStream,
    item: &ImplItemFn,
    registered: syn::Attribute,
) -> TokenStream {
    let mut errors = Errors::default();
    let args = ToolArgs::parse(args, &mut errors);
    let mut item = item.clone();
    match Handler::analyze(&item, attr, &args, &mut errors) {
        Some(handler) if errors.is_empty() => {
            let out = handler.expand();
            item.attrs.insert(0, registered);
            quote!(#item #out)
        }
        _ => {
            // A second `#[secure_tool]` was reported as a duplicate: it must not expand on
            // its own.
            item.attrs.retain(|a| !is_attr(a, SECURE_TOOL));
            item.attrs.insert(0, registered);
            fallback(&item, errors)
        }
    }
}

/// The handler as the expansion needs it, with references to the user's tokens for spans.
struct Handler<'a> {
    item: &'a ImplItemFn,
    tool_name: String,
    mode: Mode,
    authz: &'a Expr,
    arguments: Option<&'a Type>,
    /// The type of the last parameter when it is the `WriteAccess` capability.
    capability: Option<&'a Type>,
    ok: &'a Type,
    error: &'a Type,
    description: String,
    title: Option<&'a LitStr>,
    timeout: Option<Timeout<'a>>,
    /// `argument_limits = <expression of type ArgumentLimits>`.
    argument_limits: Option<&'a Expr>,
    breaker: Option<&'a Expr>,
}

/// `timeout = "5s"` (checked here) or `timeout = <expression of type Duration>`.
enum Timeout<'a> {
    Literal { nanos: u64, span: Span },
    Expr(&'a Expr),
}

impl<'a> Timeout<'a> {
    fn parse(expr: &'a Expr, errors: &mut Errors) -> Option<Self> {
        const FORMS: &str = "write it with its unit, like `timeout = \"500ms\"`, `\"5s\"`, `\"2m\"`, \
                             or give a `std::time::Duration`";
        match expr {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            }) => match parse_duration(&lit.value()) {
                Ok(nanos) => Some(Timeout::Literal {
                    nanos,
                    span: lit.span(),
                }),
                Err(problem) => {
                    errors.push_at(lit.span(), format!("invalid `timeout`: {problem}; {FORMS}"));
                    None
                }
            },
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(_) | syn::Lit::Float(_),
                ..
            }) => {
                errors.push_at(expr.span(), format!("`timeout` needs a unit: {FORMS}"));
                None
            }
            _ => match find_self(expr.to_token_stream()) {
                Some(span) => {
                    errors.push_at(
                        span,
                        "`timeout` is read once, when the router is built, and cannot use `self`: \
                         use a literal like `\"5s\"` or a constant `Duration`",
                    );
                    None
                }
                None => Some(Timeout::Expr(expr)),
            },
        }
    }
}

/// `"250ms"`, `"5s"`, `"2m"`, `"1h"` → nanoseconds, more than zero.
fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(format!("`{text}` does not start with a whole number"));
    }
    let unit_nanos: u64 = match unit.trim() {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => return Err(format!("`{text}` has no unit")),
        other => {
            return Err(format!(
                "unknown unit `{other}` (use `ms`, `s`, `m` or `h`)"
            ));
        }
    };
    let nanos = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_nanos))
        .ok_or_else(|| format!("`{text}` is too long a deadline"))?;
    if nanos == 0 {
        return Err("a zero deadline would time out every call".to_owned());
    }
    Ok(nanos)
}

impl<'a> Handler<'a> {
    /// Builds the IR, checking everything; `None` or errors in `errors` when it is wrong.
    fn analyze(
        item: &'a ImplItemFn,
        attr: &syn::Attribute,
        args: &'a ToolArgs,
        errors: &mut Errors,
    ) -> Option<Self> {
        check_attributes(item, errors);
        let returns_future = returns_a_future(item, errors);
        check_signature(item, returns_future, errors);
        let inputs = check_inputs(item, errors);
        let output = if returns_future {
            None
        } else {
            check_output(item, errors)
        };

        let authz = args.authz.get();
        match authz {
            None if args.mentioned(AUTHZ) => {}
            None => errors.push_spanned(
                attr,
                "`#[secure_tool]` requires `authz = ...`: the policy that decides who may call this tool \
                 (for example `authz = scopes(\"notes:read\")`, or `authz = public` to let anyone in)",
            ),
            Some(expr) => check_authz(expr, errors),
        }
        let mode = args.mode.get().copied();
        if let (Some(expr), Some(Mode::Write)) = (authz, mode) {
            check_public_write(expr, errors);
        }
        if mode.is_none() && !args.mentioned(MODE) {
            errors.push_spanned(
                attr,
                "`#[secure_tool]` requires `mode = read` or `mode = write`: a write tool taken for a read \
                 tool escapes the degradation gate and is advertised as read-only",
            );
        }
        if mode == Some(Mode::Read)
            && let Some(Inputs {
                capability: Some(capability),
                ..
            }) = &inputs
        {
            errors.push_at(
                capability.span(),
                "a `mode = read` tool cannot take `WriteAccess`: declare `mode = write` if this tool \
                 changes state (it is then also behind the read-only degradation gate and advertised \
                 as destructive), or read through methods that need no capability",
            );
        }
        let timeout = args
            .timeout
            .get()
            .and_then(|expr| Timeout::parse(expr, errors));
        let argument_limits = args.argument_limits.get().filter(|expr| {
            let uses_self = find_self(expr.to_token_stream());
            if let Some(span) = uses_self {
                errors.push_at(
                    span,
                    "`argument_limits` is read once, when the router is built, and cannot use \
                     `self`: use an expression like `ArgumentLimits::default().with_max_bytes(..)` \
                     or a constant",
                );
            }
            uses_self.is_none()
        });
        let breaker = args.breaker.get();
        if let Some(expr) = breaker {
            check_breaker(expr, errors);
        }

        let tool_name = match args.name.get() {
            Some(lit) => {
                let name = lit.value();
                check_tool_name(&name, lit.span(), errors);
                name
            }
            None => item
                .sig
                .ident
                .to_string()
                .trim_start_matches("r#")
                .to_owned(),
        };
        let description = match args.description.get() {
            Some(lit) => lit.value(),
            None => doc_comment(item),
        };
        if description.trim().is_empty() {
            errors.push_at(
                item.sig.ident.span(),
                "a `#[secure_tool]` needs a description: add a doc comment (`/// ...`) or \
                 `description = \"...\"`; the model chooses tools by their description",
            );
        }

        let (ok, error) = output?;
        let inputs = inputs?;
        Some(Handler {
            item,
            tool_name,
            mode: mode?,
            authz: authz?,
            arguments: inputs.arguments,
            capability: inputs.capability,
            ok,
            error,
            description,
            title: args.title.get(),
            timeout,
            argument_limits,
            breaker,
        })
    }
}

/// The doc comment of the method, lines joined, common indentation removed.
fn doc_comment(item: &ImplItemFn) -> String {
    let lines: Vec<String> = item
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        // `split`, not `lines`: an empty `///` line is an empty string, and a paragraph break.
        .flat_map(|s| {
            s.split('\n')
                .map(|l| l.trim_end_matches('\r').to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: TokenStream, item: TokenStream) -> String {
        let item: ImplItemFn = syn::parse2(item).unwrap();
        let registered: syn::Attribute = syn::parse_quote!(#[secure_tool(registered)]);
        expand(&registered, args, &item, registered.clone()).to_string()
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

    #[test]
    fn doc_comments_become_the_description() {
        let item: ImplItemFn = syn::parse2(quote! {
            /// First line.
            ///
            ///   Indented.
            async fn f(&self) -> Result<(), E> {}
        })
        .unwrap();
        assert_eq!(doc_comment(&item), "First line.\n\n  Indented.");
    }
}

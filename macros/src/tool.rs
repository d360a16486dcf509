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

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    Expr, FnArg, GenericArgument, Ident, ImplItemFn, LitStr, PathArguments, ReceiverKind,
    ReturnType, Safety, Type,
};

use crate::attr::{Errors, Mode, ToolArgs, attr_name_span, is_attr};
use crate::symbol::*;

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
            breaker,
        })
    }

    fn expand(&self) -> TokenStream {
        let item = self.item;
        let method = &item.sig.ident;
        let route_fn = route_fn_ident(method);
        let name = &self.tool_name;
        let description = &self.description;
        let mode = match self.mode {
            Mode::Read => quote!(Read),
            Mode::Write => quote!(Write),
        };
        let title = self
            .title
            .map(|t| quote!(.with_title(#t)))
            .unwrap_or_default();

        // The expression resolves as the user wrote it, in the user's scope: no name is
        // brought into scope for it (`public`, `scopes`... come from `secure_tool::prelude`
        // or the user's own imports, and the user's own items shadow them as usual).
        // A path written without a call (`authz = public`, `authz = ON_CALL`) names either
        // a function that returns the policy (called) or the policy itself, told apart by
        // type.
        let authz = self.authz;
        let policy = match authz {
            Expr::Path(_) => quote_spanned! {authz.span()=>
                ::secure_tool::__private::into_policy({
                    #[allow(unused_imports)]
                    use ::secure_tool::__private::{PolicyFunction as _, PolicyValue as _};
                    (&mut ::secure_tool::__private::NamedPolicy::new(#authz)).policy()
                })
            },
            _ => quote_spanned!(authz.span()=> ::secure_tool::__private::into_policy(#authz)),
        };

        let ok = self.ok;
        let error = self.error;
        // The types are named in the turbofish with the user's spans: a type that cannot be
        // a tool's arguments, result or error is reported at the user's type, once.
        // The handler as its route calls it: a hidden method of the same impl block, taking
        // the call's capability (`()` for a read tool, the `WriteAccess` the runtime makes
        // for a write tool's call once it is authorized and past the write gate) and
        // passing it on only when the user's method asks for it. The route is built by the
        // runtime around it: nothing here can skip the guard or make a capability.
        let handler_fn = handler_fn_ident(method);
        let arguments = match self.arguments {
            Some(ty) => ty.to_token_stream(),
            None => quote!(::secure_tool::__private::NoArguments),
        };
        let capability_ty = match self.mode {
            Mode::Read => quote!(()),
            Mode::Write => quote!(::secure_tool::__private::WriteAccess<'__secure_tool_call>),
        };
        let pass = match (self.arguments.is_some(), self.capability.is_some()) {
            (true, false) => quote!(self.#method(__secure_tool_args)),
            (true, true) => quote!(self.#method(__secure_tool_args, __secure_tool_capability)),
            (false, false) => quote!(self.#method()),
            (false, true) => quote!(self.#method(__secure_tool_capability)),
        };
        let constructor = match self.mode {
            Mode::Read => quote!(read),
            Mode::Write => quote!(write),
        };
        let output = match &item.sig.output {
            ReturnType::Type(_, ty) => ty.to_token_stream(),
            ReturnType::Default => quote!(()),
        };
        let handler = quote! {
            #[doc(hidden)]
            #[allow(non_snake_case, unused_variables, clippy::all, clippy::pedantic)]
            fn #handler_fn<'__secure_tool_call>(
                &'__secure_tool_call self,
                __secure_tool_args: #arguments,
                __secure_tool_capability: #capability_ty,
            ) -> impl ::core::future::Future<Output = #output> + ::core::marker::Send + '__secure_tool_call {
                #pass
            }
        };

        let check_arguments = match self.arguments {
            Some(ty) => quote_spanned!(ty.span()=> ::secure_tool::__private::arguments::<#ty>()),
            None => quote!(::secure_tool::__private::arguments::<#arguments>()),
        };
        let check_ok = quote_spanned!(ok.span()=> ::secure_tool::__private::output::<#ok>());
        // rmcp's own types are `Serialize + JsonSchema` too: refused by type, so that an
        // alias or a container of one is caught as well.
        let own_result = quote_spanned! {ok.span()=>
            {
                #[allow(unused_imports)]
                use ::secure_tool::__private::{ProbeOwn as _, ProbeProtocol as _};
                ::secure_tool::__private::own_result(
                    (&::secure_tool::__private::Probe::<#ok>::new()).answer(),
                );
            }
        };
        let own_arguments = self.arguments.map(|ty| {
            quote_spanned! {ty.span()=>
                {
                    #[allow(unused_imports)]
                use ::secure_tool::__private::{ProbeOwn as _, ProbeProtocol as _};
                    ::secure_tool::__private::own_arguments(
                        (&::secure_tool::__private::Probe::<#ty>::new()).answer(),
                    );
                }
            }
        });
        let check_error =
            quote_spanned!(error.span()=> ::secure_tool::__private::error::<#error>());

        let timeout = match &self.timeout {
            None => TokenStream::new(),
            Some(Timeout::Literal { nanos, span }) => quote_spanned! {*span=>
                .with_timeout(::core::time::Duration::from_nanos(#nanos))
            },
            Some(Timeout::Expr(expr)) => quote_spanned! {expr.span()=>
                .with_timeout(::secure_tool::__private::timeout(#expr))
            },
        };
        let (dependency_fn, with_dependency) = match self.breaker {
            None => (TokenStream::new(), TokenStream::new()),
            Some(expr) => {
                let dependency_fn = dependency_fn_ident(method);
                // The user's expression is the body of a `&self` method, so it may name the
                // server's state (`self.store`) or a `static`. A type that is not a breaker is
                // reported at the expression.
                let guards = if is_place(expr) {
                    quote_spanned!(expr.span()=> ::secure_tool::__private::guards(&(#expr)))
                } else {
                    // A call, a reference...: it must give a reference to a breaker that
                    // outlives the call, and an owned one is refused by type, with words.
                    quote_spanned!(expr.span()=> ::secure_tool::__private::borrowed_guards(::secure_tool::__private::BreakerRef(#expr)))
                };
                (
                    quote! {
                        #[doc(hidden)]
                        #[allow(non_snake_case, clippy::all, clippy::pedantic)]
                        fn #dependency_fn(&self) -> ::secure_tool::__private::Guards<'_> {
                            #guards
                        }
                    },
                    quote!(.with_dependency(Self::#dependency_fn)),
                )
            }
        };

        quote! {
            #[doc(hidden)]
            #[allow(non_snake_case, clippy::all, clippy::pedantic)]
            fn #route_fn() -> ::secure_tool::__private::SecureRoute<Self> {
                #own_result
                #own_arguments
                let __secure_tool_types = ::secure_tool::__private::ToolTypes::new(
                    #check_arguments,
                    #check_ok,
                    #check_error,
                );
                ::secure_tool::__private::SecureRoute::<Self>::#constructor(
                    ::secure_tool::__private::ToolSpec::new(
                        #name,
                        ::secure_tool::__private::Mode::#mode,
                        #policy,
                    )
                    .with_description(#description)
                    #title
                    #timeout,
                    __secure_tool_types,
                    Self::#handler_fn,
                )
                #with_dependency
            }

            #handler
            #dependency_fn
        }
    }
}

/// A place expression (`self.store`, `STORE`, `*self.store`, `self.deps[0]`): borrowed
/// where it lives.
fn is_place(expr: &Expr) -> bool {
    match expr {
        Expr::Path(_) => true,
        Expr::Field(f) => is_place(&f.base),
        Expr::Index(i) => is_place(&i.expr),
        Expr::Paren(p) => is_place(&p.expr),
        Expr::Group(g) => is_place(&g.expr),
        Expr::Unary(u) => matches!(u.op, syn::UnOp::Deref(_)) && is_place(&u.expr),
        _ => false,
    }
}

/// The name of the hidden route builder of `method`.
pub fn route_fn_ident(method: &Ident) -> Ident {
    let name = method.to_string();
    format_ident!(
        "{}{}",
        ROUTE_FN_PREFIX,
        name.trim_start_matches("r#"),
        span = method.span()
    )
}

/// The name of the hidden method that finds `method`'s dependency.
fn handler_fn_ident(method: &Ident) -> Ident {
    let name = method.to_string();
    format_ident!(
        "{}{}",
        HANDLER_FN_PREFIX,
        name.trim_start_matches("r#"),
        span = method.span()
    )
}

fn dependency_fn_ident(method: &Ident) -> Ident {
    let name = method.to_string();
    format_ident!(
        "{}{}",
        DEPENDENCY_FN_PREFIX,
        name.trim_start_matches("r#"),
        span = method.span()
    )
}

/// When the input is wrong: the user's method as written (so the rest of the crate does not
/// cascade into errors), a route builder that never runs, and every error.
fn fallback(item: &ImplItemFn, errors: Errors) -> TokenStream {
    let route_fn = route_fn_ident(&item.sig.ident);
    let errors = errors
        .into_result()
        .err()
        .map(|e| e.to_compile_error())
        .unwrap_or_default();
    quote! {
        #errors
        #item
        #[doc(hidden)]
        #[allow(non_snake_case, dead_code, unreachable_code, clippy::all)]
        fn #route_fn() -> ::secure_tool::__private::SecureRoute<Self> {
            ::core::panic!("`#[secure_tool]` did not compile")
        }
    }
}

fn check_attributes(item: &ImplItemFn, errors: &mut Errors) {
    for attr in &item.attrs {
        if is_attr(attr, RMCP_TOOL) {
            errors.push_at(
                attr_name_span(attr),
                "remove `#[tool]`: `#[secure_tool]` registers the tool itself, and rmcp's `#[tool]` \
                 would serve this handler without its guard",
            );
        } else if is_attr(attr, SECURE_TOOL) {
            errors.push_at(
                attr_name_span(attr),
                "duplicate `#[secure_tool]`: one tool, one attribute",
            );
        }
    }
}

fn check_signature(item: &ImplItemFn, returns_future: bool, errors: &mut Errors) {
    let sig = &item.sig;
    if sig.asyncness.is_none() && !returns_future {
        errors.push_at(
            sig.fn_token.span(),
            "`#[secure_tool]` handlers must be `async fn`: add `async` (run blocking work inside \
             with `tokio::task::spawn_blocking`)",
        );
    }
    if let Some(constness) = &sig.constness {
        errors.push_at(
            constness.span(),
            "`#[secure_tool]` handlers cannot be `const fn`",
        );
    }
    if let Safety::Unsafe(unsafe_token) = &sig.safety {
        errors.push_at(
            unsafe_token.span(),
            "`#[secure_tool]` handlers cannot be `unsafe fn`: a tool is called with untrusted input \
             and no caller can uphold its safety contract; keep `unsafe` blocks inside a safe fn",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.push_at(
            abi.span(),
            "`#[secure_tool]` handlers cannot be `extern`: remove the ABI",
        );
    }
    if !sig.generics.params.is_empty() {
        errors.push_at(
            sig.generics.params.span(),
            "`#[secure_tool]` handlers cannot be generic: a tool has one concrete argument type (its \
             input schema) and one result type",
        );
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.push_at(
            where_clause.span(),
            "`#[secure_tool]` handlers cannot have a `where` clause",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.push_at(
            variadic.dots.span(),
            "`#[secure_tool]` handlers cannot be variadic",
        );
    }
}

/// rmcp's `#[tool]`, when it expands first, removes `async`, returns
/// `::std::pin::Pin<Box<dyn ::std::future::Future<Output = ..> + ..>>` and wraps the body
/// in `Box::pin(async move ..)`, all spanned at its own attribute rather than at the
/// user's source: recognise exactly that, to say what happened. Chooses a message only.
fn rewritten_by_rmcp_tool(item: &ImplItemFn) -> bool {
    let ReturnType::Type(_, ty) = &item.sig.output else {
        return false;
    };
    let Type::Path(path) = &**ty else {
        return false;
    };
    let pin = path.path.segments.last();
    let generated = pin.is_some_and(|pin| {
        pin.ident == "Pin" && pin.ident.span().source_text().as_deref() != Some("Pin")
    });
    let boxed_body = matches!(
        item.block.stmts.as_slice(),
        [syn::Stmt::Expr(Expr::Call(call), None)]
            if matches!(call.args.first(), Some(Expr::Async(_)))
    );
    item.sig.asyncness.is_none() && path.path.leading_colon.is_some() && generated && boxed_body
}

/// A handler written as a plain `fn` returning a future (`Pin<Box<dyn Future<..>>>`,
/// `impl Future<..>`, `BoxFuture<..>`): one error at its return type.
fn returns_a_future(item: &ImplItemFn, errors: &mut Errors) -> bool {
    let ReturnType::Type(_, ty) = &item.sig.output else {
        return false;
    };
    if item.sig.asyncness.is_some() || !mentions_future(ty) {
        return false;
    }
    errors.push_spanned(
        ty,
        "`#[secure_tool]` handlers are `async fn` returning `Result<T, E>` itself, not a future: \
         write `async fn name(&self, ..) -> Result<T, E>` (the guard boxes the future)",
    );
    true
}

/// Whether a type names `Future` (or a `BoxFuture` alias) anywhere.
fn mentions_future(ty: &Type) -> bool {
    ty.to_token_stream().into_iter().any(|tt| {
        fn walk(tt: TokenTree) -> bool {
            match tt {
                TokenTree::Ident(i) => i == "Future" || i == "BoxFuture" || i == "LocalBoxFuture",
                TokenTree::Group(g) => g.stream().into_iter().any(walk),
                _ => false,
            }
        }
        walk(tt)
    })
}

/// What a handler takes besides `&self`.
struct Inputs<'a> {
    /// The arguments struct, if any.
    arguments: Option<&'a Type>,
    /// The `WriteAccess` capability, if the last parameter asks for it.
    capability: Option<&'a Type>,
}

/// Whether `ty` asks for the write capability: a path whose last segment is `WriteAccess`
/// (`WriteAccess`, `capability::WriteAccess`, `secure_tool::WriteAccess`). Syntax only:
/// the types enforce (an alias is taken for the arguments and fails there, and a foreign
/// type of that name does not match what the generated code passes).
fn is_write_access(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => {
            p.qself.is_none()
                && p.path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == WRITE_ACCESS && is_call_lifetime(&s.arguments))
        }
        Type::Paren(p) => is_write_access(&p.elem),
        Type::Group(g) => is_write_access(&g.elem),
        _ => false,
    }
}

/// `WriteAccess`'s arguments: none (rustc then asks for `<'_>`), or the call's lifetime.
fn is_call_lifetime(arguments: &syn::PathArguments) -> bool {
    match arguments {
        syn::PathArguments::None => true,
        syn::PathArguments::AngleBracketed(angle) => {
            angle.args.len() == 1
                && matches!(angle.args.first(), Some(syn::GenericArgument::Lifetime(_)))
        }
        syn::PathArguments::Parenthesized(_) => false,
    }
}

/// Checks `&self`, at most one arguments struct and an optional last `WriteAccess`.
fn check_inputs<'a>(item: &'a ImplItemFn, errors: &mut Errors) -> Option<Inputs<'a>> {
    let sig = &item.sig;
    let mut ok = true;
    match sig.receiver() {
        None => {
            errors.push_at(
                sig.ident.span(),
                "`#[secure_tool]` handlers are methods taking `&self`: add `&self` as the first argument",
            );
            ok = false;
        }
        Some(receiver) => match &receiver.kind {
            ReceiverKind::Reference(_, _, Some(mutability)) => {
                errors.push_at(
                    mutability.span(),
                    "`#[secure_tool]` handlers take `&self`, not `&mut self`: calls run concurrently; \
                     keep mutable state behind a `Mutex`, an atomic or a connection pool",
                );
                ok = false;
            }
            ReceiverKind::Reference(_, _, None) => {}
            ReceiverKind::Value | ReceiverKind::Typed(..) => {
                errors.push_at(receiver.span(), "`#[secure_tool]` handlers take `&self`");
                ok = false;
            }
            #[allow(unreachable_patterns)]
            _ => {
                errors.push_at(receiver.span(), "`#[secure_tool]` handlers take `&self`");
                ok = false;
            }
        },
    }
    let mut typed: Vec<_> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(t) => Some(t),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let capability = match typed.last().copied() {
        Some(last) if is_write_access(&last.ty) => {
            typed.pop();
            Some(&*last.ty)
        }
        _ => None,
    };
    // A capability anywhere else is a mistake of order or of borrowing: say so, and leave it
    // out of the arguments checks below.
    typed.retain(|arg| {
        let borrowed = matches!(&*arg.ty, Type::Reference(r) if is_write_access(&r.elem));
        if let Some(span) = find_impl_trait(&arg.ty) {
            errors.push_at(
                span,
                "a tool's arguments are one concrete struct, not `impl Trait`: name a struct that \
                 derives `serde::Deserialize` and `schemars::JsonSchema` (it is the tool's input schema)",
            );
        } else if let Some(name) = rmcp_extractor(&arg.ty) {
            errors.push_spanned(
                &arg.ty,
                format!(
                    "a `#[secure_tool]` handler cannot take rmcp's `{name}`: the caller is authorized \
                     by the `authz` policy before the handler runs and the server's state is on `&self`, \
                     so take only your arguments struct (`args: MyArgs`)"
                ),
            );
        } else if borrowed {
            errors.push_at(
                arg.ty.span(),
                "take `WriteAccess` by value (`access: WriteAccess`) as the last parameter: the call \
                 owns it; lend `&access` to the store's write methods",
            );
        } else if is_write_access(&arg.ty) {
            errors.push_at(
                arg.ty.span(),
                "`WriteAccess` is the last parameter of a handler, after the arguments struct: \
                 `(&self, args: MyArgs, access: WriteAccess)`",
            );
        } else if mentions_write_access(&arg.ty) {
            errors.push_spanned(
                &arg.ty,
                "a write tool takes `WriteAccess` itself, by value, as its last parameter \
                 (`access: WriteAccess`): it is granted on every call that passed the write gate, \
                 so it is never optional, boxed or shared",
            );
        } else {
            return true;
        }
        ok = false;
        false
    });
    for extra in typed.iter().skip(1) {
        errors.push_at(
            extra.span(),
            "`#[secure_tool]` handlers take one arguments struct besides `&self` (and, last, an \
             optional `WriteAccess`): put every field into it (it becomes the tool's input schema)",
        );
        ok = false;
    }
    let arguments = typed.first().map(|t| &*t.ty);
    if let Some(Type::Reference(r)) = arguments {
        errors.push_at(
            r.and_token.span(),
            "tool arguments are owned values: take the arguments struct by value",
        );
        ok = false;
    }
    ok.then_some(Inputs {
        arguments,
        capability,
    })
}

/// Checks `-> Result<T, E>`; returns `(T, E)`.
fn check_output<'a>(item: &'a ImplItemFn, errors: &mut Errors) -> Option<(&'a Type, &'a Type)> {
    const MESSAGE: &str = "`#[secure_tool]` handlers return `Result<T, E>`: `T` is the tool's \
                           result, `E` an error whose text is logged, never shown to the caller";
    let ReturnType::Type(_, ty) = &item.sig.output else {
        errors.push_at(item.sig.ident.span(), MESSAGE);
        return None;
    };
    let pair = match &**ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().and_then(|seg| {
            if seg.ident != "Result" {
                return None;
            }
            let PathArguments::AngleBracketed(args) = &seg.arguments else {
                return None;
            };
            let types: Vec<&Type> = args
                .args
                .iter()
                .filter_map(|a| match a {
                    GenericArgument::Type(t) => Some(t),
                    _ => None,
                })
                .collect();
            match types[..] {
                [ok, err] => Some((ok, err)),
                _ => None,
            }
        }),
        _ => None,
    };
    let Some((ok, err)) = pair else {
        errors.push_at(ty.span(), MESSAGE);
        return None;
    };
    let mut ok_valid = true;
    if let Some(span) = find_impl_trait(ok) {
        errors.push_at(
            span,
            "a tool's result type must be named, not `impl Trait`: return a type that derives \
             `serde::Serialize` and `schemars::JsonSchema` (it is the tool's output schema)",
        );
        ok_valid = false;
    } else if is_json_wrapper(ok) {
        errors.push_spanned(
            ok,
            "return the type inside `Json<..>` itself: a `#[secure_tool]` handler's result is \
             always sent as structured content, with its schema as the tool's output schema",
        );
        ok_valid = false;
    } else if mentions_rmcp(ok) {
        errors.push_spanned(
            ok,
            "a `#[secure_tool]` handler cannot return an rmcp protocol type: return a type of your \
             own that derives `serde::Serialize` and `schemars::JsonSchema` (secure-tool builds the \
             `CallToolResult`, and an `Err` becomes a sanitized `isError` result)",
        );
        ok_valid = false;
    }
    if let Some(span) = find_impl_trait(err) {
        errors.push_at(
            span,
            "a tool's error type must be named, not `impl Trait`: return `secure_tool::ToolError` \
             or an error type of your own",
        );
        return None;
    }
    if is_boxed_dyn(err) {
        errors.push_spanned(
            err,
            "a boxed `dyn Error` is not itself an error type a tool can return: return \
             `secure_tool::ToolError` (`ToolError::internal(e)` logs `e`) or an error type of \
             your own",
        );
        return None;
    }
    if let Some(what) = raw_text_error(err) {
        errors.push_at(
            err.span(),
            format!(
                "{what} cannot be a tool error: its text would reach the caller as is. Return an \
                 error type that implements `std::error::Error` (logged, never shown), or \
                 `secure_tool::ToolError` (`ToolError::invalid_input(..)` for a message meant for \
                 the caller)"
            ),
        );
        return None;
    }
    ok_valid.then_some((ok, err))
}

/// Error types that carry raw text to the client: named so the message can say which.
fn raw_text_error(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::Reference(r) => match &*r.elem {
            Type::Path(p) if p.path.is_ident("str") => Some("`&str`"),
            _ => None,
        },
        Type::Path(p) => {
            let last = p.path.segments.last()?;
            match last.ident.to_string().as_str() {
                "String" => Some("`String`"),
                "Cow" => Some("`Cow<str>`"),
                "ErrorData" | "McpError" => {
                    Some("rmcp's `ErrorData` (sent to the client verbatim as a JSON-RPC error)")
                }
                "CallToolResult" | "Content" | "ContentBlock" => Some("an MCP result or content"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The first `impl Trait` inside a type.
fn find_impl_trait(ty: &Type) -> Option<Span> {
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
fn each_type<'a>(ty: &'a Type, out: &mut Vec<&'a Type>) {
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
fn mentions_write_access(ty: &Type) -> bool {
    let mut all = Vec::new();
    each_type(ty, &mut all);
    all.into_iter().any(is_write_access)
}

/// Whether `ty` holds a type named through rmcp's crate (`rmcp::model::CallToolResult`,
/// `secure_tool::rmcp::..`). Names imported first are caught by type, in the generated
/// code; this says it earlier, at the path.
fn mentions_rmcp(ty: &Type) -> bool {
    let mut all = Vec::new();
    each_type(ty, &mut all);
    all.into_iter()
        .any(|t| matches!(t, Type::Path(p) if p.path.segments.iter().any(|s| s.ident == "rmcp")))
}

/// rmcp's extractors, which a tool written for rmcp's `#[tool]` takes: named with their
/// generic arguments (`Parameters<T>`, `RequestContext<RoleServer>`), or through `rmcp::`.
fn rmcp_extractor(ty: &Type) -> Option<String> {
    const EXTRACTORS: &[&str] = &["Parameters", "Extension", "RequestContext", "Peer", "Json"];
    let Type::Path(p) = ty else {
        return None;
    };
    let last = p.path.segments.last()?;
    let name = last.ident.to_string();
    let generic = matches!(last.arguments, PathArguments::AngleBracketed(_));
    let through_rmcp = p.path.segments.iter().any(|s| s.ident == "rmcp");
    let known = EXTRACTORS.contains(&name.as_str());
    (through_rmcp || (known && generic)).then(|| if generic { format!("{name}<..>") } else { name })
}

/// `Json<T>`, rmcp's structured-output wrapper (a `Json<T>` of another crate is no tool
/// result either).
fn is_json_wrapper(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| {
        s.ident == "Json" && matches!(s.arguments, PathArguments::AngleBracketed(_))
    }))
}

/// `Box<dyn ..>`: an error type that is not itself an `Error`.
fn is_boxed_dyn(ty: &Type) -> bool {
    let Type::Path(p) = ty else {
        return false;
    };
    p.path.segments.last().is_some_and(|s| {
        s.ident == "Box"
            && matches!(&s.arguments, PathArguments::AngleBracketed(args)
                if matches!(args.args.first(), Some(GenericArgument::Type(Type::TraitObject(_)))))
    })
}

fn find_self(tokens: TokenStream) -> Option<Span> {
    tokens.into_iter().find_map(|tt| match tt {
        TokenTree::Ident(i) if i == "self" => Some(i.span()),
        TokenTree::Group(g) => find_self(g.stream()),
        _ => None,
    })
}

fn check_authz(expr: &Expr, errors: &mut Errors) {
    if let Some(span) = find_self(expr.to_token_stream()) {
        errors.push_at(
            span,
            "`authz` is evaluated once, when the router is built, and cannot use `self`: build the \
             policy from values available then (or implement `secure_tool::authz::Authorize`)",
        );
    }
    check_requirements(expr, errors);
}

/// A requirement list written empty (`scopes([])`, `roles(vec![])`, `all_of([])`) or a
/// blank name (`scopes("")`) is a degenerate declaration: refused in words, wherever it
/// sits in the expression. Lists built at run time are the runtime's to refuse.
fn check_requirements(expr: &Expr, errors: &mut Errors) {
    match expr {
        Expr::Call(call) => {
            let callee = match &*call.func {
                Expr::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
                _ => None,
            };
            let list = match callee.as_deref() {
                Some("scopes") => Some((
                    "scope",
                    "name at least one scope, or use `authenticated` if every signed-in caller may call this tool",
                )),
                Some("roles") => Some((
                    "role",
                    "name at least one role, or use `authenticated` if every signed-in caller may call this tool",
                )),
                Some("all_of") => Some(("policy", "name at least one policy")),
                Some("any_of") => Some(("policy", "name at least one policy")),
                _ => None,
            };
            if let (Some((what, fix)), [argument]) =
                (list, &call.args.iter().collect::<Vec<_>>()[..])
            {
                if let Some(items) = literal_list(argument) {
                    if items.is_empty() {
                        let message = match what {
                            "policy" => format!(
                                "an empty `{}([])` names no policy, and would deny every caller: {fix}",
                                callee.as_deref().unwrap_or_default()
                            ),
                            _ => format!("an empty {what} list requires nothing: {fix}"),
                        };
                        errors.push_at(argument.span(), message);
                    }
                    if what != "policy" {
                        for item in &items {
                            check_name(item, what, errors);
                        }
                    }
                } else if what != "policy" {
                    check_name(argument, what, errors);
                }
            }
            for argument in &call.args {
                check_requirements(argument, errors);
            }
        }
        Expr::Array(array) => array
            .elems
            .iter()
            .for_each(|e| check_requirements(e, errors)),
        Expr::Paren(p) => check_requirements(&p.expr, errors),
        Expr::Group(g) => check_requirements(&g.expr, errors),
        Expr::Reference(r) => check_requirements(&r.expr, errors),
        Expr::MethodCall(m) => {
            check_requirements(&m.receiver, errors);
            m.args.iter().for_each(|e| check_requirements(e, errors));
        }
        Expr::Macro(_) => {
            if let Some(items) = literal_list(expr) {
                items.iter().for_each(|e| check_requirements(e, errors));
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
fn check_public_write(expr: &Expr, errors: &mut Errors) {
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
                    && text.value().trim().is_empty()
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
        Expr::Macro(m) if m.mac.path.is_ident("vec") => m
            .mac
            .parse_body_with(syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated)
            .ok()
            .map(|items| items.into_iter().collect()),
        Expr::Call(call)
            if call.args.is_empty()
                && matches!(&*call.func, Expr::Path(p)
                    if p.path.segments.len() >= 2
                        && p.path.segments.last().is_some_and(|s| s.ident == "new")
                        && p.path.segments[p.path.segments.len() - 2].ident == "Vec") =>
        {
            Some(Vec::new())
        }
        _ => None,
    }
}

/// A scope or role name written blank (`""`, `"  "`).
fn check_name(expr: &Expr, what: &str, errors: &mut Errors) {
    if let Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Str(name),
        ..
    }) = expr
        && name.value().trim().is_empty()
    {
        errors.push_at(
            name.span(),
            format!("a blank {what} name is not a {what} anyone should hold: write the {what} the caller must have"),
        );
    }
}

/// `breaker = ...` must name a dependency that outlives the call; catch the usual mistakes
/// here, where the message can say why (the compiler would only talk about a temporary).
fn check_breaker(expr: &Expr, errors: &mut Errors) {
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
                if p.path.segments.last().is_some_and(|s| s.ident == "new" || s.ident == "with_breaker")) =>
        {
            errors.push_at(
                expr.span(),
                format!(
                    "a breaker built here would be a new one for every call and never open: {WHERE}"
                ),
            );
        }
        Expr::MethodCall(call) if call.method == "build" => errors.push_at(
            expr.span(),
            format!(
                "a breaker built here would be a new one for every call and never open: {WHERE}"
            ),
        ),
        _ => {}
    }
}

/// MCP tool names: 1 to 128 of `A-Z a-z 0-9 _ - .`.
fn check_tool_name(name: &str, span: Span, errors: &mut Errors) {
    let valid = (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        errors.push_at(
            span,
            "tool names are 1 to 128 characters among `A-Z`, `a-z`, `0-9`, `_`, `-` and `.`",
        );
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

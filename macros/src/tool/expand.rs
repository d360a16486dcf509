//! Expansion: a validated handler becomes its hidden handler method and route builder (a
//! tool's `SecureRoute`, a resource's `ResourceRoute` or a prompt's `PromptRoute`), and each
//! completer it names a hidden method its route calls, written from the handler IR alone
//! (nothing is parsed or checked again here). The names of the generated items are made
//! here too.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, ReturnType, Type};

use crate::attr::{Kind, Mode};
use crate::symbol::*;

use super::ast::{Completion, Handler, Surface, Timeout};

impl Handler<'_> {
    pub(super) fn expand(&self) -> TokenStream {
        match &self.surface {
            Surface::Tool {
                mode,
                capability,
                argument_limits,
                confirm,
                rate,
            } => self.expand_tool(*mode, *capability, *argument_limits, *confirm, *rate),
            Surface::Resource { uri, mime_type } => self.expand_resource(uri, *mime_type),
            Surface::Prompt => self.expand_prompt(),
        }
    }

    /// The hidden method through which the route calls each completer it names, by name:
    /// one per completer method, however many variables or arguments (of however many
    /// handlers) it completes, so the router keeps one of each name.
    pub(super) fn completers(&self) -> Vec<(Ident, TokenStream)> {
        self.completions.iter().map(completer_fn).collect()
    }

    fn expand_tool(
        &self,
        mode: Mode,
        capability: Option<&Type>,
        argument_limits: Option<&Expr>,
        confirm: Option<&LitStr>,
        rate: Option<&Expr>,
    ) -> TokenStream {
        let item = self.item;
        let method = &item.sig.ident;
        let route_fn = route_fn_ident(Kind::Tool, method);
        let name = self.name;
        let description = &self.description;
        let mode_variant = match mode {
            Mode::Read => quote!(Read),
            Mode::Write => quote!(Write),
        };
        let title = self.title();
        let policy = self.policy();

        let ok = self.ok;
        let error = self.error;
        // The types are named in the turbofish with the user's spans: a type that cannot be
        // a tool's arguments, result or error is reported at the user's type, once.
        // The handler as its route calls it: a hidden method of the same impl block, taking
        // the call's capability (`()` for a read tool, the `WriteAccess` the runtime makes
        // for a write tool's call once it is authorized and past the write gate) and
        // passing it on only when the user's method asks for it. The route is built by the
        // runtime around it: nothing here can skip the guard or make a capability.
        let handler_fn = handler_fn_ident(Kind::Tool, method);
        let arguments = match self.input {
            Some(ty) => ty.to_token_stream(),
            None => quote!(::secure_tool::__private::NoArguments),
        };
        // The call's grant: its capability and its context, passed on as the user's method
        // asks for them.
        let capability_ty = match mode {
            Mode::Read => quote!(::secure_tool::__private::Grant<'__secure_tool_call>),
            Mode::Write => quote!(
                ::secure_tool::__private::Grant<
                    '__secure_tool_call,
                    ::secure_tool::__private::WriteAccess<'__secure_tool_call>,
                >
            ),
        };
        let mut passed = Vec::new();
        if self.input.is_some() {
            passed.push(quote!(__secure_tool_args));
        }
        if self.context {
            passed.push(quote!(__secure_tool_context));
        }
        if capability.is_some() {
            passed.push(quote!(__secure_tool_access));
        }
        let pass = quote! {{
            let (__secure_tool_access, __secure_tool_context) =
                __secure_tool_capability.into_parts();
            self.#method(#(#passed),*)
        }};
        let constructor = match mode {
            Mode::Read => quote!(read),
            Mode::Write => quote!(write),
        };
        let output = match &item.sig.output {
            ReturnType::Type(_, ty) => ty.to_token_stream(),
            ReturnType::Default => quote!(()),
        };
        let handler = hidden_handler(&handler_fn, &arguments, &capability_ty, &output, &pass);

        let check_arguments = match self.input {
            Some(ty) => quote_spanned!(ty.span()=> ::secure_tool::__private::arguments::<#ty>()),
            None => quote!(::secure_tool::__private::arguments::<#arguments>()),
        };
        let check_ok = quote_spanned!(ok.span()=> ::secure_tool::__private::output::<#ok>());
        // rmcp's own types are `Serialize + JsonSchema` too: refused by type, so that an
        // alias or a container of one is caught as well.
        // The type as a whole (an alias of one is caught by type), and every type written
        // inside it (a tuple's, a generic container's of any crate's, an array's), so that
        // no container hides one.
        let probed = std::iter::once(ok).chain(nested_types(ok));
        let own_result = quote_spanned! {ok.span()=>
            {
                #[allow(unused_imports)]
                use ::secure_tool::__private::{ProbeOwn as _, ProbeProtocol as _};
                #(
                    ::secure_tool::__private::own_result(
                        (&::secure_tool::__private::Probe::<#probed>::new()).answer(),
                    );
                )*
            }
        };
        let own_arguments = self.input.map(|ty| {
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

        let timeout = self.timeout();
        let argument_limits = argument_limits.map(|expr| {
            quote_spanned! {expr.span()=>
                .with_argument_limits(::secure_tool::__private::argument_limits(#expr))
            }
        });
        let (dependency_fn, with_dependency) = self.dependency();
        let confirm = confirm.map(|question| quote!(.with_confirmation(#question)));
        let rate = rate.map(with_rate);

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
                        ::secure_tool::__private::Mode::#mode_variant,
                        #policy,
                    )
                    .with_description(#description)
                    #title
                    #timeout
                    #argument_limits
                    #rate
                    #confirm,
                    __secure_tool_types,
                    Self::#handler_fn,
                )
                #with_dependency
            }

            #handler
            #dependency_fn
        }
    }

    /// A resource: the route of a read-only handler, whose parameters are the variables of
    /// its URI, built by the runtime's `ResourceRoute::new` around the hidden handler.
    fn expand_resource(&self, uri: &LitStr, mime_type: Option<&LitStr>) -> TokenStream {
        let name = self.name;
        let description = &self.description;
        let title = self.title();
        let policy = self.policy();
        let mime_type = mime_type.map(|m| quote!(.with_mime_type(#m)));
        let timeout = self.timeout();
        let spec = quote! {
            ::secure_tool::__private::ResourceSpec::new(#name, #uri, #policy)
                .with_description(#description)
                #title
                #mime_type
                #timeout
        };
        self.expand_read_only(
            Kind::Resource,
            &spec,
            &ReadOnly {
                route: quote!(ResourceRoute),
                body: quote!(ResourceBody),
                input: quote!(resource_params),
                ok: quote!(resource_body),
                error: quote!(resource_error),
            },
        )
    }

    /// A prompt: the route of a read-only handler, whose arguments are listed from its
    /// arguments struct, built by the runtime's `PromptRoute::new` around the hidden
    /// handler.
    fn expand_prompt(&self) -> TokenStream {
        let name = self.name;
        let description = &self.description;
        let title = self.title();
        let policy = self.policy();
        let timeout = self.timeout();
        let spec = quote! {
            ::secure_tool::__private::PromptSpec::new(#name, #policy)
                .with_description(#description)
                #title
                #timeout
        };
        self.expand_read_only(
            Kind::Prompt,
            &spec,
            &ReadOnly {
                route: quote!(PromptRoute),
                body: quote!(PromptReply),
                input: quote!(prompt_arguments),
                ok: quote!(prompt_reply),
                error: quote!(prompt_error),
            },
        )
    }

    /// The route of a resource or a prompt, read-only handlers alike: the hidden handler is
    /// given `()`, as a read tool's is, never a capability, and the route is built by the
    /// runtime's constructor around it, with its dependency and its completers.
    fn expand_read_only(&self, kind: Kind, spec: &TokenStream, names: &ReadOnly) -> TokenStream {
        let ReadOnly {
            route,
            body,
            input,
            ok: check_ok,
            error: check_error,
        } = names;
        let item = self.item;
        let method = &item.sig.ident;
        let route_fn = route_fn_ident(kind, method);
        let handler_fn = handler_fn_ident(kind, method);
        let (dependency_fn, with_dependency) = self.dependency();
        let with_completions = self.completions.iter().map(with_completion);

        let ok = self.ok;
        let error = self.error;
        let input_ty = match self.input {
            Some(ty) => ty.to_token_stream(),
            None => quote!(::secure_tool::__private::NoArguments),
        };
        let mut passed = Vec::new();
        if self.input.is_some() {
            passed.push(quote!(__secure_tool_args));
        }
        if self.context {
            passed.push(quote!(__secure_tool_capability.into_parts().1));
        }
        let call = quote!(self.#method(#(#passed),*));
        // The result is passed through a check whose `Ok` type is named with the user's
        // span: anything but the kind's one result type (or an alias of it) is refused there,
        // once, in words, and the route is handed a handler of the one type it takes.
        let check_ok =
            quote_spanned!(ok.span()=> ::secure_tool::__private::#check_ok::<#ok, #error>);
        let pass = quote!(async move { #check_ok(#call.await) });
        let output = quote!(::core::result::Result<::secure_tool::__private::#body, #error>);
        let grant = quote!(::secure_tool::__private::Grant<'__secure_tool_call>);
        let handler = hidden_handler(&handler_fn, &input_ty, &grant, &output, &pass);
        let check_input = match self.input {
            Some(ty) => {
                quote_spanned!(ty.span()=> ::secure_tool::__private::#input::<#ty>())
            }
            None => quote!(::secure_tool::__private::#input::<#input_ty>()),
        };
        let check_error =
            quote_spanned!(error.span()=> ::secure_tool::__private::#check_error::<#error>());

        quote! {
            #[doc(hidden)]
            #[allow(non_snake_case, clippy::all, clippy::pedantic)]
            fn #route_fn() -> ::secure_tool::__private::#route<Self> {
                ::secure_tool::__private::#route::<Self>::new(
                    #spec,
                    #check_input,
                    #check_error,
                    Self::#handler_fn,
                )
                #with_dependency
                #( #with_completions )*
            }

            #handler
            #dependency_fn
        }
    }

    /// `.with_title(..)`, if the attribute gives one.
    fn title(&self) -> TokenStream {
        self.title
            .map(|t| quote!(.with_title(#t)))
            .unwrap_or_default()
    }

    /// The `authz = ...` expression as a `Policy`, spanned at it.
    fn policy(&self) -> TokenStream {
        // The expression resolves as the user wrote it, in the user's scope: no name is
        // brought into scope for it (`public`, `scopes`... come from `secure_tool::prelude`
        // or the user's own imports, and the user's own items shadow them as usual).
        // A path written without a call (`authz = public`, `authz = ON_CALL`) names either
        // a function that returns the policy (called) or the policy itself, told apart by
        // type.
        let authz = self.authz;
        match authz {
            Expr::Path(_) => quote_spanned! {authz.span()=>
                ::secure_tool::__private::into_policy({
                    #[allow(unused_imports)]
                    use ::secure_tool::__private::{PolicyFunction as _, PolicyValue as _};
                    (&mut ::secure_tool::__private::NamedPolicy::new(#authz)).policy()
                })
            },
            _ => quote_spanned!(authz.span()=> ::secure_tool::__private::into_policy(#authz)),
        }
    }

    /// `.with_timeout(..)`, if the attribute gives a deadline.
    fn timeout(&self) -> TokenStream {
        match &self.timeout {
            None => TokenStream::new(),
            Some(Timeout::Literal { nanos, span }) => quote_spanned! {*span=>
                .with_timeout(::core::time::Duration::from_nanos(#nanos))
            },
            Some(Timeout::Expr(expr)) => quote_spanned! {expr.span()=>
                .with_timeout(::secure_tool::__private::timeout(#expr))
            },
        }
    }

    /// The hidden method that finds the dependency of `breaker = ...` in the server's
    /// state, and the route's `.with_dependency(..)` naming it; nothing without a breaker.
    fn dependency(&self) -> (TokenStream, TokenStream) {
        let Some(expr) = self.breaker else {
            return (TokenStream::new(), TokenStream::new());
        };
        let dependency_fn = dependency_fn_ident(&self.item.sig.ident);
        // The user's expression is the body of a `&self` method, so it may name the
        // server's state (`self.store`) or a `static`. A type that is not a breaker is
        // reported at the expression.
        let dependency = if is_place(expr) {
            quote_spanned!(expr.span()=> ::secure_tool::__private::dependency(&(#expr)))
        } else {
            // A call, a reference...: it must give a reference to a breaker that
            // outlives the call, and an owned one is refused by type, with words.
            quote_spanned!(expr.span()=> ::secure_tool::__private::borrowed_dependency(::secure_tool::__private::DependencyExpr(#expr)))
        };
        (
            quote! {
                #[doc(hidden)]
                #[allow(non_snake_case, clippy::all, clippy::pedantic)]
                fn #dependency_fn(&self) -> ::secure_tool::__private::DependencyRef<'_> {
                    #dependency
                }
            },
            quote!(.with_dependency(Self::#dependency_fn)),
        )
    }
}

/// What differs between the routes of a resource and a prompt: the names, in
/// `secure_tool::__private`, of the route, of the handler's result, and of the checks of
/// the handler's input, result and error types.
struct ReadOnly {
    route: TokenStream,
    body: TokenStream,
    input: TokenStream,
    ok: TokenStream,
    error: TokenStream,
}

/// `.with_completion("id", <the completer's error type, checked>, Self::<its hidden method>)`.
fn with_completion(completion: &Completion<'_>) -> TokenStream {
    let name = completion.name;
    let error = completion.signature.error;
    let completer_fn = generated_ident(COMPLETER_FN_PREFIX, completion.completer);
    // The hidden method is named at the entry's path, where a reader looks for it.
    let completer_fn = Ident::new(&completer_fn.to_string(), completion.method.span());
    let check_error =
        quote_spanned!(error.span()=> ::secure_tool::__private::completion_error::<#error>());
    quote!(.with_completion(#name, #check_error, Self::#completer_fn))
}

/// The hidden method through which a route calls a completer: it takes the request and
/// passes it on through a check whose type is named at the user's parameter (the request
/// is a `CompletionRequest`), and the completer's result goes through a check whose `Ok`
/// type is named at the user's type (the suggestions are a `Vec<String>`).
fn completer_fn(completion: &Completion<'_>) -> (Ident, TokenStream) {
    let completer = completion.completer;
    let name = generated_ident(COMPLETER_FN_PREFIX, completer);
    let signature = &completion.signature;
    let (ok, error) = (signature.ok, signature.error);
    let request = signature.request;
    let request = quote_spanned! {request.span()=>
        ::secure_tool::__private::completion_request::<#request>(__secure_tool_request)
    };
    let call = quote!(self.#completer(#request));
    let check_ok =
        quote_spanned!(ok.span()=> ::secure_tool::__private::completion_values::<#ok, #error>);
    let tokens = quote! {
        #[doc(hidden)]
        #[allow(non_snake_case, dead_code, clippy::all, clippy::pedantic)]
        fn #name<'__secure_tool_call>(
            &'__secure_tool_call self,
            __secure_tool_request: ::secure_tool::__private::CompletionRequest,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ::std::vec::Vec<::std::string::String>,
                #error,
            >,
        > + ::core::marker::Send + '__secure_tool_call {
            async move { #check_ok(#call.await) }
        }
    };
    (name, tokens)
}

/// The hidden method through which a route calls the user's method: it takes the parsed
/// input and the call's capability, and passes on what the user's method asks for.
fn hidden_handler(
    handler_fn: &Ident,
    input: &TokenStream,
    capability: &TokenStream,
    output: &TokenStream,
    pass: &TokenStream,
) -> TokenStream {
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case, unused_variables, clippy::all, clippy::pedantic)]
        fn #handler_fn<'__secure_tool_call>(
            &'__secure_tool_call self,
            __secure_tool_args: #input,
            __secure_tool_capability: #capability,
        ) -> impl ::core::future::Future<Output = #output> + ::core::marker::Send + '__secure_tool_call {
            #pass
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

/// The name of the hidden route builder of `method`, a handler of `kind`.
pub fn route_fn_ident(kind: Kind, method: &Ident) -> Ident {
    match kind {
        Kind::Tool => generated_ident(ROUTE_FN_PREFIX, method),
        Kind::Resource => generated_ident(RESOURCE_ROUTE_FN_PREFIX, method),
        Kind::Prompt => generated_ident(PROMPT_ROUTE_FN_PREFIX, method),
    }
}

/// The name of the hidden method through which the route calls `method`.
fn handler_fn_ident(kind: Kind, method: &Ident) -> Ident {
    match kind {
        Kind::Tool => generated_ident(HANDLER_FN_PREFIX, method),
        Kind::Resource => generated_ident(RESOURCE_HANDLER_FN_PREFIX, method),
        Kind::Prompt => generated_ident(PROMPT_HANDLER_FN_PREFIX, method),
    }
}

/// The name of the hidden method that finds `method`'s dependency.
fn dependency_fn_ident(method: &Ident) -> Ident {
    generated_ident(DEPENDENCY_FN_PREFIX, method)
}

/// `prefix` and the method's name without `r#`, spanned at the method's name.
fn generated_ident(prefix: &str, method: &Ident) -> Ident {
    format_ident!("{}{}", prefix, method.unraw(), span = method.span())
}

/// `.with_rate(..)` of `rate = ...`: a string is read by the runtime's `const` parser in a
/// constant, so that a malformed rate fails to compile, at the string, in the runtime's
/// words; an expression is checked to be a `Rate`.
fn with_rate(expr: &Expr) -> TokenStream {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(text),
            ..
        }) => quote_spanned! {text.span()=>
            .with_rate({
                const RATE: ::secure_tool::rate::Rate = ::secure_tool::__private::rate_of(#text);
                RATE
            })
        },
        _ => quote_spanned! {expr.span()=>
            .with_rate(::secure_tool::__private::rate(#expr))
        },
    }
}

/// Every type written inside `ty` (not `ty` itself): generic arguments, tuple elements,
/// array and slice elements, referents. A type that names a lifetime other than
/// `'static`, or is left to inference, is left out: it cannot be named where the check
/// runs.
fn nested_types(ty: &Type) -> Vec<&Type> {
    fn walk<'t>(ty: &'t Type, out: &mut Vec<&'t Type>) {
        let inner = |ty: &'t Type, out: &mut Vec<&'t Type>| {
            if nameable(ty) {
                out.push(ty);
            }
            walk(ty, out);
        };
        match ty {
            Type::Path(path) => {
                for segment in &path.path.segments {
                    if let syn::PathArguments::AngleBracketed(arguments) = &segment.arguments {
                        for argument in &arguments.args {
                            if let syn::GenericArgument::Type(ty) = argument {
                                inner(ty, out);
                            }
                        }
                    }
                }
            }
            Type::Tuple(tuple) => tuple.elems.iter().for_each(|ty| inner(ty, out)),
            Type::Array(array) => inner(&array.elem, out),
            Type::Slice(slice) => inner(&slice.elem, out),
            Type::Reference(reference) => inner(&reference.elem, out),
            Type::Paren(paren) => inner(&paren.elem, out),
            Type::Group(group) => inner(&group.elem, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(ty, &mut out);
    out
}

/// Whether `ty` can be named in the router's own function: no lifetime but `'static`, no
/// `_`, no `impl Trait`.
fn nameable(ty: &Type) -> bool {
    fn tokens_nameable(stream: TokenStream) -> bool {
        let mut tokens = stream.into_iter().peekable();
        while let Some(token) = tokens.next() {
            match token {
                proc_macro2::TokenTree::Punct(tick) if tick.as_char() == '\'' => {
                    if let Some(proc_macro2::TokenTree::Ident(name)) = tokens.peek()
                        && name != "static"
                    {
                        return false;
                    }
                }
                proc_macro2::TokenTree::Ident(name) if name == "_" || name == "impl" => {
                    return false;
                }
                proc_macro2::TokenTree::Group(group) if !tokens_nameable(group.stream()) => {
                    return false;
                }
                _ => {}
            }
        }
        true
    }
    !matches!(ty, Type::Infer(_) | Type::ImplTrait(_)) && tokens_nameable(ty.to_token_stream())
}

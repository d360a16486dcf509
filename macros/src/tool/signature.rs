//! Validation of the handler's signature: receiver, arguments (or parameters), the write
//! capability, the result and error types, and the attributes next to `#[secure_tool]`,
//! `#[secure_resource]` or `#[secure_prompt]`. The rules are the same for all three; where
//! the words differ, they are written side by side. A completer's signature, named by
//! `complete(..)`, is checked here too, by the same rules where they apply.

use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, ImplItemFn, PathArguments, ReceiverKind, ReturnType, Safety, Type,
};

use crate::attr::{Kind, attr_name_span, is_attr};
use crate::errors::Errors;
use crate::symbol::*;

use super::types::*;

/// The attributes beside `#[secure_tool]` (or `#[secure_resource]`, `#[secure_prompt]`):
/// rmcp's `#[tool]` (refused here alone; the router refuses a plain `#[tool]`, on a method
/// without ours), a second attribute of the same kind, and one of another kind.
pub(super) fn check_attributes(kind: Kind, item: &ImplItemFn, errors: &mut Errors) {
    let attribute = kind.attribute();
    let noun = kind.noun();
    for attr in &item.attrs {
        if is_attr(attr, RMCP_TOOL) {
            errors.push_at(
                attr_name_span(attr),
                format!(
                    "remove `#[tool]`: `{attribute}` registers the {noun} itself, and rmcp's \
                     `#[tool]` would serve this handler without its guard"
                ),
            );
        } else if Kind::of(attr) == Some(kind) {
            errors.push_at(
                attr_name_span(attr),
                format!("duplicate `{attribute}`: one {noun}, one attribute"),
            );
        } else if let Some(other) = Kind::of(attr) {
            errors.push_at(
                attr_name_span(attr),
                format!(
                    "a method is a {noun} or a {}, not both: keep `{attribute}` or `{}`, and \
                     write the other as a method of its own",
                    other.noun(),
                    other.attribute()
                ),
            );
        }
    }
}

pub(super) fn check_signature(
    kind: Kind,
    item: &ImplItemFn,
    returns_future: bool,
    errors: &mut Errors,
) {
    let sig = &item.sig;
    let attribute = kind.attribute();
    if sig.asyncness.is_none() && !returns_future {
        errors.push_at(
            sig.fn_token.span(),
            format!(
                "`{attribute}` handlers must be `async fn`: add `async` (run blocking work inside \
                 with `tokio::task::spawn_blocking`)"
            ),
        );
    }
    if let Some(constness) = &sig.constness {
        errors.push_at(
            constness.span(),
            format!("`{attribute}` handlers cannot be `const fn`"),
        );
    }
    if let Safety::Unsafe(unsafe_token) = &sig.safety {
        let called = match kind {
            Kind::Tool => "a tool is called",
            Kind::Resource => "a resource is read",
            Kind::Prompt => "a prompt is got",
        };
        errors.push_at(
            unsafe_token.span(),
            format!(
                "`{attribute}` handlers cannot be `unsafe fn`: {called} with untrusted input and \
                 no caller can uphold its safety contract; keep `unsafe` blocks inside a safe fn"
            ),
        );
    }
    if let Some(abi) = &sig.abi {
        errors.push_at(
            abi.span(),
            format!("`{attribute}` handlers cannot be `extern`: remove the ABI"),
        );
    }
    if !sig.generics.params.is_empty() {
        let why = match kind {
            Kind::Tool => {
                "a tool has one concrete argument type (its input schema) and one result type"
            }
            Kind::Resource => {
                "a resource has one concrete parameters type (its URI's variables) and returns a \
                 `ResourceBody`"
            }
            Kind::Prompt => {
                "a prompt has one concrete arguments type (its listed arguments) and returns a \
                 `PromptReply`"
            }
        };
        errors.push_at(
            sig.generics.params.span(),
            format!("`{attribute}` handlers cannot be generic: {why}"),
        );
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.push_at(
            where_clause.span(),
            format!("`{attribute}` handlers cannot have a `where` clause"),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.push_at(
            variadic.dots.span(),
            format!("`{attribute}` handlers cannot be variadic"),
        );
    }
}

/// A handler written as a plain `fn` returning a future (`Pin<Box<dyn Future<..>>>`,
/// `impl Future<..>`, `BoxFuture<..>`): one error at its return type.
pub(super) fn returns_a_future(kind: Kind, item: &ImplItemFn, errors: &mut Errors) -> bool {
    let ReturnType::Type(_, ty) = &item.sig.output else {
        return false;
    };
    if item.sig.asyncness.is_some() || !mentions_future(ty) {
        return false;
    }
    let attribute = kind.attribute();
    let result = result_form(kind);
    errors.push_spanned(
        ty,
        format!(
            "`{attribute}` handlers are `async fn` returning `{result}` itself, not a future: \
             write `async fn name(&self, ..) -> {result}` (the guard boxes the future)"
        ),
    );
    true
}

/// What a handler of `kind` returns, as messages write it.
fn result_form(kind: Kind) -> &'static str {
    match kind {
        Kind::Tool => "Result<T, E>",
        Kind::Resource => "Result<ResourceBody, E>",
        Kind::Prompt => "Result<PromptReply, E>",
    }
}

/// What a handler takes besides `&self`.
pub(super) struct Inputs<'a> {
    /// The arguments struct (the parameters struct of a resource), if any.
    pub(super) arguments: Option<&'a Type>,
    /// The `WriteAccess` capability, if the last parameter of a tool asks for it.
    pub(super) capability: Option<&'a Type>,
    /// The call's `CallContext`, if the handler asks for it (after its arguments, before
    /// the capability).
    pub(super) context: Option<&'a Type>,
}

/// A resource or a prompt that asks for the write capability, anywhere and in any form;
/// `None` for a tool, which may.
fn read_only_write_access(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Tool => None,
        Kind::Resource => Some(
            "a `#[secure_resource]` cannot take `WriteAccess`: a resource is only ever read; a \
             handler that changes state is a `#[secure_tool(mode = write)]`",
        ),
        Kind::Prompt => Some(
            "a `#[secure_prompt]` cannot take `WriteAccess`: getting a prompt only renders its \
             messages; a handler that changes state is a `#[secure_tool(mode = write)]`",
        ),
    }
}

/// Checks `&self`, at most one arguments struct and, for a tool, an optional last
/// `WriteAccess`.
pub(super) fn check_inputs<'a>(
    kind: Kind,
    item: &'a ImplItemFn,
    errors: &mut Errors,
) -> Option<Inputs<'a>> {
    let sig = &item.sig;
    let attribute = kind.attribute();
    let mut ok = true;
    match sig.receiver() {
        None => {
            errors.push_at(
                sig.ident.span(),
                format!(
                    "`{attribute}` handlers are methods taking `&self`: add `&self` as the first \
                     argument"
                ),
            );
            ok = false;
        }
        Some(receiver) => match &receiver.kind {
            ReceiverKind::Reference(_, _, Some(mutability)) => {
                let run = match kind {
                    Kind::Tool => "calls run",
                    Kind::Resource => "reads run",
                    Kind::Prompt => "gets of a prompt run",
                };
                errors.push_at(
                    mutability.span(),
                    format!(
                        "`{attribute}` handlers take `&self`, not `&mut self`: {run} \
                         concurrently; keep mutable state behind a `Mutex`, an atomic or a \
                         connection pool"
                    ),
                );
                ok = false;
            }
            ReceiverKind::Reference(_, _, None) => {}
            ReceiverKind::Value | ReceiverKind::Typed(..) => {
                errors.push_at(
                    receiver.span(),
                    format!("`{attribute}` handlers take `&self`"),
                );
                ok = false;
            }
            #[allow(unreachable_patterns)]
            _ => {
                errors.push_at(
                    receiver.span(),
                    format!("`{attribute}` handlers take `&self`"),
                );
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
        Some(last) if kind == Kind::Tool && is_write_access(&last.ty) => {
            typed.pop();
            Some(&*last.ty)
        }
        _ => None,
    };
    let context = match typed.last().copied() {
        Some(last) if is_call_context(&last.ty) => {
            typed.pop();
            Some(&*last.ty)
        }
        _ => None,
    };
    // A capability anywhere else is a mistake of order or of borrowing: say so, and leave it
    // out of the arguments checks below.
    typed.retain(|arg| {
        let borrowed = matches!(&*arg.ty, Type::Reference(r) if is_write_access(&r.elem));
        if matches!(&*arg.ty, Type::Reference(r) if is_call_context(&r.elem)) {
            errors.push_at(
                arg.ty.span(),
                "take `CallContext` by value (`cx: CallContext<'_>`), after the arguments struct: \
                 the call owns it",
            );
        } else if is_call_context(&arg.ty) {
            errors.push_at(
                arg.ty.span(),
                match kind {
                    Kind::Tool => {
                        "`CallContext` comes after the arguments struct and before `WriteAccess`: \
                         `(&self, args: MyArgs, cx: CallContext<'_>, access: WriteAccess<'_>)`"
                    }
                    Kind::Resource | Kind::Prompt => {
                        "`CallContext` is the last parameter of a handler, after its arguments \
                         struct: `(&self, args: MyArgs, cx: CallContext<'_>)`"
                    }
                },
            );
        } else if let Some(span) = find_impl_trait(&arg.ty) {
            errors.push_at(
                span,
                match kind {
                    Kind::Tool => {
                        "a tool's arguments are one concrete struct, not `impl Trait`: name a struct \
                         that derives `serde::Deserialize` and `schemars::JsonSchema` (it is the \
                         tool's input schema)"
                    }
                    Kind::Resource => {
                        "a resource's parameters are one concrete struct, not `impl Trait`: name a \
                         struct that derives `serde::Deserialize` and `schemars::JsonSchema`, with a \
                         field per variable of the URI"
                    }
                    Kind::Prompt => {
                        "a prompt's arguments are one concrete struct, not `impl Trait`: name a \
                         struct that derives `serde::Deserialize` and `schemars::JsonSchema` (its \
                         fields are the prompt's listed arguments)"
                    }
                },
            );
        } else if let Some(name) = rmcp_extractor(&arg.ty) {
            let own = match kind {
                Kind::Tool | Kind::Prompt => "your arguments struct (`args: MyArgs`)",
                Kind::Resource => "your parameters struct (`params: MyParams`)",
            };
            errors.push_spanned(
                &arg.ty,
                format!(
                    "a `{attribute}` handler cannot take rmcp's `{name}`: the caller is authorized \
                     by the `authz` policy before the handler runs and the server's state is on \
                     `&self`, so take only {own}"
                ),
            );
        } else if let Some(why) = read_only_write_access(kind)
            && mentions_write_access(&arg.ty)
        {
            errors.push_spanned(&arg.ty, why);
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
            match kind {
                Kind::Tool => {
                    "`#[secure_tool]` handlers take one arguments struct besides `&self` (and, last, \
                     an optional `WriteAccess`): put every field into it (it becomes the tool's \
                     input schema)"
                }
                Kind::Resource => {
                    "`#[secure_resource]` handlers take one parameters struct besides `&self`, with \
                     a field per variable of the URI"
                }
                Kind::Prompt => {
                    "`#[secure_prompt]` handlers take one arguments struct besides `&self`: put \
                     every argument into it (its fields are the prompt's listed arguments)"
                }
            },
        );
        ok = false;
    }
    let arguments = typed.first().map(|t| &*t.ty);
    if let Some(Type::Reference(r)) = arguments {
        errors.push_at(
            r.and_token.span(),
            match kind {
                Kind::Tool => "tool arguments are owned values: take the arguments struct by value",
                Kind::Resource => {
                    "resource parameters are owned values: take the parameters struct by value"
                }
                Kind::Prompt => {
                    "prompt arguments are owned values: take the arguments struct by value"
                }
            },
        );
        ok = false;
    }
    ok.then_some(Inputs {
        arguments,
        capability,
        context,
    })
}

/// Checks `-> Result<T, E>`; returns `(T, E)`. A resource's `T` (a prompt's) is checked by
/// type, in the generated code, so that an alias of `ResourceBody` (`PromptReply`) is one
/// too.
pub(super) fn check_output<'a>(
    kind: Kind,
    item: &'a ImplItemFn,
    errors: &mut Errors,
) -> Option<(&'a Type, &'a Type)> {
    let message = match kind {
        Kind::Tool => {
            "`#[secure_tool]` handlers return `Result<T, E>`: `T` is the tool's result, `E` an \
             error whose text is logged, never shown to the caller"
        }
        Kind::Resource => {
            "`#[secure_resource]` handlers return `Result<ResourceBody, E>`: `ResourceBody` is the \
             resource's contents, `E` an error whose text is logged, never shown to the caller"
        }
        Kind::Prompt => {
            "`#[secure_prompt]` handlers return `Result<PromptReply, E>`: `PromptReply` is the \
             prompt's messages, `E` an error whose text is logged, never shown to the caller"
        }
    };
    let (ok, err) = result_types(item, message, errors)?;
    let mut ok_valid = true;
    if let Some(span) = find_impl_trait(ok) {
        errors.push_at(
            span,
            match kind {
                Kind::Tool => {
                    "a tool's result type must be named, not `impl Trait`: return a type that \
                     derives `serde::Serialize` and `schemars::JsonSchema` (it is the tool's output \
                     schema)"
                }
                Kind::Resource => {
                    "a resource's contents are a `ResourceBody`, not `impl Trait`: return \
                     `Result<ResourceBody, E>`"
                }
                Kind::Prompt => {
                    "a prompt's messages are a `PromptReply`, not `impl Trait`: return \
                     `Result<PromptReply, E>`"
                }
            },
        );
        ok_valid = false;
    } else if kind != Kind::Tool {
        // Anything but a `ResourceBody` (a `PromptReply`) is refused by type, at `ok`, in the
        // generated code.
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
    let err_valid = check_error(kind.noun(), err, errors);
    (ok_valid && err_valid).then_some((ok, err))
}

/// `-> Result<T, E>` (by the last segment of its path): `(T, E)`, or `message` at the
/// return type (at the name when there is none).
fn result_types<'a>(
    item: &'a ImplItemFn,
    message: &str,
    errors: &mut Errors,
) -> Option<(&'a Type, &'a Type)> {
    let ReturnType::Type(_, ty) = &item.sig.output else {
        errors.push_at(item.sig.ident.span(), message);
        return None;
    };
    let pair = match &**ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().and_then(|seg| {
            if seg.ident != RESULT {
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
    if pair.is_none() {
        errors.push_at(ty.span(), message);
    }
    pair
}

/// The rules of an error type, the same for a tool, a resource, a prompt and a completer
/// (`noun`): named, itself an error, never raw text. Whether it passed.
fn check_error(noun: &str, err: &Type, errors: &mut Errors) -> bool {
    if let Some(span) = find_impl_trait(err) {
        errors.push_at(
            span,
            format!(
                "a {noun}'s error type must be named, not `impl Trait`: return \
                 `secure_tool::ToolError` or an error type of your own"
            ),
        );
        return false;
    }
    if is_boxed_dyn(err) {
        errors.push_spanned(
            err,
            format!(
                "a boxed `dyn Error` is not itself an error type a {noun} can return: return \
                 `secure_tool::ToolError` (`ToolError::internal(e)` logs `e`) or an error type of \
                 your own"
            ),
        );
        return false;
    }
    if let Some(what) = raw_text_error(err) {
        errors.push_at(
            err.span(),
            format!(
                "{what} cannot be a {noun} error: its text would reach the caller as is. Return an \
                 error type that implements `std::error::Error` (logged, never shown), or \
                 `secure_tool::ToolError` (`ToolError::invalid_input(..)` for a message meant for \
                 the caller)"
            ),
        );
        return false;
    }
    true
}

/// What a completer's signature gives its route: the type of its request parameter, and
/// its `Ok` and error types, each checked by type at the user's token.
pub(super) struct CompleterSignature<'a> {
    pub(super) request: &'a Type,
    pub(super) ok: &'a Type,
    pub(super) error: &'a Type,
}

/// The form of a completer named `name`, as messages write it.
pub(super) fn completer_form(name: impl std::fmt::Display) -> String {
    format!("`async fn {name}(&self, request: CompletionRequest) -> Result<Vec<String>, E>`")
}

/// A completer named by `complete(..)`: a plain `async fn` method taking `&self` and the
/// request, returning `Result<T, E>` with `E` under the handlers' error rules. Its request
/// and `Ok` types are checked by type, in the generated code.
pub(super) fn check_completer<'a>(
    item: &'a ImplItemFn,
    errors: &mut Errors,
) -> Option<CompleterSignature<'a>> {
    let sig = &item.sig;
    let form = completer_form(sig.ident.unraw());
    let before = errors.count();
    if sig.asyncness.is_none() {
        errors.push_at(
            sig.fn_token.span(),
            format!("a completer is an `async fn`: {form}"),
        );
    }
    if sig.constness.is_some()
        || matches!(sig.safety, Safety::Unsafe(_))
        || sig.abi.is_some()
        || sig.variadic.is_some()
    {
        errors.push_at(
            sig.fn_token.span(),
            format!(
                "a completer is a plain `async fn`, not `const`, `unsafe`, `extern` nor variadic: \
                 {form}"
            ),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push_at(
            sig.generics.span(),
            "a completer cannot be generic: its route calls it with one request type and expects \
             one error type",
        );
    }
    match sig.receiver().map(|receiver| &receiver.kind) {
        Some(ReceiverKind::Reference(_, _, None)) => {}
        Some(ReceiverKind::Reference(_, _, Some(mutability))) => errors.push_at(
            mutability.span(),
            "a completer takes `&self`, not `&mut self`: completions run concurrently; keep \
             mutable state behind a `Mutex`, an atomic or a connection pool",
        ),
        _ => errors.push_at(
            sig.ident.span(),
            format!("a completer is a method taking `&self`: {form}"),
        ),
    }
    let typed: Vec<_> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(t) => Some(t),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let request = match typed[..] {
        [one] => Some(&*one.ty),
        _ => {
            errors.push_at(
                sig.inputs.span(),
                format!(
                    "a completer takes `&self` and the request, what is typed so far: \
                     {form}"
                ),
            );
            None
        }
    };
    let message = format!(
        "a completer returns `Result<Vec<String>, E>`, the suggestions or an error whose text is \
         logged, never shown to the caller: {form}"
    );
    let output = result_types(item, &message, errors)
        .filter(|(_, err)| check_error("completer", err, errors));
    let (ok, error) = output?;
    if errors.count() > before {
        return None;
    }
    Some(CompleterSignature {
        request: request?,
        ok,
        error,
    })
}

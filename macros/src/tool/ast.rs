//! The parsed form of a tool, a resource or a prompt: the handler IR that the expansion
//! reads, built from the attribute's arguments and the user's method (and the completer
//! methods its `complete(..)` names) while every check runs, and the handler's name, whose
//! rule is written here alone.

use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Expr, Ident, ImplItemFn, LitStr, Type};

use crate::attr::{HandlerArgs, Kind, Mode};
use crate::errors::Errors;
use crate::symbol::*;

use super::requirements::*;
use super::signature::*;
use super::uri;

/// A tool's, a resource's or a prompt's name as MCP clients see it: `name = "..."` when
/// given, else the method's name without `r#`. The one place that says what a name is and
/// may be.
pub struct HandlerName {
    pub value: String,
    /// Where errors about the name belong: the `name = "..."` literal, or the method's name.
    pub span: Span,
    /// Given with `name = "..."`: such a name is checked against MCP's rule.
    explicit: bool,
    kind: Kind,
}

impl HandlerName {
    pub(super) fn new(args: &HandlerArgs, item: &ImplItemFn) -> Self {
        let kind = args.kind;
        match args.name.get() {
            Some(lit) => HandlerName {
                value: lit.value(),
                span: lit.span(),
                explicit: true,
                kind,
            },
            None => HandlerName {
                value: item.sig.ident.unraw().to_string(),
                span: item.sig.ident.span(),
                explicit: false,
                kind,
            },
        }
    }

    /// MCP tool names, and (by the same rule) resource and prompt names: 1 to 128 of
    /// `A-Z a-z 0-9 _ - .`. A method's name is taken as it is.
    fn check(&self, errors: &mut Errors) {
        if !self.explicit {
            return;
        }
        let valid = (1..=128).contains(&self.value.len())
            && self
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid {
            errors.push_at(
                self.span,
                format!(
                    "{} names are 1 to 128 characters among `A-Z`, `a-z`, `0-9`, `_`, `-` and `.`",
                    self.kind.noun()
                ),
            );
        }
    }
}

/// The handler as the expansion needs it, with references to the user's tokens for spans.
pub(super) struct Handler<'a> {
    pub(super) item: &'a ImplItemFn,
    pub(super) name: &'a str,
    pub(super) authz: &'a Expr,
    /// A tool's or a prompt's arguments struct, or a resource's parameters struct.
    pub(super) input: Option<&'a Type>,
    /// Whether the handler takes the call's `CallContext`.
    pub(super) context: bool,
    pub(super) ok: &'a Type,
    pub(super) error: &'a Type,
    pub(super) description: String,
    pub(super) title: Option<&'a LitStr>,
    pub(super) timeout: Option<Timeout<'a>>,
    pub(super) breaker: Option<&'a Expr>,
    /// What only a tool, only a resource or only a prompt has.
    pub(super) surface: Surface<'a>,
    /// `complete(..)`: the completer of each variable (or argument) that has one, in the
    /// order written; none for a tool.
    pub(super) completions: Vec<Completion<'a>>,
}

/// One `complete(..)` entry, resolved: the variable (or argument) and the completer method
/// of the impl block, whose signature was checked.
pub(super) struct Completion<'a> {
    pub(super) name: &'a str,
    /// The completer's name as the entry writes it (`note_ids` in `Self::note_ids`).
    pub(super) method: &'a Ident,
    /// The completer's own name, in its signature.
    pub(super) completer: &'a Ident,
    pub(super) signature: CompleterSignature<'a>,
}

/// What the handler is made into, with what only that kind has.
pub(super) enum Surface<'a> {
    Tool {
        mode: Mode,
        /// The type of the last parameter when it is the `WriteAccess` capability.
        capability: Option<&'a Type>,
        /// `argument_limits = <expression of type ArgumentLimits>`.
        argument_limits: Option<&'a Expr>,
        /// `confirm = "..."`: a write tool's question to the user, well formed.
        confirm: Option<&'a LitStr>,
        /// `rate = "30/min"` (read when the crate compiles) or a `Rate` expression.
        rate: Option<&'a Expr>,
    },
    Resource {
        /// `uri = "..."`, a valid URI template whose variables fit the handler's inputs.
        uri: &'a LitStr,
        mime_type: Option<&'a LitStr>,
    },
    /// A prompt has nothing of its own: its arguments are its input's fields.
    Prompt,
}

/// `timeout = "5s"` (checked here) or `timeout = <expression of type Duration>`.
pub(super) enum Timeout<'a> {
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
    // `secure_tool::resilience::MAX_TIMEOUT`: a day.
    if nanos > 24 * 3_600_000_000_000 {
        return Err(format!(
            "`{text}` is more than a day: no call should wait that long (start a job and \
             poll it instead)"
        ));
    }
    Ok(nanos)
}

impl<'a> Handler<'a> {
    /// Builds the IR, checking everything; `None` or errors in `errors` when it is wrong.
    /// `methods` are the methods of the impl block, where `complete(..)` finds completers.
    pub(super) fn analyze(
        item: &'a ImplItemFn,
        attr: &syn::Attribute,
        args: &'a HandlerArgs,
        name: &'a HandlerName,
        methods: &'a [ImplItemFn],
        errors: &mut Errors,
    ) -> Option<Self> {
        let kind = args.kind;
        check_attributes(kind, item, errors);
        let returns_future = returns_a_future(kind, item, errors);
        check_signature(kind, item, returns_future, errors);
        let inputs = check_inputs(kind, item, errors);
        let output = if returns_future {
            None
        } else {
            check_output(kind, item, errors)
        };

        let authz = args.authz.get();
        match authz {
            None if args.mentioned(AUTHZ) => {}
            None => errors.push_spanned(
                attr,
                match kind {
                    Kind::Tool => {
                        "`#[secure_tool]` requires `authz = ...`: the policy that decides who may call \
                         this tool (for example `authz = scopes(\"notes:read\")`, or `authz = public` \
                         to let anyone in)"
                    }
                    Kind::Resource => {
                        "`#[secure_resource]` requires `authz = ...`: the policy that decides who may \
                         read this resource (for example `authz = scopes(\"notes:read\")`, or \
                         `authz = public` to let anyone in)"
                    }
                    Kind::Prompt => {
                        "`#[secure_prompt]` requires `authz = ...`: the policy that decides who may \
                         get this prompt (for example `authz = scopes(\"notes:read\")`, or \
                         `authz = public` to let anyone in)"
                    }
                },
            ),
            Some(expr) => check_authz(kind, expr, errors),
        }
        let timeout = args
            .timeout
            .get()
            .and_then(|expr| Timeout::parse(expr, errors));
        let breaker = args.breaker.get();
        if let Some(expr) = breaker {
            check_breaker(expr, errors);
        }
        let surface = match kind {
            Kind::Tool => tool_surface(args, authz, inputs.as_ref(), attr, errors),
            Kind::Resource => resource_surface(item, args, inputs.as_ref(), attr, errors),
            Kind::Prompt => Some(Surface::Prompt),
        };
        let completions = completions(kind, args, methods, errors);

        name.check(errors);
        let description = match args.description.get() {
            Some(lit) => lit.value(),
            None => doc_comment(item),
        };
        if is_blank(&description) {
            errors.push_at(
                item.sig.ident.span(),
                match kind {
                    Kind::Tool => {
                        "a `#[secure_tool]` needs a description: add a doc comment (`/// ...`) or \
                         `description = \"...\"`; the model chooses tools by their description"
                    }
                    Kind::Resource => {
                        "a `#[secure_resource]` needs a description: add a doc comment (`/// ...`) \
                         or `description = \"...\"`; clients and models choose resources by their \
                         description"
                    }
                    Kind::Prompt => {
                        "a `#[secure_prompt]` needs a description: add a doc comment (`/// ...`) \
                         or `description = \"...\"`; clients and users choose prompts by their \
                         description"
                    }
                },
            );
        }

        let (ok, error) = output?;
        let inputs = inputs?;
        Some(Handler {
            item,
            name: &name.value,
            authz: authz?,
            input: inputs.arguments,
            context: inputs.context.is_some(),
            ok,
            error,
            description,
            title: args.title.get(),
            timeout,
            breaker,
            surface: surface?,
            completions: completions?,
        })
    }
}

/// Each `complete(..)` entry's completer: `Self::method`, a method of the impl block (in
/// `methods`) that is no handler itself, with a completer's signature. Whether the name is
/// one the handler has is the surface's to check (a resource's URI variables) or the
/// runtime's (a prompt's arguments, known only from their type).
fn completions<'a>(
    kind: Kind,
    args: &'a HandlerArgs,
    methods: &'a [ImplItemFn],
    errors: &mut Errors,
) -> Option<Vec<Completion<'a>>> {
    let entries = args.complete.get().map_or(&[][..], Vec::as_slice);
    let mut resolved = Vec::with_capacity(entries.len());
    let mut valid = true;
    for entry in entries {
        let Some(method) =
            completer_method(kind.completed(), &entry.name, &entry.completer, errors)
        else {
            valid = false;
            continue;
        };
        let wanted = method.unraw();
        let Some(completer) = methods.iter().find(|m| m.sig.ident.unraw() == wanted) else {
            errors.push_at(
                method.span(),
                format!(
                    "no method `{wanted}` in this `#[secure_tool_router]` impl block: a completer \
                     is a method beside the handlers it completes, {}",
                    completer_form(&wanted)
                ),
            );
            valid = false;
            continue;
        };
        if let Some(handler) = completer.attrs.iter().find_map(Kind::of) {
            errors.push_at(
                method.span(),
                format!(
                    "`{wanted}` is a `{}`, not a completer: a completer is a plain method, {}",
                    handler.attribute(),
                    completer_form(&wanted)
                ),
            );
            valid = false;
            continue;
        }
        match check_completer(completer, errors) {
            Some(signature) => resolved.push(Completion {
                name: &entry.name,
                method,
                completer: &completer.sig.ident,
                signature,
            }),
            None => valid = false,
        }
    }
    valid.then_some(resolved)
}

/// Whether a confirmation question is well formed: not blank, each `{` opening a
/// placeholder that names an argument and is closed by `}`, `{{` and `}}` for braces (the
/// runtime's `Confirmation::new` rules; which arguments exist is checked when the route
/// is built, against the arguments' schema).
fn check_confirmation(question: &str) -> Result<(), &'static str> {
    if is_blank(question) {
        return Err(
            "the question is blank: write what the user is asked, e.g. \"Delete note {id}?\"",
        );
    }
    let mut chars = question.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
            }
            '{' => {
                let mut named = false;
                loop {
                    match chars.next() {
                        Some('}') if named => break,
                        Some('}') => {
                            return Err(
                                "`{}` names no argument: write `{id}` for the argument `id`",
                            );
                        }
                        Some(c) if c.is_alphanumeric() || c == '_' => named = true,
                        _ => {
                            return Err(
                                "a `{` opens a placeholder that must be an argument's name followed \
                                 by `}` (write `{{` for a brace)",
                            );
                        }
                    }
                }
            }
            '}' => return Err("a `}` closes no placeholder (write `}}` for a brace)"),
            _ => {}
        }
    }
    Ok(())
}

/// What only a tool has: its mode (which decides whether it may take `WriteAccess`, and
/// whether `public` must give a reason) and its argument limits.
fn tool_surface<'a>(
    args: &'a HandlerArgs,
    authz: Option<&Expr>,
    inputs: Option<&Inputs<'a>>,
    attr: &syn::Attribute,
    errors: &mut Errors,
) -> Option<Surface<'a>> {
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
        }) = inputs
    {
        errors.push_at(
            capability.span(),
            "a `mode = read` tool cannot take `WriteAccess`: declare `mode = write` if this tool \
             changes state (it is then also behind the read-only degradation gate and advertised \
             as destructive), or read through methods that need no capability",
        );
    }
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
    let confirm = args.confirm.get().filter(|question| {
        if mode == Some(Mode::Read) {
            errors.push_at(
                question.span(),
                "only a `mode = write` tool takes `confirm`: a read tool changes nothing the user \
                 must agree to",
            );
            return false;
        }
        match check_confirmation(&question.value()) {
            Ok(()) => true,
            Err(why) => {
                errors.push_at(question.span(), format!("`confirm`: {why}"));
                false
            }
        }
    });
    let rate = args.rate.get().filter(|expr| check_rate(expr, errors));
    Some(Surface::Tool {
        mode: mode?,
        capability: inputs.and_then(|inputs| inputs.capability),
        argument_limits,
        confirm,
        rate,
    })
}

/// Whether `rate = ...` can be a rate: a string (its text is read by the runtime's own
/// `const` parser when the crate compiles, so that one grammar is checked in one place),
/// or an expression read once when the router is built, without `self`.
fn check_rate(expr: &Expr, errors: &mut Errors) -> bool {
    const FORMS: &str = "write it like `rate = \"30/min\"`, `\"5/s burst 20\"` or `\"1000/h\"`, or \
                         give a `secure_tool::rate::Rate`";
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(_) | syn::Lit::Float(_),
            ..
        }) => {
            errors.push_at(expr.span(), format!("`rate` needs a period: {FORMS}"));
            false
        }
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(_),
            ..
        }) => true,
        Expr::Lit(_) => {
            errors.push_at(expr.span(), format!("`rate` is not this literal: {FORMS}"));
            false
        }
        _ => match find_self(expr.to_token_stream()) {
            Some(span) => {
                errors.push_at(
                    span,
                    "`rate` is read once, when the router is built, and cannot use `self`: use a \
                     literal like `\"30/min\"` or a constant `Rate`",
                );
                false
            }
            None => true,
        },
    }
}

/// What only a resource has: its URI, valid and fitting the handler (a template's
/// variables are a parameters struct's fields, a fixed URI has none), and its MIME type.
fn resource_surface<'a>(
    item: &ImplItemFn,
    args: &'a HandlerArgs,
    inputs: Option<&Inputs<'a>>,
    attr: &syn::Attribute,
    errors: &mut Errors,
) -> Option<Surface<'a>> {
    let mime_type = args.mime_type.get();
    if let Some(lit) = mime_type {
        let value = lit.value();
        let essence = value.split(';').next().unwrap_or("").trim();
        let valid = essence.split_once('/').is_some_and(|(top, subtype)| {
            !top.is_empty()
                && !subtype.is_empty()
                && !essence.contains(char::is_whitespace)
                && !subtype.contains('/')
        });
        if !valid {
            errors.push_at(
                lit.span(),
                "`mime_type` is a MIME type, `type/subtype`: for example `\"text/markdown\"` or \
                 `\"application/json\"`",
            );
        }
    }
    let Some(uri) = args.uri.get() else {
        if !args.mentioned(URI) {
            errors.push_spanned(
                attr,
                "`#[secure_resource]` requires `uri = \"...\"`: the resource's URI, fixed \
                 (`uri = \"docs://readme\"`) or a template whose variables are the fields of the \
                 handler's parameters (`uri = \"notes://{id}\"`)",
            );
        }
        return None;
    };
    let text = uri.value();
    let variables = match uri::variables(&text) {
        Ok(variables) => variables,
        Err(reason) => {
            errors.push_at(
                uri.span(),
                format!("invalid URI template `{text}`: {reason}"),
            );
            return None;
        }
    };
    let mut completes_variables = true;
    for entry in args.complete.get().into_iter().flatten() {
        if variables.contains(&entry.name.as_str()) {
            continue;
        }
        completes_variables = false;
        let message = if variables.is_empty() {
            format!(
                "`{text}` is a fixed URI, without variables: there is no `{}` to complete",
                entry.name
            )
        } else {
            let names = variables
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "`{}` is not a variable of `{text}`: `complete` maps a variable of the URI \
                 ({names}) to its completer",
                entry.name
            )
        };
        errors.push_at(entry.span, message);
    }
    match (variables.as_slice(), inputs.map(|inputs| inputs.arguments)) {
        ([_, ..], Some(None)) => {
            let names = variables
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ");
            errors.push_at(
                item.sig.ident.span(),
                format!(
                    "`{text}` is a URI template, whose variables ({names}) are the handler's \
                     parameters: take them as one struct with a field per variable, \
                     `(&self, params: MyParams)`, that derives `serde::Deserialize` and \
                     `schemars::JsonSchema`"
                ),
            );
            None
        }
        ([], Some(Some(params))) => {
            errors.push_at(
                params.span(),
                format!(
                    "`{text}` is a fixed URI, without variables, so its handler takes no \
                     parameters: remove this parameter, or write the URI as a template with a \
                     `{{variable}}` for each field"
                ),
            );
            None
        }
        _ => completes_variables.then_some(Surface::Resource { uri, mime_type }),
    }
}

/// The doc comment of the method, lines joined, common indentation removed.
fn doc_comment(item: &ImplItemFn) -> String {
    let lines: Vec<String> = item
        .attrs
        .iter()
        .filter(|a| a.path().is_ident(DOC))
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
    use proc_macro2::TokenStream;
    use quote::quote;

    #[test]
    fn a_description_reason_or_question_that_shows_nothing_says_nothing() {
        for text in [
            "",
            "\u{2800}",
            "\u{3164}",
            "\u{2066}\u{2069}",
            "\u{202E}",
            "\u{034F}",
            "\u{FE0F}",
            "\u{E0041}",
            " \u{200B}\t",
        ] {
            assert!(is_blank(text), "{text:?}");
            assert!(check_confirmation(text).is_err(), "{text:?}");
        }
        for text in ["匿名", "✓", "Delete it?"] {
            assert!(!is_blank(text), "{text:?}");
        }
        let item: ImplItemFn = syn::parse2(quote! {
            #[doc = "\u{2800}"]
            async fn f(&self) -> Result<(), E> {}
        })
        .unwrap();
        assert!(is_blank(&doc_comment(&item)));
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

    fn tool_name(args: TokenStream, item: TokenStream) -> (HandlerName, syn::Result<()>) {
        let item: ImplItemFn = syn::parse2(item).unwrap();
        let mut errors = Errors::default();
        let args = HandlerArgs::parse(Kind::Tool, args, &mut errors);
        let name = HandlerName::new(&args, &item);
        name.check(&mut errors);
        (name, errors.into_result())
    }

    #[test]
    fn a_tool_is_named_by_its_name_key_or_its_method() {
        let (name, checked) = tool_name(
            quote!(name = "remove-note"),
            quote!(
                async fn f(&self) {}
            ),
        );
        assert_eq!(name.value, "remove-note");
        assert!(checked.is_ok());
        let (name, checked) = tool_name(
            quote!(),
            quote!(
                async fn r#type(&self) {}
            ),
        );
        assert_eq!(name.value, "type");
        assert!(checked.is_ok());
    }

    #[test]
    fn a_name_key_follows_the_mcp_rule() {
        let long = "x".repeat(129);
        for bad in ["", "two words", "caf\u{e9}", "a/b", &long] {
            let (_, checked) = tool_name(
                quote!(name = #bad),
                quote!(
                    async fn f(&self) {}
                ),
            );
            assert!(checked.is_err(), "{bad:?}");
        }
        let longest = "x".repeat(128);
        for good in ["a", "notes.get-one_2", "A", &longest] {
            let (_, checked) = tool_name(
                quote!(name = #good),
                quote!(
                    async fn f(&self) {}
                ),
            );
            assert!(checked.is_ok(), "{good:?}");
        }
    }

    #[test]
    fn deadlines_are_whole_numbers_with_a_unit() {
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration(" 5s "), Ok(5_000_000_000));
        assert_eq!(parse_duration("2m"), Ok(120_000_000_000));
        assert_eq!(parse_duration("2min"), Ok(120_000_000_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000_000_000));
        assert_eq!(parse_duration("24h"), Ok(86_400_000_000_000));
        for bad in [
            "5",
            "s",
            "1.5s",
            "0ms",
            "5 parsecs",
            "99999999999h",
            "25h",
            "4000000h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}

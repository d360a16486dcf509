//! Parsing `#[secure_tool(key = value, ...)]`, `#[secure_resource(key = value, ...)]` and
//! `#[secure_prompt(key = value, ...)]`: strict, set-once keys, unknown keys are errors with
//! the closest valid key suggested, and every error is collected. `complete(..)`, the one
//! key written as a list, maps names to completer methods.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, LitStr, Token};

use crate::errors::Errors;
use crate::symbol::*;

/// What a handler is made into: a tool (`#[secure_tool]`), a resource
/// (`#[secure_resource]`) or a prompt (`#[secure_prompt]`). Everything that differs between
/// them, from the keys the attribute takes to the words of an error, is chosen by this.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Kind {
    Tool,
    Resource,
    Prompt,
}

impl Kind {
    /// Every kind, in the order the messages list them.
    pub const ALL: [Kind; 3] = [Kind::Tool, Kind::Resource, Kind::Prompt];

    /// The kind whose attribute `attr` is, if it is one of ours.
    pub fn of(attr: &syn::Attribute) -> Option<Self> {
        Kind::ALL
            .into_iter()
            .find(|kind| is_attr(attr, kind.ident()))
    }

    /// The attribute's name: `secure_tool`, `secure_resource` or `secure_prompt`.
    pub const fn ident(self) -> &'static str {
        match self {
            Kind::Tool => SECURE_TOOL,
            Kind::Resource => SECURE_RESOURCE,
            Kind::Prompt => SECURE_PROMPT,
        }
    }

    /// The attribute as messages write it: `#[secure_tool]`, `#[secure_resource]` or
    /// `#[secure_prompt]`.
    pub const fn attribute(self) -> &'static str {
        match self {
            Kind::Tool => "#[secure_tool]",
            Kind::Resource => "#[secure_resource]",
            Kind::Prompt => "#[secure_prompt]",
        }
    }

    /// What the handler becomes: `tool`, `resource` or `prompt`.
    pub const fn noun(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Resource => "resource",
            Kind::Prompt => "prompt",
        }
    }

    /// What a caller does with it, as messages write it: `call this tool`, `read this
    /// resource`, `get this prompt`.
    pub const fn action(self) -> &'static str {
        match self {
            Kind::Tool => "call this tool",
            Kind::Resource => "read this resource",
            Kind::Prompt => "get this prompt",
        }
    }

    /// The keys the attribute takes.
    pub const fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Tool => TOOL_KEYS,
            Kind::Resource => RESOURCE_KEYS,
            Kind::Prompt => PROMPT_KEYS,
        }
    }

    /// What a `complete(..)` entry names: a URI variable of a resource, an argument of a
    /// prompt.
    pub const fn completed(self) -> &'static str {
        match self {
            Kind::Prompt => "argument",
            Kind::Tool | Kind::Resource => "variable",
        }
    }

    /// Why a key of another attribute does not apply to this one, if it does not.
    fn refuses(self, key: &str) -> Option<&'static str> {
        match (self, key) {
            (Kind::Resource, MODE) => Some(
                "a `#[secure_resource]` is read-only and takes no `mode`: a resource is only ever \
                 read; a handler that changes state is a `#[secure_tool(mode = write)]`",
            ),
            (Kind::Prompt, MODE) => Some(
                "a `#[secure_prompt]` is read-only and takes no `mode`: getting a prompt only \
                 renders its messages; a handler that changes state is a \
                 `#[secure_tool(mode = write)]`",
            ),
            (Kind::Resource, ARGUMENT_LIMITS) => Some(
                "a `#[secure_resource]` takes no `argument_limits`: its parameters are the \
                 variables of its URI, whose length the runtime bounds",
            ),
            (Kind::Prompt, ARGUMENT_LIMITS) => Some(
                "a `#[secure_prompt]` takes no `argument_limits`: its arguments are text, checked \
                 against the schema of its arguments struct (bound a length there, with \
                 `#[schemars(length(max = ..))]`)",
            ),
            (Kind::Tool, URI | MIME_TYPE) => Some(
                "a `#[secure_tool]` has no URI nor MIME type: `uri` and `mime_type` are keys of \
                 `#[secure_resource]`",
            ),
            (Kind::Prompt, URI | MIME_TYPE) => Some(
                "a `#[secure_prompt]` has no URI nor MIME type: `uri` and `mime_type` are keys of \
                 `#[secure_resource]`",
            ),
            (Kind::Resource | Kind::Prompt, CONFIRM) => Some(
                "only a `#[secure_tool(mode = write)]` takes `confirm`: reading a resource or \
                 getting a prompt changes nothing the user must agree to",
            ),
            (Kind::Resource | Kind::Prompt, RATE) => Some(
                "a `rate` is a tool's: resource reads and prompt gets count against the \
                 server's limit, `SecureServerBuilder::rate_limit`",
            ),
            (Kind::Tool, COMPLETE) => Some(
                "a `#[secure_tool]` takes no `complete`: completions are for the URI variables of \
                 a `#[secure_resource]` and the arguments of a `#[secure_prompt]`",
            ),
            _ => None,
        }
    }
}

/// A key that may be given once; a second occurrence is reported at the second key.
pub struct Once<T> {
    key: &'static str,
    kind: Kind,
    value: Option<(Ident, T)>,
}

impl<T> Once<T> {
    pub const fn new(key: &'static str, kind: Kind) -> Self {
        Self {
            key,
            kind,
            value: None,
        }
    }

    pub fn set(&mut self, errors: &mut Errors, ident: &Ident, value: T) {
        if self.value.is_some() {
            errors.push_at(
                ident.span(),
                format!(
                    "duplicate `{}` in `{}`: give each key once",
                    self.key,
                    self.kind.attribute()
                ),
            );
        } else {
            self.value = Some((ident.clone(), value));
        }
    }

    pub fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|(_, v)| v)
    }
}

/// `read` or `write`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
}

/// One entry of `complete(id = Self::note_ids, ..)`: the variable (or argument) completed,
/// as an identifier or a string literal, and the completer's path as written.
pub struct CompleteEntry {
    pub name: String,
    /// Where errors about the name belong.
    pub span: Span,
    pub completer: Expr,
}

/// The parsed arguments of `#[secure_tool]`, `#[secure_resource]` or `#[secure_prompt]`,
/// each kept with its tokens for spans. A key the attribute does not take is never set.
pub struct HandlerArgs {
    pub kind: Kind,
    pub authz: Once<Expr>,
    pub mode: Once<Mode>,
    pub breaker: Once<Expr>,
    pub timeout: Once<Expr>,
    pub argument_limits: Once<Expr>,
    pub name: Once<LitStr>,
    pub description: Once<LitStr>,
    pub title: Once<LitStr>,
    pub confirm: Once<LitStr>,
    pub rate: Once<Expr>,
    pub uri: Once<LitStr>,
    pub mime_type: Once<LitStr>,
    pub complete: Once<Vec<CompleteEntry>>,
    /// Keys the user meant but misspelled or gave a bad value: their "missing" errors would
    /// only repeat what was already said.
    mentioned: Vec<&'static str>,
}

impl HandlerArgs {
    /// Whether `key` was misspelled (and suggested) or given an invalid value.
    pub fn mentioned(&self, key: &str) -> bool {
        self.mentioned.contains(&key)
    }
}

impl HandlerArgs {
    /// Parses the arguments of `kind`'s attribute; errors go to `errors` and parsing goes
    /// on where it can.
    pub fn parse(kind: Kind, args: TokenStream, errors: &mut Errors) -> Self {
        let mut out = HandlerArgs {
            kind,
            authz: Once::new(AUTHZ, kind),
            mode: Once::new(MODE, kind),
            breaker: Once::new(BREAKER, kind),
            timeout: Once::new(TIMEOUT, kind),
            argument_limits: Once::new(ARGUMENT_LIMITS, kind),
            name: Once::new(NAME, kind),
            description: Once::new(DESCRIPTION, kind),
            title: Once::new(TITLE, kind),
            confirm: Once::new(CONFIRM, kind),
            rate: Once::new(RATE, kind),
            uri: Once::new(URI, kind),
            mime_type: Once::new(MIME_TYPE, kind),
            complete: Once::new(COMPLETE, kind),
            mentioned: Vec::new(),
        };
        let attribute = kind.attribute();
        let valid = kind.keys();
        let parser = |input: ParseStream| -> syn::Result<()> {
            while !input.is_empty() {
                let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
                if key == COMPLETE {
                    parse_complete(kind, &key, input, &mut out, errors)?;
                    if input.is_empty() {
                        break;
                    }
                    input.parse::<Token![,]>()?;
                    continue;
                }
                if !input.peek(Token![=]) {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("expected `{key} = ...` in `{attribute}`"),
                    ));
                }
                let eq = input.parse::<Token![=]>()?;
                let name = key.to_string();
                match name.as_str() {
                    known if !valid.contains(&known) => {
                        // Skip the value so that later keys are still checked.
                        let value = input.parse::<Expr>()?;
                        if let Some(why) = kind.refuses(known) {
                            errors.push_spanned(quote!(#key #eq #value), why);
                        } else {
                            if let Some(meant) = closest(known, valid) {
                                out.mentioned.push(meant);
                            }
                            errors.push_at(key.span(), unknown_key(known, valid, attribute));
                        }
                    }
                    AUTHZ => out.authz.set(errors, &key, input.parse()?),
                    BREAKER => out.breaker.set(errors, &key, input.parse()?),
                    TIMEOUT => out.timeout.set(errors, &key, input.parse()?),
                    ARGUMENT_LIMITS => out.argument_limits.set(errors, &key, input.parse()?),
                    NAME => out.name.set(errors, &key, input.parse()?),
                    DESCRIPTION => out.description.set(errors, &key, input.parse()?),
                    TITLE => out.title.set(errors, &key, input.parse()?),
                    CONFIRM => out.confirm.set(errors, &key, input.parse()?),
                    RATE => out.rate.set(errors, &key, input.parse()?),
                    URI => out.uri.set(errors, &key, input.parse()?),
                    MIME_TYPE => out.mime_type.set(errors, &key, input.parse()?),
                    MODE => {
                        let value: Ident = input.call(syn::ext::IdentExt::parse_any)?;
                        match value.to_string().as_str() {
                            READ => out.mode.set(errors, &key, Mode::Read),
                            WRITE => out.mode.set(errors, &key, Mode::Write),
                            other => {
                                out.mentioned.push(MODE);
                                errors.push_at(
                                    value.span(),
                                    format!(
                                        "`mode` is `read` or `write`, not `{other}`: a tool that changes state is `mode = write`"
                                    ),
                                );
                            }
                        }
                    }
                    other => unreachable!("`{other}` is a valid key that nothing parses"),
                }
                if input.is_empty() {
                    break;
                }
                input.parse::<Token![,]>()?;
            }
            Ok(())
        };
        if let Err(e) = parser.parse2(args) {
            errors.push(e);
        }
        out
    }
}

/// `complete(id = Self::note_ids, "2fa" = Self::codes)`: each name once; the values are
/// checked later, with the handler. On an attribute that takes no `complete`, the list is
/// skipped and refused in words.
fn parse_complete(
    kind: Kind,
    key: &Ident,
    input: ParseStream,
    out: &mut HandlerArgs,
    errors: &mut Errors,
) -> syn::Result<()> {
    let attribute = kind.attribute();
    let completed = kind.completed();
    // What follows the key: `(..)`, as it should be, or `= value`, or nothing.
    let (list, written) = if input.peek(syn::token::Paren) {
        let content;
        let parens = syn::parenthesized!(content in input);
        let tokens: TokenStream = content.fork().parse()?;
        let mut written = quote!(#key);
        parens.surround(&mut written, |all| all.extend(tokens));
        (Some(content), written)
    } else if input.peek(Token![=]) {
        let eq = input.parse::<Token![=]>()?;
        let value = input.parse::<Expr>()?;
        (None, quote!(#key #eq #value))
    } else {
        (None, quote!(#key))
    };
    if let Some(why) = kind.refuses(COMPLETE) {
        if let Some(content) = list {
            content.parse::<TokenStream>()?;
        }
        errors.push_spanned(written, why);
        return Ok(());
    }
    let Some(content) = list else {
        errors.push_spanned(
            written,
            format!(
                "write `complete({completed} = Self::completer, ..)` in `{attribute}`: a list that \
                 maps each {completed} to a completer method of this impl block"
            ),
        );
        return Ok(());
    };
    let mut entries: Vec<CompleteEntry> = Vec::new();
    while !content.is_empty() {
        let (name, span) = if content.peek(LitStr) {
            let lit: LitStr = content.parse()?;
            (lit.value(), lit.span())
        } else {
            let ident: Ident = content.call(syn::ext::IdentExt::parse_any)?;
            (syn::ext::IdentExt::unraw(&ident).to_string(), ident.span())
        };
        content.parse::<Token![=]>()?;
        let completer: Expr = content.parse()?;
        if entries.iter().any(|e| e.name == name) {
            errors.push_at(
                span,
                format!("`{name}` is completed twice: give each {completed} one completer"),
            );
        } else {
            entries.push(CompleteEntry {
                name,
                span,
                completer,
            });
        }
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    if entries.is_empty() {
        errors.push_at(
            key.span(),
            format!(
                "an empty `complete()` completes nothing: write `complete({completed} = \
                 Self::completer)`, or remove it"
            ),
        );
        return Ok(());
    }
    out.complete.set(errors, key, entries);
    Ok(())
}

/// "unknown key `autz` in `#[secure_tool]`; did you mean `authz`? (valid keys: ...)"
pub fn unknown_key(key: &str, valid: &[&str], attribute: &str) -> String {
    let mut message = format!("unknown key `{key}` in `{attribute}`");
    if let Some(best) = closest(key, valid) {
        message.push_str(&format!("; did you mean `{best}`?"));
    }
    message.push_str(" (valid keys: ");
    message.push_str(
        &valid
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    message.push(')');
    message
}

fn closest<'a>(key: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (levenshtein(key, v), *v))
        .filter(|(d, v)| *d <= (v.len().max(key.len()) / 2).max(1))
        .min()
        .map(|(_, v)| v)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The span of an attribute's name (`tool` in `#[rmcp::tool(...)]`), where errors about
/// the attribute itself belong.
pub fn attr_name_span(attr: &syn::Attribute) -> Span {
    attr.path()
        .segments
        .last()
        .map_or_else(Span::call_site, |s| s.ident.span())
}

/// Whether `attr` is `#[name]` or `#[path::to::name]`.
pub fn is_attr(attr: &syn::Attribute, name: &str) -> bool {
    attr.path().segments.last().is_some_and(|s| s.ident == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn suggests_the_closest_key() {
        assert_eq!(closest("autz", TOOL_KEYS), Some("authz"));
        assert_eq!(closest("mod", TOOL_KEYS), Some("mode"));
        assert_eq!(closest("descripton", TOOL_KEYS), Some("description"));
        assert_eq!(closest("zzzzzzzz", TOOL_KEYS), None);
    }

    #[test]
    fn collects_every_error() {
        let mut errors = Errors::default();
        let args = HandlerArgs::parse(
            Kind::Tool,
            quote!(
                authz = public,
                mode = both,
                authz = public,
                colour = 3,
                name = "x"
            ),
            &mut errors,
        );
        let message = errors.into_result().unwrap_err().into_iter().count();
        assert_eq!(message, 3);
        assert_eq!(args.name.get().map(LitStr::value).as_deref(), Some("x"));
    }

    fn parse_all(kind: Kind, args: TokenStream) -> (HandlerArgs, Vec<String>) {
        let mut errors = Errors::default();
        let args = HandlerArgs::parse(kind, args, &mut errors);
        let messages = match errors.into_result() {
            Ok(()) => Vec::new(),
            Err(all) => all.into_iter().map(|e| e.to_string()).collect(),
        };
        (args, messages)
    }

    #[test]
    fn every_key_of_either_attribute_is_parsed() {
        let (args, messages) = parse_all(
            Kind::Resource,
            quote!(
                uri = "notes://{id}",
                authz = public,
                breaker = self.store,
                timeout = "5s",
                name = "note",
                description = "One note.",
                title = "Note",
                mime_type = "text/markdown",
            ),
        );
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(
            args.uri.get().map(LitStr::value).as_deref(),
            Some("notes://{id}")
        );
        assert_eq!(
            args.mime_type.get().map(LitStr::value).as_deref(),
            Some("text/markdown")
        );
        for key in RESOURCE_KEYS {
            assert!(
                Kind::Tool.keys().contains(key) || [URI, MIME_TYPE, COMPLETE].contains(key),
                "{key}"
            );
        }
        // A prompt's keys are a resource's, but for its URI and MIME type.
        for key in PROMPT_KEYS {
            assert!(RESOURCE_KEYS.contains(key), "{key}");
        }
        for key in RESOURCE_KEYS {
            assert!(
                PROMPT_KEYS.contains(key) || [URI, MIME_TYPE].contains(key),
                "{key}"
            );
        }
    }

    #[test]
    fn complete_maps_names_to_completers_each_once() {
        let (args, messages) = parse_all(
            Kind::Prompt,
            quote!(
                authz = public,
                complete(
                    topic = Self::topics,
                    r#type = Self::kinds,
                    "2fa" = Self::codes
                ),
                title = "T"
            ),
        );
        assert!(messages.is_empty(), "{messages:?}");
        let names: Vec<&str> = args
            .complete
            .get()
            .unwrap()
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["topic", "type", "2fa"]);
        assert!(args.title.get().is_some());

        let (_, messages) = parse_all(
            Kind::Resource,
            quote!(complete(id = Self::a, id = Self::b), complete(x = Self::c)),
        );
        assert!(
            messages[0].contains("`id` is completed twice"),
            "{messages:?}"
        );
        assert!(
            messages[1].contains("duplicate `complete` in `#[secure_resource]`"),
            "{messages:?}"
        );
        let (_, messages) = parse_all(Kind::Prompt, quote!(complete = Self::a, authz = public));
        assert!(
            messages[0].contains("write `complete(argument = Self::completer, ..)`"),
            "{messages:?}"
        );
        let (_, messages) = parse_all(Kind::Prompt, quote!(complete()));
        assert!(
            messages[0].contains("an empty `complete()`"),
            "{messages:?}"
        );
    }

    #[test]
    fn a_prompt_takes_no_mode_uri_nor_argument_limits_and_a_tool_no_complete() {
        for (kind, args, why) in [
            (Kind::Prompt, quote!(mode = read), "read-only"),
            (
                Kind::Prompt,
                quote!(uri = "x://y"),
                "keys of `#[secure_resource]`",
            ),
            (
                Kind::Prompt,
                quote!(mime_type = "text/plain"),
                "keys of `#[secure_resource]`",
            ),
            (
                Kind::Prompt,
                quote!(argument_limits = L),
                "takes no `argument_limits`",
            ),
            (
                Kind::Tool,
                quote!(complete(id = Self::ids)),
                "takes no `complete`",
            ),
            (
                Kind::Tool,
                quote!(complete = Self::ids),
                "takes no `complete`",
            ),
        ] {
            let (args, messages) = parse_all(kind, quote!(#args, authz = public));
            assert_eq!(messages.len(), 1, "{messages:?}");
            assert!(messages[0].contains(why), "{messages:?}");
            assert!(args.authz.get().is_some());
        }
    }

    #[test]
    fn a_resource_takes_no_mode_nor_argument_limits_and_says_why() {
        for args in [
            quote!(uri = "docs://readme", authz = public, mode = write),
            quote!(uri = "docs://readme", authz = public, mode = read),
        ] {
            let (args, messages) = parse_all(Kind::Resource, args);
            assert_eq!(messages.len(), 1, "{messages:?}");
            assert!(messages[0].contains("read-only"), "{messages:?}");
            assert!(args.mode.get().is_none());
            // The keys after it are still read.
            assert!(args.authz.get().is_some());
        }
        let (_, messages) = parse_all(
            Kind::Resource,
            quote!(
                argument_limits = ArgumentLimits::default(),
                uri = "docs://readme"
            ),
        );
        assert!(
            messages[0].contains("takes no `argument_limits`"),
            "{messages:?}"
        );
        let (_, messages) = parse_all(Kind::Tool, quote!(uri = "docs://readme"));
        assert!(
            messages[0].contains("keys of `#[secure_resource]`"),
            "{messages:?}"
        );
    }

    #[test]
    fn errors_name_the_attribute_they_are_about() {
        let (_, messages) = parse_all(
            Kind::Resource,
            quote!(authz = public, authz = public, ur = "x"),
        );
        assert!(
            messages[0].contains("duplicate `authz` in `#[secure_resource]`"),
            "{messages:?}"
        );
        assert!(
            messages[1].contains("unknown key `ur` in `#[secure_resource]`; did you mean `uri`?"),
            "{messages:?}"
        );
        let (_, messages) = parse_all(Kind::Resource, quote!(uri));
        assert!(
            messages[0].contains("in `#[secure_resource]`"),
            "{messages:?}"
        );
    }
}

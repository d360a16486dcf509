//! Parsing `#[secure_tool(key = value, ...)]` and `#[secure_resource(key = value, ...)]`:
//! strict, set-once keys, unknown keys are errors with the closest valid key suggested,
//! and every error is collected.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, LitStr, Token};

use crate::errors::Errors;
use crate::symbol::*;

/// What a handler is made into: a tool (`#[secure_tool]`) or a resource
/// (`#[secure_resource]`). Everything that differs between the two, from the keys the
/// attribute takes to the words of an error, is chosen by this.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Kind {
    Tool,
    Resource,
}

impl Kind {
    /// The kind whose attribute `attr` is, if it is one of ours.
    pub fn of(attr: &syn::Attribute) -> Option<Self> {
        [Kind::Tool, Kind::Resource]
            .into_iter()
            .find(|kind| is_attr(attr, kind.ident()))
    }

    /// The attribute's name: `secure_tool` or `secure_resource`.
    pub const fn ident(self) -> &'static str {
        match self {
            Kind::Tool => SECURE_TOOL,
            Kind::Resource => SECURE_RESOURCE,
        }
    }

    /// The attribute as messages write it: `#[secure_tool]` or `#[secure_resource]`.
    pub const fn attribute(self) -> &'static str {
        match self {
            Kind::Tool => "#[secure_tool]",
            Kind::Resource => "#[secure_resource]",
        }
    }

    /// What the handler becomes: `tool` or `resource`.
    pub const fn noun(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Resource => "resource",
        }
    }

    /// The keys the attribute takes.
    pub const fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Tool => TOOL_KEYS,
            Kind::Resource => RESOURCE_KEYS,
        }
    }

    /// Why a key of the other attribute does not apply to this one, if it does not.
    fn refuses(self, key: &str) -> Option<&'static str> {
        match (self, key) {
            (Kind::Resource, MODE) => Some(
                "a `#[secure_resource]` is read-only and takes no `mode`: a resource is only ever \
                 read; a handler that changes state is a `#[secure_tool(mode = write)]`",
            ),
            (Kind::Resource, ARGUMENT_LIMITS) => Some(
                "a `#[secure_resource]` takes no `argument_limits`: its parameters are the \
                 variables of its URI, whose length the runtime bounds",
            ),
            (Kind::Tool, URI | MIME_TYPE) => Some(
                "a `#[secure_tool]` has no URI nor MIME type: `uri` and `mime_type` are keys of \
                 `#[secure_resource]`",
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

/// The parsed arguments of `#[secure_tool]` or `#[secure_resource]`, each kept with its
/// tokens for spans. A key the attribute does not take is never set.
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
    pub uri: Once<LitStr>,
    pub mime_type: Once<LitStr>,
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
            uri: Once::new(URI, kind),
            mime_type: Once::new(MIME_TYPE, kind),
            mentioned: Vec::new(),
        };
        let attribute = kind.attribute();
        let valid = kind.keys();
        let parser = |input: ParseStream| -> syn::Result<()> {
            while !input.is_empty() {
                let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
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
                Kind::Tool.keys().contains(key) || [URI, MIME_TYPE].contains(key),
                "{key}"
            );
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

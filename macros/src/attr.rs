//! Parsing `#[secure_tool(key = value, ...)]`: strict, set-once keys, unknown keys are
//! errors with the closest valid key suggested, and every error is collected.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, LitStr, Token};

use crate::errors::Errors;
use crate::symbol::*;

/// A key that may be given once; a second occurrence is reported at the second key.
pub struct Once<T> {
    key: &'static str,
    value: Option<(Ident, T)>,
}

impl<T> Once<T> {
    pub const fn new(key: &'static str) -> Self {
        Self { key, value: None }
    }

    pub fn set(&mut self, errors: &mut Errors, ident: &Ident, value: T) {
        if self.value.is_some() {
            errors.push_at(
                ident.span(),
                format!(
                    "duplicate `{}` in `#[secure_tool]`: give each key once",
                    self.key
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

/// The parsed arguments of `#[secure_tool]`, each kept with its tokens for spans.
pub struct ToolArgs {
    pub authz: Once<Expr>,
    pub mode: Once<Mode>,
    pub breaker: Once<Expr>,
    pub timeout: Once<Expr>,
    pub argument_limits: Once<Expr>,
    pub name: Once<LitStr>,
    pub description: Once<LitStr>,
    pub title: Once<LitStr>,
    /// Keys the user meant but misspelled or gave a bad value: their "missing" errors would
    /// only repeat what was already said.
    mentioned: Vec<&'static str>,
}

impl ToolArgs {
    /// Whether `key` was misspelled (and suggested) or given an invalid value.
    pub fn mentioned(&self, key: &str) -> bool {
        self.mentioned.contains(&key)
    }
}

impl ToolArgs {
    /// Parses `args`; errors go to `errors` and parsing goes on where it can.
    pub fn parse(args: TokenStream, errors: &mut Errors) -> Self {
        let mut out = ToolArgs {
            authz: Once::new(AUTHZ),
            mode: Once::new(MODE),
            breaker: Once::new(BREAKER),
            timeout: Once::new(TIMEOUT),
            argument_limits: Once::new(ARGUMENT_LIMITS),
            name: Once::new(NAME),
            description: Once::new(DESCRIPTION),
            title: Once::new(TITLE),
            mentioned: Vec::new(),
        };
        let parser = |input: ParseStream| -> syn::Result<()> {
            while !input.is_empty() {
                let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
                if !input.peek(Token![=]) {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("expected `{key} = ...` in `#[secure_tool]`"),
                    ));
                }
                input.parse::<Token![=]>()?;
                match key.to_string().as_str() {
                    AUTHZ => out.authz.set(errors, &key, input.parse()?),
                    BREAKER => out.breaker.set(errors, &key, input.parse()?),
                    TIMEOUT => out.timeout.set(errors, &key, input.parse()?),
                    ARGUMENT_LIMITS => out.argument_limits.set(errors, &key, input.parse()?),
                    NAME => out.name.set(errors, &key, input.parse()?),
                    DESCRIPTION => out.description.set(errors, &key, input.parse()?),
                    TITLE => out.title.set(errors, &key, input.parse()?),
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
                    other => {
                        if let Some(meant) = closest(other, TOOL_KEYS) {
                            out.mentioned.push(meant);
                        }
                        errors.push_at(key.span(), unknown_key(other, TOOL_KEYS, "#[secure_tool]"));
                        // Skip the value so that later keys are still checked.
                        input.parse::<Expr>()?;
                    }
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
        let args = ToolArgs::parse(
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
}

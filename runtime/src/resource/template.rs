//! A resource's URI, fixed (`docs://readme`) or a template with simple variables
//! (`notes://{id}`, RFC 6570 level 1), and matching a requested URI against it.

use std::borrow::Cow;
use std::fmt;

/// The longest URI a read is matched against: a longer one is a resource that does not
/// exist, answered without being looked at.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// A resource's URI: literal text with `{name}` variables (RFC 6570 simple expansion).
///
/// A variable matches one or more characters up to the next literal text, percent-decoded:
/// `notes://{id}` matches `notes://42` with `id = "42"`, and not `notes://42/x` nor
/// `notes://`. A variable's value is never `/`, `?` or `#`, written or percent-encoded
/// (`notes://42%2Fx` matches nothing), never a dot segment (`.` or `..`) and never a
/// control character, so a handler may use it as one path segment. Two variables side by
/// side (`{a}{b}`) would make the split ambiguous and are refused, as are operators
/// (`{+path}`, `{?q}`), empty or repeated names.
///
/// URIs are compared in their normal form (RFC 3986, 6.2.2): the scheme in lower case,
/// percent-encoded unreserved characters decoded, other percent-encodings in upper case,
/// the fragment dropped. So `NOTES://%34%32` is `notes://42`. A fixed URI is matched by
/// every spelling of it (the authority in any case, dot segments, any percent-encoding
/// too), so a URI cannot dodge a fixed resource by spelling it otherwise
/// (`users://%61dmin` and `USERS://ADMIN` are `users://admin`, which a fixed resource is
/// matched against before any template).
///
/// ```
/// use secure_tool::resource::UriTemplate;
/// let template = UriTemplate::parse("notes://{id}/revisions/{rev}").unwrap();
/// assert_eq!(template.variables().collect::<Vec<_>>(), ["id", "rev"]);
/// let values = template.matches("notes://42/revisions/7").unwrap();
/// assert_eq!(values, [("id", "42".to_owned()), ("rev", "7".to_owned())]);
/// assert!(template.matches("notes://42").is_none());
/// assert!(template.matches("notes://42%2F7/revisions/7").is_none());
/// assert!(template.matches("notes://../revisions/7").is_none());
/// assert_eq!(template.matches("NOTES://%34%32/revisions/7").unwrap()[0].1, "42");
/// assert!(UriTemplate::parse("files://{+path}").is_err());
///
/// let fixed = UriTemplate::parse("users://admin/profile").unwrap();
/// assert!(fixed.matches("users://%61dmin/profile").is_some());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct UriTemplate {
    source: String,
    parts: Vec<Part>,
    /// A fixed URI's key ([`fixed_key`]), made once: what requests are matched against.
    fixed: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

/// Why a URI template was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    template: String,
    reason: &'static str,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid URI template `{}`: {}",
            self.template, self.reason
        )
    }
}

impl std::error::Error for TemplateError {}

impl UriTemplate {
    /// Parses `template`.
    ///
    /// # Errors
    ///
    /// If it is empty, has an unclosed or stray brace, an operator, an empty, invalid or
    /// repeated variable name, two variables side by side, or starts with a variable (the
    /// scheme must be literal).
    ///
    /// `#[secure_resource(uri = "...")]` checks its URI at compile time by these same rules,
    /// in `macros/src/tool/uri.rs` (the macro crate cannot call this one): change both
    /// together, with the same words.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let error = |reason| TemplateError {
            template: template.to_owned(),
            reason,
        };
        if template.is_empty() {
            return Err(error("it is empty"));
        }
        let mut parts = Vec::new();
        // Literal text is kept in normal form, as requested URIs are matched in it.
        let normal = normal_form(template);
        let mut rest = &*normal;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    parts.push(Part::Literal(rest.to_owned()));
                    rest = "";
                }
                Some(at) if rest.as_bytes()[at] == b'}' => {
                    return Err(error("a `}` closes no variable"));
                }
                Some(at) => {
                    if at > 0 {
                        parts.push(Part::Literal(rest[..at].to_owned()));
                    }
                    let after = &rest[at + 1..];
                    let end = after
                        .find('}')
                        .ok_or_else(|| error("a `{` is never closed"))?;
                    let name = &after[..end];
                    if name.is_empty() {
                        return Err(error("a variable has no name"));
                    }
                    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                        return Err(error(
                            "variable names are letters, digits and `_` (operators such as \
                             `{+path}` or `{?query}` are not supported)",
                        ));
                    }
                    if matches!(parts.last(), Some(Part::Variable(_))) {
                        return Err(error(
                            "two variables side by side cannot be told apart: put literal \
                             text between them",
                        ));
                    }
                    if parts
                        .iter()
                        .any(|p| matches!(p, Part::Variable(v) if v == name))
                    {
                        return Err(error("a variable is named twice"));
                    }
                    parts.push(Part::Variable(name.to_owned()));
                    rest = &after[end + 1..];
                }
            }
        }
        if matches!(parts.first(), Some(Part::Variable(_))) {
            return Err(error(
                "it starts with a variable: the scheme must be literal",
            ));
        }
        let fixed = match parts.as_slice() {
            [Part::Literal(text)] => Some(fixed_key(text)),
            _ => None,
        };
        Ok(Self {
            source: template.to_owned(),
            parts,
            fixed,
        })
    }

    /// Whether `other` is this URI or template spelled otherwise (in normal form, a fixed
    /// URI as it is matched): two resources at it could not be told apart.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        match (&self.fixed, &other.fixed) {
            (Some(this), Some(other)) => this == other,
            _ => self.parts == other.parts,
        }
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether this is a fixed URI, without variables.
    pub fn is_fixed(&self) -> bool {
        self.fixed.is_some()
    }

    /// The variables' names, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// The URI a read of `uri` (which this template matches) answers with: this URI when it
    /// is fixed, else `uri` in normal form without its fragment. Never the client's own
    /// spelling, which may carry anything in a fragment or an escape.
    pub(crate) fn answered_uri(&self, uri: &str) -> String {
        if self.fixed.is_some() {
            return self.as_str().to_owned();
        }
        let uri = uri.split_once('#').map_or(uri, |(resource, _)| resource);
        normal_form(uri).into_owned()
    }

    /// The value of each variable if `uri` matches, percent-decoded; `None` if it does not
    /// (or a value is not UTF-8 once decoded, or is not allowed: see [`UriTemplate`], or
    /// `uri` is longer than [`MAX_URI_BYTES`]). Both are compared in normal form.
    pub fn matches<'t>(&'t self, uri: &str) -> Option<Vec<(&'t str, String)>> {
        if uri.len() > MAX_URI_BYTES {
            return None;
        }
        // A fragment is the client's, never part of the resource.
        let uri = uri.split_once('#').map_or(uri, |(resource, _)| resource);
        if let Some(fixed) = &self.fixed {
            // A fixed URI (a resource of its own, often stricter than a template around
            // it) is matched by every spelling of it: authority in any case, dot segments,
            // every percent-encoding. Erring this way hands a read to the fixed resource,
            // under its own policy.
            return (fixed_key(uri) == *fixed).then(Vec::new);
        }
        let uri = normal_form(uri);
        let mut values = Vec::new();
        let mut rest = &*uri;
        let mut parts = self.parts.iter().peekable();
        while let Some(part) = parts.next() {
            match part {
                Part::Literal(text) => rest = rest.strip_prefix(text.as_str())?,
                Part::Variable(name) => {
                    // Up to the next literal (a variable is never followed by another).
                    let end = match parts.peek() {
                        Some(Part::Literal(next)) => rest.find(next.as_str())?,
                        _ => rest.len(),
                    };
                    let raw = &rest[..end];
                    if raw.is_empty() || raw.contains(['/', '?', '#']) {
                        return None;
                    }
                    let value = percent_decode(raw)?;
                    if !allowed_value(&value) {
                        return None;
                    }
                    values.push((name.as_str(), value));
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty().then_some(values)
    }
}

impl fmt::Debug for UriTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UriTemplate").field(&self.source).finish()
    }
}

impl fmt::Display for UriTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Whether a variable may take `value` (decoded): one path segment's worth of text, not a
/// dot segment, without `/`, `?`, `#` or control characters (a `%2F` decoded is a `/`).
pub(crate) fn allowed_value(value: &str) -> bool {
    value != "."
        && value != ".."
        && !value
            .chars()
            .any(|c| matches!(c, '/' | '?' | '#') || c.is_control())
}

/// `uri` in normal form (RFC 3986, 6.2.2.1 and 6.2.2.2): its scheme in lower case, the
/// percent-encodings of unreserved characters (`A`–`Z`, `a`–`z`, `0`–`9`, `-`, `.`, `_`,
/// `~`) decoded and the others' hex digits in upper case. Borrowed when it is already.
pub(crate) fn normal_form(uri: &str) -> Cow<'_, str> {
    let scheme_end = uri
        .find(':')
        .filter(|&end| is_scheme(&uri[..end]))
        .unwrap_or(0);
    let scheme_lower = uri[..scheme_end].bytes().all(|b| !b.is_ascii_uppercase());
    if scheme_lower && !uri.contains('%') {
        return Cow::Borrowed(uri);
    }
    let mut normal = String::with_capacity(uri.len());
    normal.push_str(&uri[..scheme_end].to_ascii_lowercase());
    let mut rest = &uri[scheme_end..];
    while let Some(at) = rest.find('%') {
        normal.push_str(&rest[..at]);
        let escape = &rest[at..];
        match escape.as_bytes().get(1..3).and_then(hex_byte) {
            Some(byte) if is_unreserved(byte) => normal.push(char::from(byte)),
            Some(byte) => {
                normal.push('%');
                normal.push_str(&format!("{byte:02X}"));
            }
            // Not an escape: kept as it is (it decodes to itself).
            None => {
                normal.push('%');
                rest = &escape[1..];
                continue;
            }
        }
        rest = &escape[3..];
    }
    normal.push_str(rest);
    Cow::Owned(normal)
}

/// What a fixed URI is compared by: its normal form, the authority in lower case, the
/// path's dot segments removed (RFC 3986, 5.2.4), every percent-encoding decoded (bytes
/// that are not UTF-8 kept as they are).
fn fixed_key(uri: &str) -> Vec<u8> {
    let uri = normal_form(uri);
    let (head, rest) = match uri.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), &*uri),
    };
    let (authority, path) = if head.is_empty() {
        ("", rest)
    } else {
        rest.find(['/', '?'])
            .map_or((rest, ""), |at| rest.split_at(at))
    };
    let (path, query) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    let mut key = head.into_bytes();
    key.extend(authority.to_ascii_lowercase().bytes());
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/').skip(usize::from(path.starts_with('/'))) {
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    if path.starts_with('/') {
        key.push(b'/');
    }
    key.extend(segments.join("/").bytes());
    if let Some(query) = query {
        key.push(b'?');
        key.extend(query.bytes());
    }
    percent_encoding::percent_decode(&key).collect()
}

/// Whether `uri` may be acknowledged as a subscription's URI: no longer than
/// [`MAX_URI_BYTES`], a scheme, then only the characters RFC 3986 allows in a URI
/// (unreserved, reserved, percent-encodings), without a fragment.
pub(crate) fn acknowledgeable(uri: &str) -> bool {
    uri.len() <= MAX_URI_BYTES
        && uri
            .split_once(':')
            .is_some_and(|(scheme, _)| is_scheme(scheme))
        && uri.bytes().all(|b| {
            is_unreserved(b)
                || b == b'%'
                || matches!(
                    b,
                    b':' | b'/'
                        | b'?'
                        | b'['
                        | b']'
                        | b'@'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                )
        })
}

/// RFC 3986's `scheme`: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// The byte two hex digits write.
fn hex_byte(digits: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(digits).ok()?;
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(text, 16).ok()
}

/// `%XX` sequences decoded; `None` for a result that is not UTF-8.
fn percent_decode(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

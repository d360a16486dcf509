//! The `Origin` check of the bearer layer: the MCP streamable HTTP transport says servers
//! MUST validate the `Origin` header of incoming requests, so that a web page reached
//! through DNS rebinding cannot talk to the server. Origins are compared as RFC 6454 §4
//! serializations: scheme and host in lowercase, a scheme's default port left out.

use std::fmt;

use http::header::{self, HeaderMap};
use http::uri::{Authority, Uri};

use super::ConfigError;
use crate::util::LogSafe;

/// How much of a refused `Origin` header goes to the log.
const LOGGED_ORIGIN_LEN: usize = 128;

/// The origins whose requests may go on: the audience's, then the configured ones, each as
/// its serialization (`scheme://host[:port]`, lowercase, no default port).
pub(super) struct AllowedOrigins {
    origins: Box<[Box<str>]>,
}

impl AllowedOrigins {
    /// The origin of `audience` (already checked to be an absolute `http(s)` URI) and the
    /// configured `extra` origins, each checked.
    pub(super) fn new(audience: &str, extra: &[String]) -> Result<Self, ConfigError> {
        let uri: Uri = audience
            .parse()
            .map_err(|_| ConfigError::new(format!("the audience `{audience}` does not parse")))?;
        let own = match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => serialize(scheme, authority),
            _ => None,
        }
        .ok_or_else(|| {
            ConfigError::new(format!(
                "the audience `{audience}` has no origin (scheme and host)"
            ))
        })?;
        let mut origins = vec![own];
        for origin in extra {
            let normalized = parse_configured(origin)?;
            if !origins.contains(&normalized) {
                origins.push(normalized);
            }
        }
        Ok(Self {
            origins: origins.into_iter().map(Box::from).collect(),
        })
    }

    /// Whether a request with these headers may go on: no `Origin` header (a client that is
    /// not a browser), or one whose origin is allowed.
    pub(super) fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let Some(value) = values.next() else {
            return Ok(());
        };
        let more = values.count();
        if more > 0 {
            return Err(Refusal::Several(more + 1));
        }
        let text = String::from_utf8_lossy(value.as_bytes());
        if text == "null" {
            return Err(Refusal::Null);
        }
        match parse(&text) {
            Some(origin) if self.origins.iter().any(|allowed| **allowed == origin) => Ok(()),
            Some(_) => Err(Refusal::Foreign(text.into_owned())),
            None => Err(Refusal::Malformed(text.into_owned())),
        }
    }
}

impl fmt::Debug for AllowedOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.origins.iter()).finish()
    }
}

/// Why a request's `Origin` was refused, for the log. The header's text is written bounded
/// and escaped.
#[derive(Debug)]
pub(super) enum Refusal {
    /// More than one `Origin` header (how many).
    Several(usize),
    /// `Origin: null`: an opaque origin (a sandboxed frame, a `file:` page, a redirect).
    Null,
    /// A value that is not an origin's serialization.
    Malformed(String),
    /// A well-formed origin that is not allowed.
    Foreign(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Several(count) => write!(f, "the request carries {count} Origin headers"),
            Self::Null => f.write_str("the request's Origin is `null` (an opaque origin)"),
            Self::Malformed(text) => write!(
                f,
                "the request's Origin `{}` is not an origin",
                LogSafe::new(text, LOGGED_ORIGIN_LEN)
            ),
            Self::Foreign(text) => write!(
                f,
                "the request's Origin `{}` is not allowed",
                LogSafe::new(text, LOGGED_ORIGIN_LEN)
            ),
        }
    }
}

/// A configured origin, as its serialization; `null` and anything with a path, a query or
/// user information are mistakes.
fn parse_configured(origin: &str) -> Result<String, ConfigError> {
    let invalid = |why: &str| {
        ConfigError::new(format!(
            "the allowed origin `{origin}` is not an origin: {why} (expected a scheme and a \
             host, e.g. `https://app.example.com` or `http://localhost:5173`)"
        ))
    };
    if origin.eq_ignore_ascii_case("null") {
        return Err(invalid(
            "`null` is the origin of sandboxed frames and local files, which any page can \
             create, so it cannot be allowed",
        ));
    }
    if let Some((_, rest)) = origin.split_once("://")
        && rest.contains(['/', '?', '#'])
    {
        return Err(invalid(
            "it has a path, a query or a fragment (not even `/` is allowed)",
        ));
    }
    parse(origin).ok_or_else(|| invalid("it does not parse as `scheme://host[:port]`"))
}

/// The serialization of the origin `text` (`scheme://host[:port]`), if that is all it is.
fn parse(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    // An empty authority does not parse, and an empty port is refused by `serialize`.
    if !scheme_ok || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let authority: Authority = rest.parse().ok()?;
    serialize(scheme, &authority)
}

/// `scheme://host[:port]` in lowercase, without the scheme's default port; `None` for an
/// authority without a host or with user information or an unreadable port.
fn serialize(scheme: &str, authority: &Authority) -> Option<String> {
    let scheme = scheme.to_ascii_lowercase();
    let host = authority.host().to_ascii_lowercase();
    if host.is_empty() || authority.as_str().contains('@') {
        return None;
    }
    // The port as written: `Authority::port` reads an unreadable one as none.
    let port = match authority.as_str().strip_prefix(authority.host())? {
        "" => None,
        port => Some(
            port.strip_prefix(':')
                .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))?
                .parse::<u16>()
                .ok()?,
        ),
    };
    let default_port = match scheme.as_str() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    Some(match port {
        Some(port) if Some(port) != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn origins_serialize_as_rfc_6454_says() {
        let cases = [
            ("https://mcp.example.com", "https://mcp.example.com"),
            ("https://mcp.example.com:443", "https://mcp.example.com"),
            ("HTTPS://MCP.Example.COM", "https://mcp.example.com"),
            ("http://mcp.example.com:80", "http://mcp.example.com"),
            ("http://mcp.example.com:443", "http://mcp.example.com:443"),
            ("https://mcp.example.com:80", "https://mcp.example.com:80"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://[::1]", "http://[::1]"),
            ("https://mcp.example.com:0443", "https://mcp.example.com"),
            ("chrome-extension://abcdef", "chrome-extension://abcdef"),
        ];
        for (text, serialized) in cases {
            assert_eq!(parse(text).as_deref(), Some(serialized), "{text}");
        }
    }

    #[test]
    fn what_is_not_an_origin_does_not_parse() {
        for text in [
            "",
            "null",
            "mcp.example.com",
            "https://",
            "https://mcp.example.com/",
            "https://mcp.example.com/mcp",
            "https://mcp.example.com?x",
            "https://mcp.example.com#x",
            "https://user@mcp.example.com",
            "https://mcp.example.com:",
            "https://:443",
            "https://:",
            "https://mcp.example.com:99999",
            "https://mcp.example.com:https",
            "https://mcp.example.com https://evil.example.com",
            "1https://mcp.example.com",
            "ht tp://mcp.example.com",
            "://mcp.example.com",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }
}

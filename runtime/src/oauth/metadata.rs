//! The protected resource metadata document of RFC 9728: where it lives, what it says, and
//! the service that serves it.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use serde_json::{Map, Value};

use super::ConfigError;

/// The path of the protected resource metadata document of a resource without a path
/// (RFC 9728 §3). A resource with a path has its document at this path followed by its own
/// (§3.1): see [`BearerAuth::metadata_path`].
///
/// [`BearerAuth::metadata_path`]: super::BearerAuth::metadata_path
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// The metadata document and the paths it is served at.
pub(super) struct Metadata {
    pub(super) document: Arc<str>,
    /// The path of the configured metadata URL first, then [`WELL_KNOWN_PATH`] if it differs.
    pub(super) paths: Box<[Box<str>]>,
}

impl Metadata {
    /// The document of `resource` (RFC 9728 §2), served at `path` and at [`WELL_KNOWN_PATH`].
    pub(super) fn new(
        resource: &str,
        authorization_servers: Vec<String>,
        scopes_supported: &[String],
        path: String,
    ) -> Self {
        let mut document = Map::new();
        document.insert("resource".into(), Value::from(resource));
        document.insert(
            "authorization_servers".into(),
            Value::from(authorization_servers),
        );
        // Refresh tokens are no requirement of a resource: never advertised.
        let scopes_supported: Vec<&str> = scopes_supported
            .iter()
            .map(String::as_str)
            .filter(|scope| *scope != super::OFFLINE_ACCESS)
            .collect();
        if !scopes_supported.is_empty() {
            document.insert("scopes_supported".into(), Value::from(scopes_supported));
        }
        document.insert(
            "bearer_methods_supported".into(),
            Value::from(vec!["header"]),
        );
        let document = Value::Object(document).to_string();

        let mut paths = vec![path.clone()];
        if path != WELL_KNOWN_PATH {
            paths.push(WELL_KNOWN_PATH.to_owned());
        }
        Self {
            document: document.into(),
            paths: paths.into_iter().map(Box::from).collect(),
        }
    }
}

/// The well-known URL of the metadata document of `resource` (RFC 9728 §3.1): the
/// well-known path between the authority and the path, a lone `/` path dropped.
pub(super) fn well_known_url(resource: &str) -> Result<String, ConfigError> {
    let invalid = |why: &str| {
        ConfigError::new(format!(
            "the audience `{resource}` is not a resource URI: {why} (expected e.g. \
             `https://mcp.example.com/mcp`)"
        ))
    };
    if resource.contains('#') {
        return Err(invalid("it has a fragment"));
    }
    let uri: Uri = resource.parse().map_err(|_| invalid("it does not parse"))?;
    let scheme = match uri.scheme_str() {
        Some("https") => "https",
        Some("http") => "http",
        _ => return Err(invalid("it must be an absolute `https` (or `http`) URI")),
    };
    if uri.query().is_some() {
        return Err(invalid("it has a query"));
    }
    let authority = uri
        .authority()
        .map(|a| a.as_str())
        .filter(|a| !a.is_empty() && !a.contains('@'))
        .ok_or_else(|| invalid("it needs a host and no user information"))?;
    let path = match uri.path() {
        "/" => "",
        path => path,
    };
    Ok(format!("{scheme}://{authority}{WELL_KNOWN_PATH}{path}"))
}

/// The path of the resource metadata URL `url`, if it is one a challenge can name.
pub(super) fn parse_metadata_url(url: &str) -> Result<String, ConfigError> {
    let invalid = |why: &str| {
        ConfigError::new(format!(
            "the resource metadata URL `{url}` is not usable: {why}"
        ))
    };
    let uri: Uri = url.parse().map_err(|_| invalid("it does not parse"))?;
    if !matches!(uri.scheme_str(), Some("https" | "http")) || uri.authority().is_none() {
        return Err(invalid("it must be an absolute `https` (or `http`) URL"));
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(invalid("it must not have a query or fragment"));
    }
    if url.contains(['"', '\\']) {
        return Err(invalid("it must not contain `\"` or `\\`"));
    }
    Ok(uri.path().to_owned())
}

/// Serves the protected resource metadata document (RFC 9728) of a [`BearerAuth`]; made by
/// [`BearerAuth::metadata_service`].
///
/// At [`BearerAuth::metadata_path`] and [`WELL_KNOWN_PATH`]: `GET` and `HEAD` answer `200` with
/// the JSON document, `OPTIONS` answers a CORS preflight (the document is public), other
/// methods `405`. Other paths answer `404`, so the service also works as a fallback.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use http::{Request, StatusCode};
/// use secure_tool::oauth::{Algorithm, BearerAuth};
/// use tower::ServiceExt;
///
/// let auth = BearerAuth::builder()
///     .issuer("https://auth.example.com")
///     .audience("https://mcp.example.com/mcp")
///     .hmac_secret(b"0123456789abcdef0123456789abcdef")
///     .algorithms([Algorithm::HS256])
///     .build()?;
/// let request = Request::get(auth.metadata_path()).body(())?;
/// let response = auth.metadata_service().oneshot(request).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(response.headers()["content-type"], "application/json");
/// assert_eq!(response.body(), auth.metadata_document());
/// # Ok(())
/// # }
/// ```
///
/// [`BearerAuth`]: super::BearerAuth
/// [`BearerAuth::metadata_service`]: super::BearerAuth::metadata_service
/// [`BearerAuth::metadata_path`]: super::BearerAuth::metadata_path
#[derive(Clone)]
pub struct MetadataService {
    metadata: Arc<Metadata>,
}

impl fmt::Debug for MetadataService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataService")
            .field("paths", &self.metadata.paths)
            .finish_non_exhaustive()
    }
}

impl<B> tower_service::Service<Request<B>> for MetadataService {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        std::future::ready(Ok(self.respond(request.method(), request.uri().path())))
    }
}

impl MetadataService {
    pub(super) fn new(metadata: Arc<Metadata>) -> Self {
        Self { metadata }
    }

    fn respond(&self, method: &Method, path: &str) -> Response<String> {
        const ALLOWED: HeaderValue = HeaderValue::from_static("GET, HEAD, OPTIONS");
        let mut response = Response::new(String::new());
        if !self.metadata.paths.iter().any(|p| **p == *path) {
            *response.status_mut() = StatusCode::NOT_FOUND;
            return response;
        }
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        match *method {
            Method::GET | Method::HEAD => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                *response.body_mut() = self.metadata.document.to_string();
            }
            Method::OPTIONS => {
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED);
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("*"),
                );
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
            _ => {
                headers.insert(header::ALLOW, ALLOWED);
                *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            }
        }
        response
    }
}

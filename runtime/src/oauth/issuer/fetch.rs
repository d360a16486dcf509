//! The HTTP GETs of key discovery: HTTPS with Mozilla's roots (plain HTTP only to a
//! loopback address, for tests), no redirects followed, bounded in size and time.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCEPT, USER_AGENT};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// What a GET answered: its status, and its body when the status is `200`.
pub(crate) struct Fetched {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

/// A boxed future of [`Fetch::get`].
pub(crate) type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Fetched, String>> + Send + 'a>>;

/// How key discovery reads a URL. A trait so that the refresh logic is tested without a
/// network, on a paused clock.
pub(crate) trait Fetch: Send + Sync + 'static {
    /// GETs `url`, reading at most `limit` bytes of its body.
    fn get<'a>(&'a self, url: &'a Uri, limit: usize) -> FetchFuture<'a>;
}

/// [`Fetch`] over the network.
pub(crate) struct HttpsFetch {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

impl HttpsFetch {
    /// A client that trusts Mozilla's root certificates (`webpki-roots`) and gives up on a
    /// request after `timeout`.
    pub(crate) fn new(timeout: Duration) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot configure TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self { client, timeout })
    }

    async fn get_checked(&self, url: &Uri, limit: usize) -> Result<Fetched, String> {
        check_url(url)?;
        let request = Request::get(url.clone())
            .header(ACCEPT, "application/json")
            .header(
                USER_AGENT,
                concat!("secure-tool/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| format!("cannot build a request for {url}: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("GET {url} failed: {}", error_chain(&e)))?;
        let status = response.status();
        if status != StatusCode::OK {
            return Ok(Fetched {
                status,
                body: Vec::new(),
            });
        }
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| format!("reading {url} failed (at most {limit} bytes are read): {e}"))?
            .to_bytes();
        Ok(Fetched {
            status,
            body: body.to_vec(),
        })
    }
}

impl Fetch for HttpsFetch {
    fn get<'a>(&'a self, url: &'a Uri, limit: usize) -> FetchFuture<'a> {
        Box::pin(async move {
            tokio::time::timeout(self.timeout, self.get_checked(url, limit))
                .await
                .map_err(|_| format!("GET {url} took more than {:?}", self.timeout))?
        })
    }
}

/// An error with its sources, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `https://` to any host, `http://` only to a loopback IP address (a literal: a name such
/// as `localhost` is resolved by whatever the resolver asks); no user information.
pub(crate) fn check_url(url: &Uri) -> Result<(), String> {
    let authority = url
        .authority()
        .ok_or_else(|| format!("`{url}` is not an absolute URL"))?;
    if authority.as_str().contains('@') {
        return Err(format!("`{url}` carries user information"));
    }
    match url.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback(authority.host()) => Ok(()),
        Some("http") => Err(format!(
            "`{url}` is plain HTTP: keys are fetched over HTTPS (plain HTTP only from a \
             loopback address)"
        )),
        _ => Err(format!("`{url}` is not an HTTPS URL")),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_fetch_is_told_with_its_causes_on_one_line() {
        #[derive(Debug)]
        struct Connect(std::io::Error);
        impl std::fmt::Display for Connect {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl std::error::Error for Connect {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            error_chain(&Connect(refused)),
            "client error (Connect): refused"
        );
    }

    #[test]
    fn only_https_or_loopback_http_is_fetched() {
        let check = |url: &str| check_url(&url.parse().unwrap());
        assert!(check("https://auth.example.com/jwks").is_ok());
        assert!(check("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check("http://127.9.9.9/jwks").is_ok());
        assert!(check("http://[::1]:80/jwks").is_ok());
        for refused in [
            "http://localhost/jwks",
            "http://auth.example.com/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.example.com/jwks",
            "ftp://auth.example.com/jwks",
            "https://user:pass@auth.example.com/jwks",
            "/jwks",
        ] {
            assert!(check(refused).is_err(), "{refused} was accepted");
        }
    }
}

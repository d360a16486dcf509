//! The operations listener (`--metrics ADDR`): what orchestrators ask of a replica, apart
//! from the MCP endpoint.
//!
//! - `GET /livez`: `200 ok` while the process answers (a liveness probe restarts a replica
//!   that stops answering, not one whose database is down).
//! - `GET /readyz`: the health monitor's [`Readiness`](secure_tool::health::Readiness):
//!   `200` while reads work, writes degraded included; `503` while reads are degraded, so
//!   that a load balancer sends callers to a replica whose store answers. The body is the
//!   state of both paths, e.g. `{"ready":true,"reads":"healthy","writes":"degraded"}`.
//! - `GET /metrics`: the server's Prometheus series
//!   ([`secure_tool::metrics`]: calls by tool and outcome, errors by category, denials by
//!   cause class, latencies, rate-limited calls, breakers, bulkheads, degraded paths), in
//!   the OpenMetrics text format when the scraper accepts it (Prometheus does), else in
//!   Prometheus' text format 0.0.4.
//!
//! Nothing else is served there (`404`), and nothing there names a caller, a tool's
//! arguments or the database. It has no authentication: bind it to loopback or to a
//! network only the orchestrator reaches.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secure_tool::health::HealthMonitor;
use secure_tool::metrics::prometheus_client::encoding::{prometheus_text, text};
use secure_tool::metrics::prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// The content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of Prometheus' text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The routes of the operations listener over `monitor` and the series of `registry`.
pub fn router(monitor: HealthMonitor, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/livez", get(live))
        .route("/readyz", get(move || ready(monitor.clone())))
        .route(
            "/metrics",
            get(move |headers: HeaderMap| metrics(registry.clone(), headers)),
        )
}

async fn metrics(registry: Arc<Registry>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.contains("application/openmetrics-text"));
    let mut body = String::new();
    let (encoded, content_type) = if openmetrics {
        (text::encode(&mut body, &registry), OPENMETRICS)
    } else {
        (
            prometheus_text::encode(&mut body, &registry),
            PROMETHEUS_TEXT,
        )
    };
    if encoded.is_err() {
        tracing::error!("the metrics could not be written");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn live() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n").into_response()
}

async fn ready(monitor: HealthMonitor) -> Response {
    let readiness = monitor.readiness();
    let status =
        StatusCode::from_u16(readiness.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        readiness.to_json(),
    )
        .into_response()
}

/// Binds `addr` and serves the operations routes over `monitor` and `registry` until the
/// process ends;
/// prints `notes-server: operations on http://IP:PORT` to stderr once it listens (the port
/// the system chose when `addr`'s is 0).
///
/// # Errors
///
/// When `addr` cannot be bound.
pub async fn serve(
    addr: SocketAddr,
    monitor: HealthMonitor,
    registry: Registry,
) -> Result<(), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| format!("cannot listen on {addr} for --metrics: {error}"))?;
    let bound = listener
        .local_addr()
        .map_err(|error| format!("--metrics {addr}: {error}"))?;
    eprintln!("notes-server: operations on http://{bound}");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router(monitor, Arc::new(registry))).await {
            tracing::error!(%error, "the operations listener stopped");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use secure_tool::health::{ServicePath, Status};
    use tower_service::Service as _;

    use super::*;

    async fn get(monitor: &HealthMonitor, path: &str) -> (StatusCode, String) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = router(monitor.clone(), Arc::default())
            .call(request)
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn readiness_follows_the_read_path_and_shows_both() {
        let monitor = HealthMonitor::builder().build();
        assert_eq!(
            get(&monitor, "/readyz").await,
            (
                StatusCode::OK,
                r#"{"ready":true,"reads":"healthy","writes":"healthy"}"#.to_owned()
            )
        );
        monitor.force(ServicePath::Writes, Some(Status::Degraded));
        assert_eq!(
            get(&monitor, "/readyz").await,
            (
                StatusCode::OK,
                r#"{"ready":true,"reads":"healthy","writes":"degraded"}"#.to_owned()
            ),
            "writes degraded: still ready, reads are served"
        );
        monitor.force(ServicePath::Reads, Some(Status::Degraded));
        assert_eq!(
            get(&monitor, "/readyz").await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"ready":false,"reads":"degraded","writes":"degraded"}"#.to_owned()
            )
        );
        // Alive whatever the store does.
        assert_eq!(
            get(&monitor, "/livez").await,
            (StatusCode::OK, "ok\n".to_owned())
        );
    }

    #[tokio::test]
    async fn metrics_are_served_in_the_format_the_scraper_accepts() {
        use secure_tool::metrics::prometheus_client::metrics::counter::Counter;

        let mut registry = Registry::default();
        let counter = Counter::<u64>::default();
        registry.register("probe", "A probe", counter.clone());
        counter.inc();
        let router = router(HealthMonitor::builder().build(), Arc::new(registry));
        let scrape = |accept: Option<&'static str>| {
            let mut router = router.clone();
            async move {
                let mut request = Request::get("/metrics");
                if let Some(accept) = accept {
                    request = request.header(header::ACCEPT, accept);
                }
                let response = router
                    .call(request.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let content_type = response.headers()[header::CONTENT_TYPE].clone();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                (content_type, String::from_utf8(body.to_vec()).unwrap())
            }
        };
        let (content_type, body) = scrape(None).await;
        assert_eq!(content_type, PROMETHEUS_TEXT);
        assert!(
            body.contains("probe_total 1\n") && !body.contains("# EOF"),
            "{body}"
        );
        // What Prometheus sends.
        let prometheus =
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3";
        let (content_type, body) = scrape(Some(prometheus)).await;
        assert_eq!(content_type, OPENMETRICS);
        assert!(body.ends_with("# EOF\n"), "{body}");
    }

    #[tokio::test]
    async fn nothing_else_is_served() {
        let monitor = HealthMonitor::builder().build();
        for path in ["/", "/mcp", "/metrics/../readyz", "/readyz/x", "/metrics/x"] {
            assert_eq!(get(&monitor, path).await.0, StatusCode::NOT_FOUND, "{path}");
        }
    }
}

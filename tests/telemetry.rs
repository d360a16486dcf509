//! The example's OpenTelemetry export (`--otlp-endpoint`), received by an OTLP/HTTP
//! endpoint on loopback that decodes what the exporter sends with the protocol's own
//! message types (`opentelemetry-proto`), after a run of the official Python SDK that made
//! every kind of call (`e2e/metrics_run.py`: tools ok, failing, refused, denied and
//! rate-limited; resource reads; a prompt; a completion).
//!
//! It checks one `SERVER` span per call of `notes-server`, named `<method> <name>`, with
//! the outcome, the error category and the incident id where the caller was given one, an
//! error status only for the server's own failures, the service's name, and no attribute
//! holding the caller's subject or an argument's value. The spans arrive in batches; the
//! last batch when the server stops (the script's session ends). Every wait is bounded.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message as _;
use secure_tool_tests::support;
use secure_tool_tests::support::notes_bin;

/// The subject and the marked argument value of the script: in no span.
const SECRETS: [&str; 2] = ["metrics-writer-9d2e", "MARK-metrics-51f0"];
/// How long the script may take.
const BOUND: Duration = Duration::from_secs(120);

/// One exported span: its name, kind, status and attributes (as text).
#[derive(Debug)]
struct Exported {
    name: String,
    kind: i32,
    status: i32,
    attributes: BTreeMap<String, String>,
    service: String,
}

fn text(value: Option<&Any>) -> String {
    match value {
        Some(Any::StringValue(s)) => s.clone(),
        Some(Any::IntValue(i)) => i.to_string(),
        Some(Any::BoolValue(b)) => b.to_string(),
        Some(Any::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// The spans of one export request.
fn spans(request: ExportTraceServiceRequest) -> Vec<Exported> {
    let mut all = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                all.push(Exported {
                    name: span.name,
                    kind: span.kind,
                    status: span.status.map_or(0, |s| s.code),
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| {
                            (
                                kv.key.clone(),
                                text(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                            )
                        })
                        .collect(),
                    service: service.clone(),
                });
            }
        }
    }
    all
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

#[test]
fn every_call_is_exported_as_one_span_without_the_caller_or_its_arguments() {
    let server = notes_bin::notes_server();
    let received: Arc<Mutex<Vec<Exported>>> = Arc::default();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let collector = listener.local_addr().unwrap();
    let sink = Arc::clone(&received);
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| async move {
            let request = ExportTraceServiceRequest::decode(body).expect("an OTLP request");
            sink.lock().unwrap().extend(spans(request));
            (
                [("content-type", "application/x-protobuf")],
                ExportTraceServiceResponse::default().encode_to_vec(),
            )
        }),
    );
    runtime.spawn(async move { axum::serve(listener, app).await });

    let metrics = format!("127.0.0.1:{}", free_port());
    let endpoint = format!("http://{collector}/v1/traces");
    let (mut script, said) = support::start_python_script(
        "metrics_run.py",
        &[
            ("NOTES_SERVER_BIN", server.as_os_str()),
            ("NOTES_METRICS_ADDR", metrics.as_ref()),
            ("NOTES_OTLP_ENDPOINT", endpoint.as_ref()),
        ],
    );
    loop {
        match said.recv_timeout(BOUND) {
            Ok(line) if line == "calls done" => break,
            Ok(_) => {}
            Err(_) => panic!("the script did not finish its calls"),
        }
    }
    // The session ends, the server stops and sends its last batch.
    script.stdin.take().unwrap().write_all(b"done\n").unwrap();
    let status = notes_bin_wait(&mut script);
    assert!(status, "the script failed");

    let spans = std::mem::take(&mut *received.lock().unwrap());
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for span in &spans {
        *names.entry(span.name.as_str()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = [
        ("tools/call list_notes", 1),
        ("tools/call create_note", 1),
        ("tools/call get_note", 2),
        ("tools/call delete_note", 1),
        ("tools/call backup_notes", 7),
        ("resources/read note", 2),
        ("prompts/get summarise_notes", 1),
        ("completion/complete note", 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(names, expected, "one span per call: {spans:#?}");

    let outcome = |name: &str, outcome: &str| {
        spans
            .iter()
            .filter(|s| s.name == name && s.attributes["secure_tool.outcome"] == outcome)
            .collect::<Vec<_>>()
    };
    for span in &spans {
        assert_eq!(span.kind, SpanKind::Server as i32, "{span:?}");
        assert_eq!(span.service, "notes-server", "{span:?}");
        for secret in SECRETS {
            assert!(
                span.attributes.values().all(|v| !v.contains(secret)),
                "{secret} in {span:?}"
            );
        }
    }
    let limited = outcome("tools/call backup_notes", "rate_limited");
    assert_eq!(limited.len(), 1, "{spans:#?}");
    assert_eq!(limited[0].attributes["error.type"], "rate_limited");
    assert_eq!(
        limited[0].status,
        StatusCode::Unset as i32,
        "a refusal is not the server's failure"
    );
    assert_eq!(
        limited[0].attributes["secure_tool.incident_id"].len(),
        36,
        "{:?}",
        limited[0]
    );
    let missing = outcome("tools/call get_note", "error");
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].attributes["error.type"], "not_found");
    assert_eq!(missing[0].status, StatusCode::Unset as i32);
    let denied = outcome("tools/call delete_note", "denied");
    assert_eq!(denied.len(), 1);
    assert_eq!(outcome("tools/call get_note", "invalid_arguments").len(), 1);
    let ok = outcome("tools/call create_note", "ok");
    assert_eq!(ok.len(), 1);
    assert!(!ok[0].attributes.contains_key("secure_tool.incident_id"));
    assert_eq!(ok[0].attributes["mcp.method.name"], "tools/call");
    assert_eq!(ok[0].attributes["secure_tool.mode"], "write");
    eprintln!(
        "telemetry: {} spans received over OTLP/HTTP from notes-server ({} names), none with \
         the caller or an argument",
        spans.len(),
        names.len()
    );
}

/// Waits for the script, at most [`BOUND`]: whether it exited successfully.
fn notes_bin_wait(child: &mut std::process::Child) -> bool {
    support::http_server::wait_bounded(child, BOUND).is_some_and(|status| status.success())
}

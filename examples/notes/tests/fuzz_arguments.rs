//! Arguments of every tool of the example server from a fuzzer (proptest): arbitrary JSON
//! objects, with the tools' own field names given random types, deep nesting, huge and
//! odd strings. Every call goes through a real MCP session (rmcp's client and server over
//! an in-memory pipe, so every message is serialized and parsed as on a transport), as a
//! caller allowed to use every tool, so that the arguments reach parsing and handlers.
//!
//! What must hold for every call: an answer within its deadline (no hang); a valid MCP
//! answer (a tool result, or a JSON-RPC error for what the protocol itself rejects); a
//! failure is a sanitized error result with a known category and an incident id, and never
//! an internal error (arbitrary input is the caller's fault, not the server's); no answer
//! names the server's files or SQL; no panic escapes (the session still answers
//! afterwards).
//!
//! `FUZZ_CASES` sets the number of cases per tool (default 64; CI runs the default).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use notes_server::settings::Settings;
use notes_server::store::{Archive, Store};
use notes_server::tools::Notes;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use secure_tool::rmcp::RoleClient;
use secure_tool::rmcp::model::{CallToolRequestParams, JsonObject};
use secure_tool::rmcp::service::{RunningService, ServiceError};
use secure_tool::{Principal, SecureServer};
use serde_json::Value;

/// Longer than any tool's deadline (10 s) plus the authorization deadline: a call still
/// unanswered by then hangs.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

const CATEGORIES: [&str; 10] = [
    "invalid_input",
    "not_found",
    "conflict",
    "denied",
    "unavailable",
    "timeout",
    "overloaded",
    "degraded",
    "internal",
    "rate_limited",
];

/// The field names the example's tools take, so that generated objects often hit them.
const FIELDS: [&str; 4] = ["id", "title", "body", "extra"];

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(Value::Null),
        2 => any::<bool>().prop_map(Value::Bool),
        4 => any::<i64>().prop_map(Value::from),
        2 => any::<u64>().prop_map(Value::from),
        2 => any::<f64>().prop_map(Value::from),
        6 => any::<String>().prop_map(Value::String),
        // Huge strings: a 1 MiB title must be stored or refused, not crash anything.
        1 => (0usize..(1 << 20)).prop_map(|n| Value::String("x".repeat(n))),
        1 => Just(Value::String("\u{0}\u{feff}'; DROP TABLE notes; --".into())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(FIELDS.as_slice()).prop_map(str::to_owned),
        any::<String>(),
    ]
}

/// Nested arrays `depth` deep around a number. Up to serde_json's recursion limit (128,
/// the envelope of the message included) the server parses them and must answer; past it,
/// see [`messages_past_the_parsers_nesting_limit_are_answered_and_the_session_goes_on`].
fn deep(depth: usize) -> Value {
    (0..depth).fold(Value::from(1), |inner, _| Value::Array(vec![inner]))
}

fn arguments() -> impl Strategy<Value = JsonObject> {
    prop_oneof![
        8 => prop::collection::vec((field_name(), json_value()), 0..6)
            .prop_map(|fields| fields.into_iter().collect::<JsonObject>()),
        1 => (prop::sample::select(FIELDS.as_slice()), 64usize..120)
            .prop_map(|(field, depth)| [(field.to_owned(), deep(depth))].into_iter().collect()),
    ]
}

/// The example server on a fresh directory, whose local caller may use every tool.
fn server(dir: &std::path::Path) -> SecureServer<Notes> {
    let settings = Settings::default();
    let (store, heartbeat) = Store::open(dir.join("notes.db"), settings.busy_timeout).unwrap();
    let archive = Archive::open(dir.join("archive.db"), settings.busy_timeout).unwrap();
    let backups = dir.join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let notes = Notes::new(store, archive, Some(backups), &settings);
    let monitor = notes.health_monitor(heartbeat, &settings);
    let caller = Principal::new("fuzzer")
        .with_scopes(["notes:read", "notes:write"])
        .with_roles(["admin"]);
    SecureServer::builder(notes)
        .local_principal(caller)
        .health(monitor)
        .build()
}

/// A client session to [`server`].
async fn session(dir: &std::path::Path) -> RunningService<RoleClient, ()> {
    secure_tool::testing::client(server(dir)).await
}

#[derive(Default)]
struct Tally {
    calls: AtomicUsize,
    results: AtomicUsize,
    errors: AtomicUsize,
    protocol_errors: AtomicUsize,
}

async fn check(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    arguments: JsonObject,
    tally: &Tally,
    internals: &[&str],
) -> Result<(), TestCaseError> {
    tally.calls.fetch_add(1, Ordering::Relaxed);
    let request = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
    let answer = tokio::time::timeout(ANSWER_WITHIN, client.call_tool(request))
        .await
        .map_err(|_| TestCaseError::fail(format!("{tool}: no answer within {ANSWER_WITHIN:?}")))?;
    if let Ok(result) = &answer {
        let wire = serde_json::to_string(result).unwrap();
        for internal in internals {
            prop_assert!(
                !wire.contains(internal),
                "{}: the answer leaks {:?}: {}",
                tool,
                internal,
                wire
            );
        }
    }
    match answer {
        Ok(result) if result.is_error == Some(true) => {
            tally.errors.fetch_add(1, Ordering::Relaxed);
            prop_assert!(
                result.structured_content.is_none(),
                "{tool}: an error result with structuredContent, which clients validate against the output schema"
            );
            let error = secure_tool::sanitize::error_facts(&result).ok_or_else(|| {
                TestCaseError::fail(format!("{tool}: an error without its facts"))
            })?;
            let category = error["category"].as_str().unwrap_or_default();
            prop_assert!(
                CATEGORIES.contains(&category),
                "{tool}: unknown category {category:?}"
            );
            prop_assert_ne!(category, "internal", "{}: {}", tool, error);
            prop_assert!(error["incident_id"].is_string(), "{tool}: no incident id");
        }
        Ok(result) => {
            tally.results.fetch_add(1, Ordering::Relaxed);
            prop_assert!(
                !result.content.is_empty(),
                "{tool}: a result with no content"
            );
        }
        // What the protocol layer refuses (a message it cannot parse) is a JSON-RPC error.
        Err(ServiceError::McpError(error)) => {
            tally.protocol_errors.fetch_add(1, Ordering::Relaxed);
            prop_assert!(
                error.code.0 < 0,
                "{tool}: JSON-RPC error code {:?}",
                error.code
            );
        }
        Err(other) => return Err(TestCaseError::fail(format!("{tool}: {other}"))),
    }
    Ok(())
}

#[test]
fn arbitrary_arguments_get_valid_sanitized_answers_in_time() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempdir("fuzz-arguments");
    let client = rt.block_on(session(&dir));
    let tools: Vec<String> = rt
        .block_on(client.list_all_tools())
        .unwrap()
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect();
    assert!(tools.len() >= 7, "the example's tools: {tools:?}");
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    let tally = Tally::default();
    // What only the server knows: where its files are, what its SQL says.
    let dir_text = dir.display().to_string();
    let internals = [
        dir_text.as_str(),
        "SELECT ",
        "INSERT ",
        "rusqlite",
        "panicked",
    ];
    for tool in &tools {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let outcome = runner.run(&arguments(), |arguments| {
            rt.block_on(check(&client, tool, arguments, &tally, &internals))
        });
        if let Err(failure) = outcome {
            panic!("{tool}: {failure}");
        }
    }
    // No panic escaped: the session still answers.
    let info = rt
        .block_on(client.call_tool(CallToolRequestParams::new("server_info")))
        .unwrap();
    assert_eq!(info.is_error, Some(false));
    let calls = tally.calls.load(Ordering::Relaxed);
    println!(
        "fuzzed {calls} calls over {} tools: {} results, {} sanitized errors, {} JSON-RPC errors, 0 hangs, 0 internal errors",
        tools.len(),
        tally.results.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed),
        tally.protocol_errors.load(Ordering::Relaxed),
    );
    assert!(calls >= tools.len() * cases as usize);
    rt.block_on(async { drop(client) });
    let _ = std::fs::remove_dir_all(&dir);
}

/// A call nested past the parser's limit (400 levels) is answered with a JSON-RPC error
/// for its id on the transport `serve_stdio` uses (`secure_tool::stdio`), where rmcp's own
/// transports drop it unanswered; and the session goes on.
#[test]
fn messages_past_the_parsers_nesting_limit_are_answered_and_the_session_goes_on() {
    use secure_tool::rmcp::ServiceExt;
    use secure_tool::stdio::StdioTransport;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempdir("fuzz-deep");
    let client = rt.block_on(async {
        let server = server(&dir);
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let (read, write) = tokio::io::split(server_io);
        tokio::spawn(async move {
            let running = server.serve_trusted(StdioTransport::new(read, write)).await;
            running.unwrap().waiting().await
        });
        ().serve(client_io).await.unwrap()
    });
    let arguments: JsonObject = [("id".to_owned(), deep(400))].into_iter().collect();
    let request = CallToolRequestParams::new("get_note").with_arguments(arguments);
    let answered = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), client.call_tool(request)).await
    });
    match answered {
        Ok(Err(ServiceError::McpError(error))) => assert_eq!(error.code.0, -32600, "{error:?}"),
        other => panic!("expected a -32600 answer, got {other:?}"),
    }
    let info = rt
        .block_on(client.call_tool(CallToolRequestParams::new("server_info")))
        .unwrap();
    assert_eq!(info.is_error, Some(false));
    rt.block_on(async { drop(client) });
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("secure-tool-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

//! The published input schema is the one enforced, for each of the example's tools that
//! takes arguments (proptest): for arbitrary JSON objects shaped like their arguments,
//!
//! - an object the check accepts (`SecureRoute::check_arguments`: the size limits, then the
//!   schema `tools/list` publishes) parses into the tool's type and reaches the handler:
//!   the server's answer is the handler's, never a refusal of the arguments;
//! - an object the check refuses never reaches the handler: the server answers exactly the
//!   check's refusal.
//!
//! - and no string the caller sent (of six characters or more), value or key, is in a
//!   refusal.
//!
//! Both are counted, per tool, and both must happen. `SCHEMA_CASES` sets the cases per tool
//! (default 128).

use std::cell::Cell;
use std::collections::BTreeMap;

use notes_server::settings::Settings;
use notes_server::store::{Archive, Store};
use notes_server::tools::Notes;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use secure_tool::rmcp::model::JsonObject;
use secure_tool::{Principal, SecureServer};
use serde_json::{Value, json};

/// The start of every refusal of arguments by the check.
const REFUSAL: &str = "Invalid arguments:";

fn server(dir: &std::path::Path) -> SecureServer<Notes> {
    let settings = Settings::default();
    let (store, _heartbeat) = Store::open(dir.join("notes.db"), settings.busy_timeout).unwrap();
    let archive = Archive::open(dir.join("archive.db"), settings.busy_timeout).unwrap();
    let notes = Notes::new(store, archive, None, &settings);
    SecureServer::builder(notes).check_outputs(true).build()
}

/// Values near and across the schema's bounds, of the right type and of others.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (-3i64..1_000).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => (0.0f64..20.0).prop_map(|f| json!(f.round())),
        1 => any::<f64>().prop_map(Value::from),
        4 => "[a-z ]{0,12}".prop_map(Value::String),
        1 => (0usize..260).prop_map(|n| Value::String("t".repeat(n))),
        1 => (16_000usize..17_000).prop_map(|n| Value::String("b".repeat(n))),
        2 => "n1\\.[0-9a-f]{0,18}".prop_map(Value::String),
        1 => any::<String>().prop_map(Value::String),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(json!([1, "two"])),
        1 => Just(json!({"nested": {"id": 1}})),
    ]
}

/// Objects with the tool's own fields (each present or not) and now and then another.
fn arguments(fields: &'static [&'static str]) -> impl Strategy<Value = JsonObject> {
    let own = proptest::collection::vec(proptest::option::weighted(0.8, value()), fields.len());
    let extra = proptest::option::weighted(0.1, ("[a-z]{1,6}", value()));
    (own, extra).prop_map(move |(values, extra)| {
        let mut object: JsonObject = fields
            .iter()
            .zip(values)
            .filter_map(|(name, value)| Some(((*name).to_owned(), value?)))
            .collect();
        if let Some((name, value)) = extra {
            object.insert(name, value);
        }
        object
    })
}

/// Every string in `value`, keys included.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(object) => object
            .iter()
            .flat_map(|(key, value)| std::iter::once(key.as_str()).chain(strings(value)))
            .collect(),
        _ => Vec::new(),
    }
}

#[derive(Debug, Default)]
struct Counts {
    accepted: Cell<usize>,
    refused: Cell<usize>,
}

#[test]
fn what_the_schema_accepts_reaches_the_handler_and_what_it_refuses_never_does() {
    let cases = std::env::var("SCHEMA_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(128);
    let dir = std::env::temp_dir().join(format!("notes-schema-property-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = server(&dir);
    let caller = Principal::new("prop")
        .with_scopes(["notes:read", "notes:write"])
        .with_roles(["admin"]);
    let tools: [(&str, &'static [&'static str]); 4] = [
        ("get_note", &["id"]),
        ("delete_note", &["id"]),
        ("create_note", &["title", "body"]),
        ("list_notes", &["cursor"]),
    ];
    let mut counts: BTreeMap<&str, Counts> = BTreeMap::new();
    for (tool, fields) in tools {
        let route = server
            .tools()
            .route(tool)
            .expect("the example's tool")
            .clone();
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let tally = counts.entry(tool).or_default();
        runner
            .run(&arguments(fields), |object| {
                let value = Value::Object(object.clone());
                let verdict = route.check_arguments(&value);
                let answer = runtime
                    .block_on(server.call(tool, Some(object), caller.clone()))
                    .map_err(|error| TestCaseError::fail(format!("{tool}: {error}")))?;
                let message = secure_tool::sanitize::error_facts(&answer)
                    .and_then(|facts| facts["message"].as_str().map(str::to_owned));
                match verdict {
                    Ok(()) => {
                        tally.accepted.set(tally.accepted.get() + 1);
                        prop_assert!(
                            !message.as_deref().is_some_and(|m| m.starts_with(REFUSAL)),
                            "{tool}: the check accepted {value}, the server refused it: {message:?}"
                        );
                    }
                    Err(refusal) => {
                        tally.refused.set(tally.refused.get() + 1);
                        // Nothing the caller sent comes back in the refusal (the tool's own
                        // field names are the schema's, not the caller's).
                        let wire = serde_json::to_string(&answer).unwrap();
                        let sent = strings(&value).into_iter();
                        for sent in sent.filter(|s| s.chars().count() >= 6 && !fields.contains(s)) {
                            prop_assert!(!wire.contains(sent), "{}: echoed {:?}", tool, sent);
                        }
                        prop_assert_eq!(
                            message.as_deref(),
                            Some(refusal.as_str()),
                            "{}: refused {} by the check, answered otherwise",
                            tool,
                            value
                        );
                    }
                }
                Ok(())
            })
            .unwrap_or_else(|failure| panic!("{failure}"));
    }
    eprintln!("accepted and refused, per tool: {counts:?}");
    for (tool, tally) in &counts {
        assert!(
            tally.accepted.get() > 0,
            "{tool}: no generated object was accepted"
        );
        assert!(
            tally.refused.get() > 0,
            "{tool}: no generated object was refused"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

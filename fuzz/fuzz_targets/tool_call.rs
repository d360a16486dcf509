//! One arbitrary tool call against the example notes server, in process, as a caller
//! allowed to use every tool. The first byte picks the tool; the rest is the arguments:
//! a JSON object as it is, any other JSON value or invalid JSON wrapped into the tools'
//! own fields. Fails on a panic that escapes, an answer that takes longer than the
//! deadlines allow, an internal error (arbitrary input is the caller's fault) or an error
//! result without its sanitized category and incident id.
//!
//! ```text
//! cargo fuzz run --sanitizer none tool_call -- -max_total_time=60
//! ```

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use notes_server::settings::Settings;
use notes_server::store::{Archive, Store};
use notes_server::tools::Notes;
use secure_tool::rmcp::model::JsonObject;
use secure_tool::{Principal, SecureServer};
use serde_json::Value;

struct Harness {
    runtime: tokio::runtime::Runtime,
    server: SecureServer<Notes>,
    tools: Vec<String>,
    caller: Principal,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let dir = std::env::temp_dir().join(format!("secure-tool-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("backups")).expect("a scratch directory");
        let settings = Settings::default();
        let (store, _heartbeat) =
            Store::open(dir.join("notes.db"), settings.busy_timeout).expect("the store");
        let archive =
            Archive::open(dir.join("archive.db"), settings.busy_timeout).expect("the archive");
        let server = SecureServer::new(Notes::new(
            store,
            archive,
            Some(dir.join("backups")),
            &settings,
        ));
        let tools = server.tools().tool_names();
        let caller = Principal::new("fuzzer")
            .with_scopes(["notes:read", "notes:write"])
            .with_roles(["admin"]);
        Harness {
            runtime,
            server,
            tools,
            caller,
        }
    })
}

fn arguments(bytes: &[u8]) -> Option<JsonObject> {
    if bytes.is_empty() {
        return None;
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Some(object),
        Ok(other) => Some(
            [
                ("id".to_owned(), other.clone()),
                ("title".to_owned(), other),
            ]
            .into_iter()
            .collect(),
        ),
        Err(_) => Some(
            [(
                "title".to_owned(),
                Value::String(String::from_utf8_lossy(bytes).into_owned()),
            )]
            .into_iter()
            .collect(),
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let harness = harness();
    let tool = &harness.tools[usize::from(pick) % harness.tools.len()];
    let call = harness
        .server
        .call(tool, arguments(rest), harness.caller.clone());
    let answer = harness
        .runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(15), call).await })
        .unwrap_or_else(|_| panic!("{tool}: no answer within 15 s"))
        .unwrap_or_else(|error| panic!("{tool}: not a tool result: {error:?}"));
    if answer.is_error == Some(true) {
        assert!(answer.structured_content.is_none(), "{tool}: structured error");
        let error = secure_tool::sanitize::error_facts(&answer).expect("an error result's facts");
        let category = error["category"].as_str().expect("a category");
        assert_ne!(category, "internal", "{tool}: {error}");
        assert!(error["incident_id"].is_string(), "{tool}: no incident id");
    }
});

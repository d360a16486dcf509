//! Over stdio every request gets an answer: the real binary, raw JSON-RPC lines.
//!
//! A `tools/call` whose arguments nest 200 levels deep (past serde_json's limit) and one
//! longer than the 16 MiB line limit (its id at the very end of the line) each get a
//! JSON-RPC error for their id, within [`ANSWER`], that echoes nothing of the request; the
//! log says why in a bounded line, without the content; a line with no id to answer to is
//! dropped with a warning; and the session answers normal calls afterwards.
//!
//! rmcp's own stdio transport drops both requests unanswered (the official Python SDK then
//! waits for ever): with `serve_stdio` on it, this test fails at the first answer.

mod support;

use std::fs;
use std::time::Duration;

use serde_json::{Value, json};
use support::stdio_server::StdioServer;

/// How long each answer may take: a 17 MiB line through a pipe takes well under a second.
const ANSWER: Duration = Duration::from_secs(10);
/// What the client's payloads carry: found in an answer or the log, it was echoed.
const CANARY: &str = "stdio-canary-";

fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(CANARY), |inner, _| Value::Array(vec![inner]))
}

#[test]
fn too_deep_and_too_long_requests_are_answered_for_their_id_and_the_session_goes_on() {
    let mut server = StdioServer::start("stdio-answers");
    let log = server.log.clone();

    server.send(&json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw-lines", "version": "1"}
        }
    }));
    let (initialized, _) = server.answer(&json!(1), ANSWER);
    assert!(
        initialized["result"]["serverInfo"].is_object(),
        "{initialized}"
    );
    server.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));

    // 200 levels of arguments.
    server.send(&json!({
        "jsonrpc": "2.0", "id": "deep", "method": "tools/call",
        "params": {"name": "get_note", "arguments": {"id": 1, "extra": nested(200)}}
    }));
    let (deep, deep_took) = server.answer(&json!("deep"), ANSWER);

    // Longer than 16 MiB, the id last: it is read past the limit.
    let mut long = br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"create_note","arguments":{"title":""#.to_vec();
    long.extend(CANARY.repeat((17 << 20) / CANARY.len()).into_bytes());
    long.extend_from_slice(br#""}},"id":2}"#);
    server.send_line(&long);
    let (too_long, long_took) = server.answer(&json!(2), ANSWER);

    // A line too long with no id: dropped, and said so.
    let mut no_id =
        br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"p":""#.to_vec();
    no_id.extend(CANARY.repeat((17 << 20) / CANARY.len()).into_bytes());
    no_id.extend_from_slice(br#""}}"#);
    server.send_line(&no_id);

    // The session goes on.
    server.send(
        &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "server_info"}}),
    );
    let (info, _) = server.answer(&json!(3), ANSWER);
    println!(
        "200 levels deep: {} in {deep_took:?}; {} bytes: {} in {long_took:?}; then server_info: \
         isError {}",
        deep["error"],
        long.len(),
        too_long["error"],
        info["result"]["isError"]
    );
    assert_eq!(deep["error"]["code"], -32600, "{deep}");
    assert_eq!(too_long["error"]["code"], -32600, "{too_long}");
    assert!(
        deep["error"]["message"]
            .as_str()
            .unwrap()
            .contains("127 levels"),
        "{deep}"
    );
    assert!(
        too_long["error"]["message"]
            .as_str()
            .unwrap()
            .contains("16777216 bytes"),
        "{too_long}"
    );
    for answer in [&deep, &too_long] {
        assert!(!answer.to_string().contains(CANARY), "echoed: {answer}");
    }
    assert_eq!(info["result"]["isError"], false, "{info}");

    server.close(ANSWER);
    let log = fs::read_to_string(&log).unwrap();
    assert!(
        !log.contains(CANARY),
        "the log carries the client's content"
    );
    let refusals: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("secure_tool::stdio"))
        .collect();
    assert_eq!(refusals.len(), 3, "one warning per line refused:\n{log}");
    assert!(
        refusals.iter().all(|line| line.len() < 1024),
        "{refusals:?}"
    );
    assert!(refusals[2].contains("notification"), "{}", refusals[2]);
}

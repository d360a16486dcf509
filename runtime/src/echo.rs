//! What rmcp's own answers quote of the client, taken out before they leave this server.
//!
//! rmcp answers a request whose `_meta` names a protocol version it does not support with
//! `-32022` and `data: {"requested": <the client's string>, "supported": [...]}`, before any
//! handler of this crate sees the request: any string the client put there (a prompt
//! injection, a marker) would come back to it, and to the model reading the error. The
//! versions the server supports stay (a client negotiates with them); what it was sent
//! goes. Both transports apply it: stdio to each message it writes, [`SafeErrors`] to the
//! bodies of rmcp's HTTP answers (the error ones are replaced whole; these come in
//! `200 OK` answers of sessions).
//!
//! [`SafeErrors`]: crate::oauth::SafeErrors

use rmcp::model::ErrorCode;
use serde_json::Value;

/// The key of `-32022`'s data that holds what the client asked for.
const REQUESTED: &str = "requested";

/// Takes the client's words out of `error`, if it is one that quotes them.
#[cfg_attr(not(feature = "stdio"), allow(dead_code))]
pub(crate) fn forget_requested(error: &mut rmcp::ErrorData) {
    if error.code == ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
        && let Some(Value::Object(data)) = &mut error.data
    {
        data.remove(REQUESTED);
    }
}

/// `bytes` (a JSON-RPC message, or server-sent events whose data lines are), with the
/// client's words taken out of every error that quotes them; `None` when none does (the
/// bytes go as they are: a message that quotes nothing is never rewritten).
///
/// A rewritten message is padded with spaces to its length (JSON allows them after a
/// value), so that the body keeps the length it announced.
#[cfg(feature = "oauth")]
pub(crate) fn forget_requested_in(bytes: &[u8]) -> Option<Vec<u8>> {
    // Every body frame of rmcp's answers passes here: one vectorized search, nothing more,
    // for the frames that quote nothing.
    memchr::memmem::find(bytes, b"\"requested\"")?;
    if let Some(rewritten) = rewrite_message(bytes) {
        return Some(rewritten);
    }
    // Server-sent events: each `data:` line holds one message.
    let mut changed = false;
    let mut out = Vec::with_capacity(bytes.len());
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let rewritten = line.strip_prefix(b"data:").and_then(|data| {
            let end = data.len()
                - data
                    .iter()
                    .rev()
                    .take_while(|b| b.is_ascii_whitespace())
                    .count();
            rewrite_message(&data[..end]).map(|message| (message, &data[end..]))
        });
        match rewritten {
            Some((message, tail)) => {
                changed = true;
                out.extend_from_slice(b"data:");
                out.extend_from_slice(&message);
                out.extend_from_slice(tail);
            }
            None => out.extend_from_slice(line),
        }
    }
    changed.then_some(out)
}

#[cfg(feature = "oauth")]
/// One JSON-RPC message, rewritten if it is an error that quotes the client, and padded
/// to the length it had (a message without a key is never longer).
fn rewrite_message(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut message: Value = serde_json::from_slice(bytes).ok()?;
    let error = message.get_mut("error")?;
    if error.get("code")?.as_i64()? != i64::from(ErrorCode::UNSUPPORTED_PROTOCOL_VERSION.0) {
        return None;
    }
    error.get_mut("data")?.as_object_mut()?.remove(REQUESTED)?;
    let mut rewritten = serde_json::to_vec(&message).ok()?;
    if rewritten.len() < bytes.len() {
        rewritten.resize(bytes.len(), b' ');
    }
    Some(rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsupported() -> rmcp::ErrorData {
        rmcp::ErrorData::unsupported_protocol_version(
            serde_json::from_value(serde_json::json!("MARK ignore previous")).unwrap(),
            &[rmcp::model::ProtocolVersion::V_2025_11_25],
        )
    }

    #[test]
    fn an_unsupported_version_answer_keeps_the_servers_versions_not_the_clients() {
        let mut error = unsupported();
        forget_requested(&mut error);
        let data = error.data.unwrap();
        assert_eq!(data, serde_json::json!({"supported": ["2025-11-25"]}));
    }

    #[cfg(feature = "oauth")]
    #[test]
    fn the_words_are_taken_out_of_a_json_answer_and_of_events() {
        let message = serde_json::json!({"jsonrpc": "2.0", "id": 3, "error": unsupported()});
        let json = serde_json::to_vec(&message).unwrap();
        let rewritten = forget_requested_in(&json).unwrap();
        assert_eq!(rewritten.len(), json.len(), "the length is kept");
        let rewritten: Value = serde_json::from_slice(&rewritten).unwrap();
        assert_eq!(rewritten["id"], 3);
        assert_eq!(
            rewritten["error"]["data"],
            serde_json::json!({"supported": ["2025-11-25"]})
        );

        let events = format!("id: 0\ndata: {message}\n\n").into_bytes();
        let rewritten = String::from_utf8(forget_requested_in(&events).unwrap()).unwrap();
        assert!(!rewritten.contains("MARK"), "{rewritten}");
        assert_eq!(rewritten.len(), events.len(), "the length is kept");
        assert!(rewritten.starts_with("id: 0\ndata:{"), "{rewritten}");
        let data = rewritten
            .lines()
            .nth(1)
            .unwrap()
            .strip_prefix("data:")
            .unwrap();
        let data: Value = serde_json::from_str(data).unwrap();
        assert_eq!(
            data["error"]["data"],
            serde_json::json!({"supported": ["2025-11-25"]})
        );

        // Anything else goes as it is, a tool's result that says "requested" included.
        let result = br#"data: {"jsonrpc":"2.0","id":1,"result":{"requested":"x"}}"#;
        assert_eq!(forget_requested_in(result), None);
        assert_eq!(forget_requested_in(b"data: {}\n\n"), None);
    }
}

//! A call's arguments, from JSON to the handler's type: the caller is told which field is
//! wrong and what was expected, never a Rust type path.

use rmcp::model::JsonObject;
use serde::de::DeserializeOwned;

use crate::audit;

/// Parses tool arguments, naming the offending field and the expectation, never a Rust
/// type path. Long messages (they may echo the caller's input) are cut.
///
/// Only serde's own messages (invalid type or value, missing, unknown or duplicate field,
/// unknown variant, wrong length) are shown: they describe what the caller sent. A message
/// of a custom `Deserialize` implementation (`serde::de::Error::custom`, `try_from`) may say
/// anything, so the caller gets a generic one and the log gets the original: validate in
/// the handler with `ToolError::invalid_input` to show a message of your own.
pub(super) fn parse_arguments<A: DeserializeOwned>(
    arguments: Option<JsonObject>,
) -> Result<A, String> {
    let value = serde_json::Value::Object(arguments.unwrap_or_default());
    serde_path_to_error::deserialize::<_, A>(value).map_err(|error| {
        let path = error.path().to_string();
        let original = error.into_inner().to_string();
        let detail = if is_serde_message(&original) {
            clip(&original, 200)
        } else {
            // The path names the caller's keys, and the message may quote its values: both
            // are cut, so that the line stays short.
            tracing::info!(
                target: audit::TARGET,
                path = %clip(&path, 256),
                detail = %clip(&original, 1024),
                "arguments rejected by a custom deserializer (its message is not shown to the caller)"
            );
            "the value is not valid".to_owned()
        };
        if path == "." {
            format!("Invalid arguments: {detail}")
        } else {
            format!("Invalid arguments: `{path}`: {detail}")
        }
    })
}

/// `text`, cut to its first `limit` bytes (on a character boundary) and marked `…` if it
/// was longer.
fn clip(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let cut = (0..=limit)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}

/// Whether `message` is one of the messages serde itself writes for a value that does not
/// match its type (`serde::de::Error::invalid_type` and its siblings).
fn is_serde_message(message: &str) -> bool {
    const SERDE: [&str; 7] = [
        "invalid type: ",
        "invalid value: ",
        "invalid length ",
        "unknown variant `",
        "unknown field `",
        "missing field `",
        "duplicate field `",
    ];
    SERDE.iter().any(|prefix| message.starts_with(prefix))
}

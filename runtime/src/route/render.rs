//! A handler's value as an MCP result: text for every client, structured content for
//! those that read it.

use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;

/// How a tool's results are rendered, decided once per route from its output type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rendering {
    /// The output schema is an object: the value goes in `structuredContent` too.
    pub(crate) structured: bool,
    /// The output type is [`Partial`](crate::partial::Partial): its warnings are also said
    /// in words, for clients that drop `structuredContent`. Decided by the type, never by
    /// the value's shape: a tool's own `warnings` field is its own.
    pub(crate) partial: bool,
}

/// `value` as compact JSON text, the same text as its `Display`, written into one buffer
/// sized for a small result: `Display` goes through `fmt::Write` a token at a time into
/// a string grown from empty (a reallocation at every doubling).
pub(super) fn json_text(value: &serde_json::Value) -> Result<String, serde_json::Error> {
    serde_json::to_string(value)
}

pub(super) fn success_result<T: Serialize>(
    value: T,
    rendering: Rendering,
) -> Result<CallToolResult, serde_json::Error> {
    let value = serde_json::to_value(&value)?;
    let text = match &value {
        serde_json::Value::String(s) => s.clone(),
        other => json_text(other)?,
    };
    let mut content = vec![ContentBlock::text(text)];
    // Many clients drop `structuredContent`: say what is missing in words too.
    if rendering.partial
        && let Some(warnings) = crate::partial::warnings_text(&value)
    {
        content.push(ContentBlock::text(warnings));
    }
    let mut result = CallToolResult::success(content);
    if rendering.structured {
        result.structured_content = Some(value);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Rendering, json_text, success_result};

    /// The text every client reads is the value's compact JSON, byte for byte what
    /// `Display` wrote before: escapes, non-ASCII text, numbers and nesting alike.
    #[test]
    fn a_results_text_is_its_compact_json() {
        let values = [
            json!({ "id": 7, "title": "a \"quoted\" line\nand a tab\t", "ok": true }),
            json!({ "name": "Zoë 東京 🚀", "control": "\u{0001}\u{001f}", "slash": "a/b\\c" }),
            json!([
                1.5,
                -0.0,
                1e300,
                18_446_744_073_709_551_615_u64,
                -9_223_372_036_854_775_808_i64
            ]),
            json!({ "nested": { "items": [{ "a": null }, [], {}] }, "empty": "" }),
        ];
        for value in values {
            assert_eq!(json_text(&value).expect("a value"), value.to_string());
            let rendered = success_result(
                &value,
                Rendering {
                    structured: true,
                    partial: false,
                },
            )
            .expect("rendered");
            let text = rendered.content[0].as_text().expect("a text block");
            assert_eq!(text.text, value.to_string());
            assert_eq!(rendered.structured_content.as_ref(), Some(&value));
        }
    }
}

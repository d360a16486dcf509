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

pub(super) fn success_result<T: Serialize>(
    value: T,
    rendering: Rendering,
) -> Result<CallToolResult, serde_json::Error> {
    let value = serde_json::to_value(&value)?;
    let text = match &value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
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

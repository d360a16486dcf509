//! A handler's value as an MCP result: text for every client, structured content for
//! those that read it.

use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;

pub(super) fn success_result<T: Serialize>(
    value: &T,
    structured: bool,
) -> Result<CallToolResult, serde_json::Error> {
    let value = serde_json::to_value(value)?;
    let text = match &value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut content = vec![ContentBlock::text(text)];
    // Many clients drop `structuredContent`: say what is missing in words too.
    if let Some(warnings) = crate::partial::warnings_text(&value) {
        content.push(ContentBlock::text(warnings));
    }
    let mut result = CallToolResult::success(content);
    if structured {
        result.structured_content = Some(value);
    }
    Ok(result)
}

//! [`RichResult`]: a tool's answer that is not only JSON — text, images, audio, embedded
//! resources and resource links — with a structured part that is still schema'd.

use base64::Engine as _;
use rmcp::model::{CallToolResult, ContentBlock, Resource};
use serde::Serialize;

use super::render::Rendering;
use crate::resource::ResourceBody;

/// A tool result of content blocks, and optionally a structured value `T` (published as
/// the tool's output schema when `T` is an object). It cannot be an error: a failure is
/// a `ToolError`, so no content block can carry internal text in an error result.
///
/// ```
/// use secure_tool::prelude::*;
///
/// #[derive(Clone)]
/// struct Charts;
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Stats { points: u32 }
///
/// #[secure_tool_router]
/// impl Charts {
///     /// Draws the chart.
///     #[secure_tool(authz = public, mode = read)]
///     async fn chart(&self) -> Result<RichResult<Stats>, ToolError> {
///         let png = vec![0x89, b'P', b'N', b'G'];
///         Ok(RichResult::structured(Stats { points: 3 })
///             .text("The chart of the last 3 points.")
///             .image(png, "image/png")
///             .link("charts://latest", "latest chart"))
///     }
/// }
/// impl secure_tool::rmcp::ServerHandler for Charts {}
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = SecureServer::new(Charts);
/// let result = server.call("chart", None, Principal::anonymous()).await.unwrap();
/// assert_eq!(result.content.len(), 3);
/// assert_eq!(result.structured_content.unwrap()["points"], 3);
/// assert!(server.tools().route("chart").unwrap().tool().output_schema.is_some());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RichResult<T = ()> {
    blocks: Vec<ContentBlock>,
    structured: Option<T>,
}

/// Content blocks only, as [`RichResult::new`]. Only without a structured type: a
/// `RichResult<T>` publishes `T`'s output schema, and a result without its value would
/// break it (clients refuse a result without the `structuredContent` its tool's schema
/// promises).
///
/// ```
/// let empty = secure_tool::route::RichResult::default();
/// assert!(empty.blocks().is_empty());
/// ```
///
/// A result with a structured type has no default (its value would be missing):
///
/// ```compile_fail
/// #[derive(Default, serde::Serialize, schemars::JsonSchema)]
/// struct Chart {
///     points: u32,
/// }
/// let missing: secure_tool::route::RichResult<Chart> = Default::default();
/// ```
impl Default for RichResult<()> {
    fn default() -> Self {
        Self::new()
    }
}

impl RichResult<()> {
    /// Content blocks only, no structured value (and no output schema).
    pub fn new() -> Self {
        Self {
            blocks: Vec::new(),
            structured: None,
        }
    }
}

impl<T> RichResult<T> {
    /// Content blocks beside the structured `value`, which is sent as
    /// `structuredContent` (checked against the output schema when the server checks
    /// outputs) and, when no block is added, as JSON text.
    pub fn structured(value: T) -> Self {
        Self {
            blocks: Vec::new(),
            structured: Some(value),
        }
    }

    /// Adds a text block.
    pub fn text(self, text: impl Into<String>) -> Self {
        self.block(ContentBlock::text(text))
    }

    /// Adds an image, base64-encoded, of type `mime_type` (`image/png`, ...).
    pub fn image(self, bytes: impl AsRef<[u8]>, mime_type: impl Into<String>) -> Self {
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        self.block(ContentBlock::image(data, mime_type))
    }

    /// Adds audio, base64-encoded, of type `mime_type` (`audio/wav`, ...).
    pub fn audio(self, bytes: impl AsRef<[u8]>, mime_type: impl Into<String>) -> Self {
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        self.block(ContentBlock::audio(data, mime_type))
    }

    /// Embeds the resource at `uri` with `body` as its contents.
    pub fn resource(self, uri: impl Into<String>, body: ResourceBody) -> Self {
        let uri = uri.into();
        let contents = body.into_contents(&uri, None);
        self.block(ContentBlock::resource(contents))
    }

    /// Adds a link to the resource at `uri`, named `name`, for the client to read.
    pub fn link(self, uri: impl Into<String>, name: impl Into<String>) -> Self {
        self.block(ContentBlock::resource_link(Resource::new(uri, name)))
    }

    /// Adds a link described in full (title, description, MIME type, size).
    pub fn resource_link(self, resource: Resource) -> Self {
        self.block(ContentBlock::resource_link(resource))
    }

    fn block(mut self, block: ContentBlock) -> Self {
        self.blocks.push(block);
        self
    }

    /// The blocks added so far.
    pub fn blocks(&self) -> &[ContentBlock] {
        &self.blocks
    }
}

/// `result` as an MCP result: its blocks, and its structured value when the output
/// schema is an object.
pub(super) fn render<T: Serialize>(
    result: RichResult<T>,
    rendering: Rendering,
) -> Result<CallToolResult, serde_json::Error> {
    let structured = result
        .structured
        .as_ref()
        .map(serde_json::to_value)
        .transpose()?;
    let mut blocks = result.blocks;
    if blocks.is_empty()
        && let Some(value) = &structured
    {
        blocks.push(ContentBlock::text(super::render::json_text(value)?));
    }
    let mut rendered = CallToolResult::success(blocks);
    if rendering.structured {
        rendered.structured_content = structured;
    }
    Ok(rendered)
}

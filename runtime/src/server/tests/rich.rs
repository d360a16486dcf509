//! Rich tool results: content blocks beside a schema'd structured part, and failures
//! that stay sanitized errors.

use rmcp::model::{ContentBlock, ResourceContents};

use super::StoreError;
use crate::prelude::*;
use crate::resource::ResourceBody;

#[derive(Clone)]
struct Media;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Stats {
    points: u32,
}

#[secure_tool_router]
impl Media {
    /// Every kind of block, and no structured part.
    #[secure_tool(authz = public, mode = read)]
    async fn everything(&self) -> Result<RichResult, ToolError> {
        Ok(RichResult::new()
            .text("four blocks follow")
            .image([1, 2, 3], "image/png")
            .audio([4, 5], "audio/wav")
            .resource(
                "test://embedded",
                ResourceBody::text("embedded text").with_mime_type("text/plain"),
            )
            .link("test://linked", "linked"))
    }

    /// A structured part with no block: sent as JSON text too.
    #[secure_tool(authz = public, mode = read)]
    async fn stats(&self) -> Result<RichResult<Stats>, ToolError> {
        Ok(RichResult::structured(Stats { points: 7 }))
    }

    /// Fails: the blocks it never returned cannot carry the error's text.
    #[secure_tool(authz = public, mode = read)]
    async fn failing(&self) -> Result<RichResult, StoreError> {
        Err(StoreError(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )))
    }
}

impl rmcp::ServerHandler for Media {}

#[tokio::test]
async fn each_block_is_rendered_as_the_protocol_shapes_it() {
    let server = SecureServer::builder(Media).check_outputs(true).build();
    let result = server
        .call("everything", None, Principal::anonymous())
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false));
    assert!(result.structured_content.is_none());
    let route = server.tools().route("everything").unwrap();
    assert!(
        route.tool().output_schema.is_none(),
        "no structured part, no schema"
    );
    let blocks = &result.content;
    assert_eq!(blocks.len(), 5);
    assert_eq!(blocks[0].as_text().unwrap().text, "four blocks follow");
    let image = blocks[1].as_image().unwrap();
    assert_eq!(
        (image.data.as_str(), image.mime_type.as_str()),
        ("AQID", "image/png")
    );
    let audio = blocks[2].as_audio().unwrap();
    assert_eq!(
        (audio.data.as_str(), audio.mime_type.as_str()),
        ("BAU=", "audio/wav")
    );
    let ResourceContents::TextResourceContents {
        uri,
        text,
        mime_type,
        ..
    } = &blocks[3].as_resource().unwrap().resource
    else {
        panic!("an embedded text resource");
    };
    assert_eq!(
        (uri.as_str(), text.as_str()),
        ("test://embedded", "embedded text")
    );
    assert_eq!(mime_type.as_deref(), Some("text/plain"));
    assert_eq!(blocks[4].as_resource_link().unwrap().uri, "test://linked");
}

#[tokio::test]
async fn the_structured_part_is_published_and_checked() {
    let server = SecureServer::builder(Media).check_outputs(true).build();
    let result = server
        .call("stats", None, Principal::anonymous())
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false));
    assert_eq!(result.structured_content.unwrap()["points"], 7);
    assert!(matches!(&result.content[..], [ContentBlock::Text(t)] if t.text == r#"{"points":7}"#));
    let schema = server
        .tools()
        .route("stats")
        .unwrap()
        .tool()
        .output_schema
        .clone()
        .unwrap();
    assert_eq!(schema["properties"]["points"]["type"], "integer");
}

#[tokio::test]
async fn a_failing_rich_tool_is_a_sanitized_error() {
    let server = SecureServer::new(Media);
    let result = server
        .call("failing", None, Principal::anonymous())
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    let text = serde_json::to_string(&result).unwrap();
    assert!(!text.contains("SELECT"), "{text}");
    assert!(text.contains("incident"), "{text}");
}

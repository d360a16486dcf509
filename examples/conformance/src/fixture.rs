//! The items the conformance suite's server scenarios call, by the names and with the
//! answers they expect, each declared with secure-tool's attributes. Every item is
//! `authz = public`: the suite calls anonymously.
//!
//! The tools that talk to the client while they run (log messages, progress, sampling,
//! elicitation) take the call's [`CallContext`], which the runtime makes only once the
//! call is authorized.

#![allow(deprecated)] // Logging and sampling: 2025-11-25 features rmcp marks for removal.

use base64::Engine as _;
use std::time::Duration;

use secure_tool::context::{ElicitationSchema, Elicited, LogLevel, Progress};
use secure_tool::prelude::*;
use secure_tool::rmcp::model::{
    ContentBlock, CreateMessageRequestParams, Implementation, PromptMessage, ResourceContents,
    Role, SamplingMessage, ServerCapabilities, ServerConfig,
};

/// A 1x1 red PNG.
pub const PNG: [u8; 70] = [
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 13, b'I', b'D', b'A', b'T',
    0x78, 0xda, 0x63, 0xfc, 0xcf, 0xc0, 0xf0, 0x1f, 0, 5, 5, 2, 0, 0x5f, 0xc8, 0xf1, 0xd2, 0, 0, 0,
    0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82,
];

/// A WAV of one silent sample: mono, 16-bit PCM at 8 kHz.
pub const WAV: [u8; 46] = [
    b'R', b'I', b'F', b'F', 38, 0, 0, 0, b'W', b'A', b'V', b'E', b'f', b'm', b't', b' ', 16, 0, 0,
    0, 1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, 16, 0, b'd', b'a', b't', b'a', 2, 0,
    0, 0, 0, 0,
];

/// What `completion/complete` suggests for `test_prompt_with_arguments`'s `arg1`, filtered
/// by what is typed.
const ARG1_SUGGESTIONS: [&str; 3] = ["paris", "park", "party"];

/// The conformance fixture: no state, every answer fixed by the suite.
#[derive(Clone, Debug, Default)]
pub struct Conformance;

/// `test://template/{id}/data`'s variable.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct TemplateUri {
    /// Any id; the data echoes it.
    pub id: String,
}

/// `test_prompt_with_arguments`'s arguments.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct PromptArguments {
    /// First test argument
    pub arg1: String,
    /// Second test argument
    pub arg2: String,
}

/// `test_prompt_with_embedded_resource`'s argument.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct EmbeddedResourceArguments {
    /// URI of the resource to embed
    #[serde(rename = "resourceUri")]
    pub resource_uri: String,
}

/// `test_sampling`'s arguments.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct SamplingArguments {
    /// The prompt to send to the client's model
    pub prompt: String,
}

/// `test_elicitation`'s arguments.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct ElicitationArguments {
    /// The message to show the user
    pub message: String,
}

/// A form of `schema`, as the suite's scenario writes it.
fn form(schema: serde_json::Value) -> Result<ElicitationSchema, ToolError> {
    serde_json::from_value(schema).map_err(ToolError::internal)
}

/// The text of an elicitation's answer, as the reference server writes it.
fn answered(prefix: &str, answer: Elicited<serde_json::Map<String, serde_json::Value>>) -> String {
    let (action, content) = match answer {
        Elicited::Accepted(content) => ("accept", serde_json::Value::Object(content)),
        Elicited::Declined => ("decline", serde_json::Value::Null),
        Elicited::Cancelled => ("cancel", serde_json::Value::Null),
        Elicited::Unsupported => ("unsupported", serde_json::Value::Null),
    };
    format!("{prefix}: action={action}, content={content}")
}

#[secure_tool_router]
impl Conformance {
    /// Tests tool that emits log messages during execution
    #[secure_tool(authz = public, mode = read)]
    async fn test_tool_with_logging(&self, cx: CallContext<'_>) -> Result<RichResult, ToolError> {
        cx.log(LogLevel::Info, "Tool execution started").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        cx.log(LogLevel::Info, "Tool processing data").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        cx.log(LogLevel::Info, "Tool execution completed").await;
        Ok(RichResult::new().text("Tool with logging executed successfully"))
    }

    /// Tests tool that reports progress notifications
    #[secure_tool(authz = public, mode = read)]
    async fn test_tool_with_progress(&self, cx: CallContext<'_>) -> Result<RichResult, ToolError> {
        for (step, done) in [0.0, 50.0, 100.0].into_iter().enumerate() {
            cx.progress(
                Progress::new(done)
                    .of(100.0)
                    .with_message(format!("Completed step {step} of 3")),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(RichResult::new().text("Tool with progress executed successfully"))
    }

    /// Tests server-initiated sampling (LLM completion request)
    #[secure_tool(authz = public, mode = read)]
    async fn test_sampling(
        &self,
        args: SamplingArguments,
        cx: CallContext<'_>,
    ) -> Result<RichResult, ToolError> {
        let request =
            CreateMessageRequestParams::new(vec![SamplingMessage::user_text(args.prompt)], 100);
        let text = match cx.sample(request).await? {
            Some(answer) => {
                let said = serde_json::to_value(&answer.message.content)
                    .ok()
                    .and_then(|content| content.get("text").cloned())
                    .and_then(|text| text.as_str().map(str::to_owned))
                    .unwrap_or_default();
                format!("LLM response: {said}")
            }
            None => "The client cannot sample.".to_owned(),
        };
        Ok(RichResult::new().text(text))
    }

    /// Tests server-initiated elicitation (user input request)
    #[secure_tool(authz = public, mode = read)]
    async fn test_elicitation(
        &self,
        args: ElicitationArguments,
        cx: CallContext<'_>,
    ) -> Result<RichResult, ToolError> {
        let schema = form(serde_json::json!({
            "type": "object",
            "properties": {
                "username": { "type": "string", "description": "User's response" },
                "email": { "type": "string", "description": "User's email address" },
            },
            "required": ["username", "email"],
        }))?;
        let answer = cx.elicit_form(args.message, schema).await?;
        Ok(RichResult::new().text(answered("User response", answer)))
    }

    /// Tests elicitation with default values (SEP-1034)
    #[secure_tool(authz = public, mode = read)]
    async fn test_elicitation_sep1034_defaults(
        &self,
        cx: CallContext<'_>,
    ) -> Result<RichResult, ToolError> {
        let schema = form(serde_json::json!({
            "type": "object",
            "properties": {
                "name": { "type": "string", "description": "User name", "default": "John Doe" },
                "age": { "type": "integer", "description": "User age", "default": 30 },
                "score": { "type": "number", "description": "User score", "default": 95.5 },
                "status": {
                    "type": "string",
                    "description": "User status",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active",
                },
                "verified": { "type": "boolean", "description": "Verification status", "default": true },
            },
            "required": [],
        }))?;
        let answer = cx
            .elicit_form(
                "Please review and update the form fields with defaults",
                schema,
            )
            .await?;
        Ok(RichResult::new().text(answered("Elicitation completed", answer)))
    }

    /// Tests elicitation with enum schema improvements (SEP-1330)
    #[secure_tool(authz = public, mode = read)]
    async fn test_elicitation_sep1330_enums(
        &self,
        cx: CallContext<'_>,
    ) -> Result<RichResult, ToolError> {
        let schema = form(serde_json::json!({
            "type": "object",
            "properties": {
                "untitledSingle": {
                    "type": "string",
                    "description": "Select one option",
                    "enum": ["option1", "option2", "option3"],
                },
                "titledSingle": {
                    "type": "string",
                    "description": "Select one option with titles",
                    "oneOf": [
                        { "const": "value1", "title": "First Option" },
                        { "const": "value2", "title": "Second Option" },
                        { "const": "value3", "title": "Third Option" },
                    ],
                },
                "legacyEnum": {
                    "type": "string",
                    "description": "Select one option (legacy)",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"],
                },
                "untitledMulti": {
                    "type": "array",
                    "description": "Select multiple options",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": { "type": "string", "enum": ["option1", "option2", "option3"] },
                },
                "titledMulti": {
                    "type": "array",
                    "description": "Select multiple options with titles",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {
                        "anyOf": [
                            { "const": "value1", "title": "First Choice" },
                            { "const": "value2", "title": "Second Choice" },
                            { "const": "value3", "title": "Third Choice" },
                        ],
                    },
                },
            },
            "required": [],
        }))?;
        let answer = cx
            .elicit_form("Please select options from the enum fields", schema)
            .await?;
        Ok(RichResult::new().text(answered("Elicitation completed", answer)))
    }

    /// Tests simple text content response
    #[secure_tool(authz = public, mode = read)]
    async fn test_simple_text(&self) -> Result<RichResult, ToolError> {
        Ok(RichResult::new().text("This is a simple text response for testing."))
    }

    /// Tests image content response
    #[secure_tool(authz = public, mode = read)]
    async fn test_image_content(&self) -> Result<RichResult, ToolError> {
        Ok(RichResult::new().image(PNG, "image/png"))
    }

    /// Tests audio content response
    #[secure_tool(authz = public, mode = read)]
    async fn test_audio_content(&self) -> Result<RichResult, ToolError> {
        Ok(RichResult::new().audio(WAV, "audio/wav"))
    }

    /// Tests embedded resource content response
    #[secure_tool(authz = public, mode = read)]
    async fn test_embedded_resource(&self) -> Result<RichResult, ToolError> {
        Ok(RichResult::new().resource(
            "test://embedded-resource",
            ResourceBody::text("This is an embedded resource content.")
                .with_mime_type("text/plain"),
        ))
    }

    /// Tests response with multiple content types (text, image, resource)
    #[secure_tool(authz = public, mode = read)]
    async fn test_multiple_content_types(&self) -> Result<RichResult, ToolError> {
        let data = serde_json::json!({ "test": "data", "value": 123 });
        Ok(RichResult::new()
            .text("Multiple content types test:")
            .image(PNG, "image/png")
            .resource("test://mixed-content-resource", ResourceBody::json(&data)?))
    }

    /// Tests error response handling
    ///
    /// The handler's error is internal: the caller gets an error result with the safe
    /// message and an incident id, never the error's own text.
    #[secure_tool(authz = public, mode = read)]
    async fn test_error_handling(&self) -> Result<RichResult, ToolError> {
        Err(ToolError::internal(
            "This tool intentionally returns an error for testing",
        ))
    }

    /// A static text resource for testing
    #[secure_resource(uri = "test://static-text", authz = public, name = "static-text", title = "Static Text Resource", mime_type = "text/plain")]
    async fn static_text(&self) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(
            "This is the content of the static text resource.",
        ))
    }

    /// A static binary resource (image) for testing
    #[secure_resource(uri = "test://static-binary", authz = public, name = "static-binary", title = "Static Binary Resource", mime_type = "image/png")]
    async fn static_binary(&self) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::blob(PNG, "image/png"))
    }

    /// A resource template with parameter substitution
    #[secure_resource(uri = "test://template/{id}/data", authz = public, name = "template-data", title = "Resource Template", mime_type = "application/json")]
    async fn template_data(&self, uri: TemplateUri) -> Result<ResourceBody, ToolError> {
        ResourceBody::json(&serde_json::json!({
            "id": uri.id,
            "templateTest": true,
            "data": format!("Data for ID: {}", uri.id),
        }))
    }

    /// A resource for testing subscriptions
    #[secure_resource(uri = "test://watched-resource", authz = public, name = "watched-resource", title = "Watched Resource", mime_type = "text/plain")]
    async fn watched_resource(&self) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text("Watched resource content"))
    }

    /// A simple prompt without arguments
    #[secure_prompt(authz = public)]
    async fn test_simple_prompt(&self) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user("This is a simple prompt for testing."))
    }

    /// A prompt with required arguments
    #[secure_prompt(authz = public, complete(arg1 = Self::arg1_values))]
    async fn test_prompt_with_arguments(
        &self,
        args: PromptArguments,
    ) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user(format!(
            "Prompt with arguments: arg1='{}', arg2='{}'",
            args.arg1, args.arg2
        )))
    }

    /// The suggestions for `arg1` that start with what is typed.
    async fn arg1_values(&self, typed: CompletionRequest) -> Result<Vec<String>, ToolError> {
        Ok(ARG1_SUGGESTIONS
            .iter()
            .filter(|value| value.starts_with(typed.value()))
            .map(|value| (*value).to_owned())
            .collect())
    }

    /// A prompt that includes an embedded resource
    #[secure_prompt(authz = public)]
    async fn test_prompt_with_embedded_resource(
        &self,
        args: EmbeddedResourceArguments,
    ) -> Result<PromptReply, ToolError> {
        let embedded = ResourceContents::TextResourceContents {
            uri: args.resource_uri,
            mime_type: Some("text/plain".to_owned()),
            text: "Embedded resource content for testing.".to_owned(),
            meta: None,
        };
        Ok(PromptReply::new()
            .message(PromptMessage::new(
                Role::User,
                ContentBlock::resource(embedded),
            ))
            .user("Please process the embedded resource above."))
    }

    /// A prompt that includes image content
    #[secure_prompt(authz = public)]
    async fn test_prompt_with_image(&self) -> Result<PromptReply, ToolError> {
        let data = base64::engine::general_purpose::STANDARD.encode(PNG);
        Ok(PromptReply::new()
            .message(PromptMessage::new(
                Role::User,
                ContentBlock::image(data, "image/png"),
            ))
            .user("Please analyze the image above."))
    }
}

/// The server's own handler: its name only. `logging/setLevel` is the secure server's
/// own (it sets the level of the messages handlers send through their context).
impl secure_tool::rmcp::ServerHandler for Conformance {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::default()).with_server_info(Implementation::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use secure_tool::rmcp::model::Reference;

    use super::*;

    fn server() -> SecureServer<Conformance> {
        crate::server::secure_server()
    }

    #[test]
    fn the_image_is_the_suite_s_png() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(PNG);
        assert_eq!(
            encoded,
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
        );
        // RIFF's size is the file's, less its first 8 bytes; data's, the samples'.
        assert_eq!(usize::from(WAV[4]), WAV.len() - 8);
        assert_eq!(usize::from(WAV[40]), WAV.len() - 44);
    }

    #[tokio::test]
    async fn tools_answer_as_the_suite_expects() {
        let server = server();
        let anonymous = Principal::anonymous;
        let text = server
            .call("test_simple_text", None, anonymous())
            .await
            .unwrap();
        assert_eq!(
            text.content[0].as_text().unwrap().text,
            "This is a simple text response for testing."
        );
        let mixed = server
            .call("test_multiple_content_types", None, anonymous())
            .await
            .unwrap();
        let kinds: Vec<_> = mixed
            .content
            .iter()
            .map(|block| serde_json::to_value(block).unwrap()["type"].clone())
            .collect();
        assert_eq!(kinds, ["text", "image", "resource"]);
        let error = server
            .call("test_error_handling", None, anonymous())
            .await
            .unwrap();
        assert_eq!(error.is_error, Some(true));
        let shown = &error.content[0].as_text().unwrap().text;
        assert!(!shown.contains("intentionally"), "{shown}");
    }

    #[tokio::test]
    async fn the_template_echoes_its_id() {
        let read = server()
            .read_resource("test://template/123/data", Principal::anonymous())
            .await
            .unwrap();
        let ResourceContents::TextResourceContents {
            text, mime_type, ..
        } = &read.contents[0]
        else {
            panic!("text contents expected");
        };
        assert_eq!(mime_type.as_deref(), Some("application/json"));
        let data: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            data,
            serde_json::json!({ "id": "123", "templateTest": true, "data": "Data for ID: 123" })
        );
    }

    #[tokio::test]
    async fn prompts_substitute_their_arguments_and_complete_arg1() {
        let server = server();
        let arguments = serde_json::json!({ "arg1": "hello", "arg2": "world" });
        let got = server
            .get_prompt(
                "test_prompt_with_arguments",
                arguments.as_object().cloned(),
                Principal::anonymous(),
            )
            .await
            .unwrap();
        let text = serde_json::to_string(&got.messages).unwrap();
        assert!(
            text.contains("Prompt with arguments: arg1='hello', arg2='world'"),
            "{text}"
        );
        let completed = server
            .complete(
                &Reference::for_prompt("test_prompt_with_arguments"),
                CompletionRequest::new("arg1", "par"),
                Principal::anonymous(),
            )
            .await
            .unwrap();
        assert_eq!(completed.values, ARG1_SUGGESTIONS);
    }
}

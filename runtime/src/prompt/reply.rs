//! What a prompt handler returns: the messages of the prompt.

use rmcp::model::{GetPromptResult, PromptMessage, Role};

/// The messages a prompt gives the client, as its handler returns them. Text built from
/// data is the prompt's output, like a tool's result: it is sent as written. A failure is
/// a `ToolError`, never a message.
///
/// ```
/// use secure_tool::prompt::PromptReply;
/// let reply = PromptReply::new()
///     .with_description("A summary of 2 notes")
///     .user("Summarise these notes: groceries; plans.")
///     .assistant("Here is a summary:");
/// assert_eq!(reply.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PromptReply {
    description: Option<String>,
    messages: Vec<PromptMessage>,
}

impl PromptReply {
    /// No messages yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the description of this rendering of the prompt.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds a text message from the user.
    pub fn user(self, text: impl Into<String>) -> Self {
        self.message(PromptMessage::new_text(Role::User, text))
    }

    /// Adds a text message from the assistant.
    pub fn assistant(self, text: impl Into<String>) -> Self {
        self.message(PromptMessage::new_text(Role::Assistant, text))
    }

    /// Adds a message of any content (an image, an embedded resource, a resource link).
    pub fn message(mut self, message: PromptMessage) -> Self {
        self.messages.push(message);
        self
    }

    /// How many messages there are.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub(crate) fn into_result(self) -> GetPromptResult {
        let mut result = GetPromptResult::new(self.messages);
        result.description = self.description;
        result
    }
}

//! `complete(..)` on a `#[secure_resource]` and a `#[secure_prompt]`: several completers in
//! one list, one completer for two handlers, a custom error type, completed in process
//! under the guard of what they complete.

use secure_tool::prelude::*;
use secure_tool::rmcp::model::Reference;

#[derive(Clone)]
struct Notes {
    ids: Vec<u64>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoteUri {
    shelf: String,
    id: u64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Summary {
    shelf: String,
    topic: String,
}

#[derive(Debug)]
struct StoreError;
impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("store failed")
    }
}
impl std::error::Error for StoreError {}

/// An alias of the suggestions is one.
type Suggestions = Vec<String>;

#[secure_tool_router]
impl Notes {
    /// One note of a shelf.
    #[secure_resource(
        uri = "notes://{shelf}/{id}",
        authz = scopes("notes:read"),
        complete(id = Self::note_ids, shelf = Self::shelves)
    )]
    async fn note(&self, params: NoteUri) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(format!("{}/{}", params.shelf, params.id)))
    }

    /// Summarise the notes of a shelf about a topic.
    #[secure_prompt(
        authz = scopes("notes:read"),
        complete(shelf = Self::shelves, "topic" = Self::r#type)
    )]
    async fn summarise(&self, args: Summary) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user(format!("Summarise {} on {}.", args.topic, args.shelf)))
    }

    /// The ids that start with what is typed.
    async fn note_ids(&self, request: CompletionRequest) -> Result<Vec<String>, ToolError> {
        let ids = self.ids.iter().map(u64::to_string);
        Ok(ids.filter(|id| id.starts_with(request.value())).collect())
    }

    /// The shelves, whatever is typed; for a note, the shelf already given is kept first.
    async fn shelves(&self, request: CompletionRequest) -> Result<Suggestions, StoreError> {
        let mut shelves = vec!["a".to_owned(), "b".to_owned()];
        if let Some(given) = request.context("id") {
            shelves.push(format!("for-{given}"));
        }
        Ok(shelves)
    }

    /// Topics, under a raw identifier.
    async fn r#type(&self, request: CompletionRequest) -> Result<Vec<String>, StoreError> {
        let _ = request.argument();
        Err(StoreError)
    }
}

impl secure_tool::rmcp::ServerHandler for Notes {}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = SecureServer::new(Notes {
            ids: vec![4, 42, 7],
        });
        let reader = Principal::new("ada").with_scopes(["notes:read"]);
        let template = Reference::for_resource("notes://{shelf}/{id}");
        let prompt = Reference::for_prompt("summarise");

        let shown = server
            .complete(&template, CompletionRequest::new("id", "4"), reader.clone())
            .await
            .unwrap();
        assert_eq!(shown.values, ["4", "42"]);
        let typed = CompletionRequest::new("shelf", "").with_context("id", "7");
        let shown = server
            .complete(&template, typed, reader.clone())
            .await
            .unwrap();
        assert_eq!(shown.values, ["a", "b", "for-7"]);
        let shown = server
            .complete(&prompt, CompletionRequest::new("shelf", ""), reader.clone())
            .await
            .unwrap();
        assert_eq!(shown.values, ["a", "b"]);
        // A completer's failure is sanitized.
        let failed = server
            .complete(&prompt, CompletionRequest::new("topic", "p"), reader.clone())
            .await
            .unwrap_err();
        assert!(!serde_json::to_string(&failed).unwrap().contains("store failed"));

        // A caller who may not read the notes gets no suggestions, as for a missing one.
        let anonymous = Principal::anonymous();
        for (reference, argument) in [(&template, "id"), (&prompt, "shelf")] {
            let hidden = server
                .complete(reference, CompletionRequest::new(argument, ""), anonymous.clone())
                .await
                .unwrap();
            assert!(hidden.values.is_empty(), "{argument}");
        }
        let missing = server
            .complete(&prompt, CompletionRequest::new("count", ""), reader)
            .await
            .unwrap();
        assert!(missing.values.is_empty());
    });
}

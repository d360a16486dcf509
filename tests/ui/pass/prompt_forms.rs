//! Every accepted form of `#[secure_prompt]`, beside tools and resources or on its own,
//! served and got, with the advertised metadata checked.

use std::time::Duration;

use secure_tool::prelude::*;
use secure_tool::resilience::Dependency;
use secure_tool::route::SecureToolRouter;

#[derive(Clone)]
struct Server {
    store: Dependency,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Summary {
    /// The topic to summarise.
    topic: String,
    /// How many notes, at most.
    count: Option<u32>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

#[derive(Debug)]
struct StoreError;
impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("store failed")
    }
}
impl std::error::Error for StoreError {}

/// An alias of `PromptReply` is one.
type Reply = PromptReply;

const SLOW: Duration = Duration::from_secs(90);

#[secure_tool_router(router = prompts)]
impl Server {
    /// Arguments, a scope, a title.
    #[secure_prompt(authz = scopes("notes:read"), title = "Summary")]
    async fn summarise(&self, args: Summary) -> Result<PromptReply, ToolError> {
        let count = args.count.unwrap_or(10);
        Ok(PromptReply::new().user(format!("Summarise {count} notes about {}.", args.topic)))
    }

    /// Arguments destructured, a breaker, a literal deadline, a custom error type, an alias.
    #[secure_prompt(authz = authenticated, breaker = self.store, timeout = "250ms")]
    async fn outline(
        &self,
        Summary { topic, .. }: Summary,
    ) -> std::result::Result<Reply, StoreError> {
        Ok(PromptReply::new().user(format!("Outline {topic}.")).assistant("1."))
    }

    #[secure_prompt(
        authz = public,
        name = "hello",
        title = "Hello",
        description = "Say hello.",
        timeout = SLOW,
    )]
    async fn greet(&self) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().with_description("A greeting").user("Hello!"))
    }

    /// No arguments, a raw identifier as the name, a `Duration` expression.
    #[secure_prompt(authz = public, timeout = Duration::from_secs(5))]
    async fn r#type(&self) -> Result<PromptReply, StoreError> {
        Ok(PromptReply::new().user("Type."))
    }
}

#[secure_tool_router(router = others)]
impl Server {
    /// A tool, a resource and a prompt of the same name: they are named apart.
    #[secure_tool(authz = public, mode = read, name = "note")]
    async fn note_tool(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }

    /// A resource.
    #[secure_resource(uri = "notes://count", authz = public, name = "note")]
    async fn count(&self) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text("1"))
    }

    /// A prompt beside a tool and a resource, in one impl block.
    #[secure_prompt(authz = public)]
    async fn note(&self) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user("Write a note."))
    }
}

/// An impl block with prompts alone is a router of its own.
#[derive(Clone)]
struct Prompts;

#[secure_tool_router]
impl Prompts {
    /// Say hello.
    #[secure_prompt(authz = public)]
    async fn greet(&self) -> Result<PromptReply, ToolError> {
        Ok(PromptReply::new().user("Hello!"))
    }
}

impl SecureTools for Server {
    fn secure_tool_router() -> SecureToolRouter<Self> {
        Self::prompts() + Self::others()
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}
impl secure_tool::rmcp::ServerHandler for Prompts {}

fn main() {
    let router = Server::secure_tool_router();
    assert_eq!(router.tool_names(), ["note"]);
    assert_eq!(router.resource_names(), ["note"]);
    let names: Vec<&str> = router.prompts().iter().map(|p| p.spec().name()).collect();
    assert_eq!(names, ["hello", "note", "outline", "summarise", "type"]);
    let hello = router.prompt("hello").unwrap();
    assert_eq!(hello.prompt().title.as_deref(), Some("Hello"));
    assert_eq!(hello.prompt().description.as_deref(), Some("Say hello."));
    assert!(hello.prompt().arguments.is_none());
    assert_eq!(hello.spec().timeout(), SLOW);
    assert!(hello.spec().policy().is_public());
    let outline = router.prompt("outline").unwrap();
    assert_eq!(outline.spec().timeout(), Duration::from_millis(250));
    assert_eq!(
        outline.prompt().description.as_deref(),
        Some("Arguments destructured, a breaker, a literal deadline, a custom error type, an alias.")
    );
    let summarise = router.prompt("summarise").unwrap();
    let arguments: Vec<(&str, Option<bool>)> = summarise
        .prompt()
        .arguments
        .iter()
        .flatten()
        .map(|a| (a.name.as_str(), a.required))
        .collect();
    assert_eq!(arguments, [("count", Some(false)), ("topic", Some(true))]);
    assert_eq!(summarise.prompt().title.as_deref(), Some("Summary"));
    assert_eq!(
        summarise.spec().timeout(),
        secure_tool::resilience::DEFAULT_TIMEOUT
    );
    assert_eq!(
        router.prompt("type").unwrap().spec().timeout(),
        Duration::from_secs(5)
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = SecureServer::new(Server {
            store: Dependency::new("store"),
        });
        let reader = Principal::new("ada").with_scopes(["notes:read"]);
        let arguments = serde_json::json!({ "topic": "plans", "count": "3" })
            .as_object()
            .cloned();
        let text = |got: secure_tool::rmcp::model::GetPromptResult| {
            serde_json::to_string(&got.messages).unwrap()
        };

        let got = server
            .get_prompt("summarise", arguments.clone(), reader.clone())
            .await
            .unwrap();
        assert!(text(got).contains("Summarise 3 notes about plans."));
        let got = server
            .get_prompt("outline", arguments.clone(), reader.clone())
            .await
            .unwrap();
        assert_eq!(got.messages.len(), 2);
        assert!(text(got).contains("Outline plans."));
        let got = server
            .get_prompt("hello", None, Principal::anonymous())
            .await
            .unwrap();
        assert_eq!(got.description.as_deref(), Some("A greeting"));
        assert!(text(got).contains("Hello!"));
        for name in ["type", "note"] {
            let got = server
                .get_prompt(name, None, Principal::anonymous())
                .await
                .unwrap();
            assert_eq!(got.messages.len(), 1, "{name}");
        }

        // Each caller is shown what it may get; denied and missing are one answer.
        let anonymous = Principal::anonymous();
        let shown: Vec<String> = server
            .prompts_for(&anonymous)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(shown, ["hello", "note", "type"]);
        assert_eq!(server.prompts_for(&reader).len(), 5);
        let denied = server
            .get_prompt("summarise", arguments, anonymous.clone())
            .await
            .unwrap_err();
        let missing = server
            .get_prompt("nothing", None, anonymous)
            .await
            .unwrap_err();
        assert_eq!(denied, missing);

        let alone = SecureServer::new(Prompts);
        assert!(alone.tools().tool_names().is_empty());
        let got = alone
            .get_prompt("greet", None, Principal::anonymous())
            .await
            .unwrap();
        assert!(text(got).contains("Hello!"));
    });
}

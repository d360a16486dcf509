//! Every accepted form of `#[secure_resource]`, beside tools or on its own, served and
//! read, with the advertised metadata checked.

use std::time::Duration;

use secure_tool::prelude::*;
use secure_tool::resilience::Dependency;
use secure_tool::route::SecureToolRouter;

#[derive(Clone)]
struct Server {
    store: Dependency,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoteUri {
    id: u64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct RevisionUri {
    id: u64,
    rev: String,
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

/// An alias of `ResourceBody` is one.
type Body = ResourceBody;

const SLOW: Duration = Duration::from_secs(90);

#[secure_tool_router(router = resources)]
impl Server {
    /// A template, a scope, a MIME type.
    #[secure_resource(uri = "notes://{id}", authz = scopes("notes:read"), mime_type = "text/markdown")]
    async fn note(&self, params: NoteUri) -> Result<ResourceBody, ToolError> {
        match params.id {
            1 => Ok(ResourceBody::text("# Groceries")),
            _ => Err(ToolError::not_found("no such note")),
        }
    }

    /// Two variables, destructured, a breaker, a literal deadline, a custom error type.
    #[secure_resource(
        uri = "notes://{id}/revisions/{rev}",
        authz = authenticated,
        breaker = self.store,
        timeout = "250ms",
    )]
    async fn revision(
        &self,
        RevisionUri { id, rev }: RevisionUri,
    ) -> std::result::Result<Body, StoreError> {
        Ok(
            ResourceBody::json(&serde_json::json!({ "id": id, "rev": rev }))
                .map_err(|_| StoreError)?,
        )
    }

    #[secure_resource(
        uri = "docs://readme",
        authz = public,
        name = "read-me",
        title = "Read me",
        description = "How the notes are named.",
        mime_type = "text/plain; charset=utf-8",
        timeout = SLOW,
    )]
    async fn readme(&self) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text("Each note is at notes://{id}."))
    }

    /// Bytes, a raw identifier as the name, a `Duration` expression.
    #[secure_resource(uri = "images://logo", authz = public, timeout = Duration::from_secs(5))]
    async fn r#type(&self) -> Result<ResourceBody, StoreError> {
        Ok(ResourceBody::blob(
            vec![0x89, b'P', b'N', b'G'],
            "image/png",
        ))
    }
}

#[secure_tool_router(router = tools)]
impl Server {
    /// A tool and a resource of the same name: tools and resources are named apart.
    #[secure_tool(authz = public, mode = read, name = "note")]
    async fn note_tool(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }

    /// A resource beside a tool, in one impl block.
    #[secure_resource(uri = "notes://count", authz = public)]
    async fn count(&self) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text("1"))
    }
}

impl SecureTools for Server {
    fn secure_tool_router() -> SecureToolRouter<Self> {
        Self::resources() + Self::tools()
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {
    let router = Server::secure_tool_router();
    assert_eq!(router.tool_names(), ["note"]);
    assert_eq!(
        router.resource_names(),
        ["count", "note", "read-me", "revision", "type"]
    );
    let readme = router
        .resources()
        .find(|r| r.spec().name() == "read-me")
        .unwrap();
    let listed = readme.resource().unwrap();
    assert_eq!(listed.title.as_deref(), Some("Read me"));
    assert_eq!(
        listed.description.as_deref(),
        Some("How the notes are named.")
    );
    assert_eq!(
        listed.mime_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(readme.spec().timeout(), SLOW);
    assert!(readme.spec().policy().is_public());
    let revision = router
        .resources()
        .find(|r| r.spec().name() == "revision")
        .unwrap();
    assert_eq!(revision.spec().timeout(), Duration::from_millis(250));
    assert!(revision.template().is_some());
    let note = router
        .resources()
        .find(|r| r.spec().name() == "note")
        .unwrap();
    assert_eq!(
        note.template().unwrap().description.as_deref(),
        Some("A template, a scope, a MIME type.")
    );
    assert_eq!(
        note.spec().timeout(),
        secure_tool::resilience::DEFAULT_TIMEOUT
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
        let read = server
            .read_resource("notes://1", reader.clone())
            .await
            .unwrap();
        let contents = serde_json::to_value(&read.contents[0]).unwrap();
        assert_eq!(contents["text"], "# Groceries");
        assert_eq!(contents["mimeType"], "text/markdown");

        let read = server
            .read_resource("notes://7/revisions/b%20c", reader.clone())
            .await
            .unwrap();
        let contents = serde_json::to_value(&read.contents[0]).unwrap();
        let body: serde_json::Value =
            serde_json::from_str(contents["text"].as_str().unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({ "id": 7, "rev": "b c" }));

        let read = server
            .read_resource("images://logo", Principal::anonymous())
            .await
            .unwrap();
        let contents = serde_json::to_value(&read.contents[0]).unwrap();
        assert_eq!(contents["mimeType"], "image/png");
        assert!(contents.get("blob").is_some());

        // Denied, missing and malformed: one answer.
        let denied = server
            .read_resource("notes://1", Principal::anonymous())
            .await
            .unwrap_err();
        let missing = server
            .read_resource("notes://2", reader.clone())
            .await
            .unwrap_err();
        let malformed = server.read_resource("notes://x", reader).await.unwrap_err();
        assert_eq!(denied, missing);
        assert_eq!(missing, malformed);

        let anonymous = Principal::anonymous();
        let fixed: Vec<String> = server
            .resources_for(&anonymous)
            .into_iter()
            .map(|r| r.uri.clone())
            .collect();
        assert_eq!(fixed.len(), 3, "{fixed:?}");
        assert!(server.resource_templates_for(&anonymous).is_empty());
    });
}

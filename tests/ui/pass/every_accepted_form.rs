//! Every accepted form of `#[secure_tool]`, served, with the advertised metadata checked.

use std::convert::Infallible;

use secure_tool::authz::{AccessRequest, Authorize, Decision, PolicyFuture};
use secure_tool::capability::WriteAccess;
use secure_tool::prelude::*;
use secure_tool::route::SecureToolRouter;

#[derive(Clone)]
struct Server;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Args {
    id: u64,
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

/// A custom policy, used directly as `authz = OnCall`.
struct OnCall;
impl Authorize for OnCall {
    fn authorize<'a>(&'a self, request: AccessRequest<'a>) -> PolicyFuture<'a> {
        let on_call = request.principal.has_role("on-call");
        Box::pin(async move { Ok(if on_call { Decision::Allow } else { Decision::Deny }) })
    }
}

fn readers() -> secure_tool::Policy {
    secure_tool::authz::scopes("notes:read")
}

#[secure_tool_router]
impl Server {
    /// No arguments, public, infallible.
    #[secure_tool(authz = public, mode = read)]
    async fn ping(&self) -> Result<String, Infallible> {
        Ok("pong".into())
    }

    /// Arguments, a scope, `ToolError`.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn get(&self, args: Args) -> Result<Out, ToolError> {
        Ok(Out { id: args.id })
    }

    /// Destructured arguments, several scopes, a custom error type.
    #[secure_tool(authz = scopes(["notes:read", "notes:write"]), mode = write)]
    async fn put(&self, Args { id }: Args) -> Result<Out, StoreError> {
        Ok(Out { id })
    }

    #[secure_tool(
        authz = any_of([roles("admin"), all_of([scopes("a"), roles("b")])]),
        mode = write,
        name = "remove-note",
        title = "Remove a note",
        description = "Removes a note for good.",
    )]
    async fn remove(&self, _args: Args) -> std::result::Result<Out, ToolError> {
        Ok(Out { id: 0 })
    }

    /// A policy from a function, and a raw identifier as the name.
    #[secure_tool(authz = readers(), mode = read)]
    async fn r#type(&self) -> Result<Vec<Out>, ToolError> {
        Ok(vec![])
    }

    /// A custom `Authorize` type and `authenticated`.
    #[secure_tool(authz = all_of([authenticated(), secure_tool::authz::custom(OnCall)]), mode = read)]
    async fn page(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 7 })
    }

    /// A custom `Authorize` value directly.
    #[secure_tool(authz = OnCall, mode = read)]
    async fn ack(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 8 })
    }

    /// The write capability alone.
    #[secure_tool(authz = authenticated, mode = write)]
    async fn touch(&self, access: WriteAccess<'_>) -> Result<Out, ToolError> {
        Ok(Out { id: self.write(&access) })
    }

    /// Arguments, then the write capability, named by its full path.
    #[secure_tool(authz = authenticated, mode = write)]
    async fn save(
        &self,
        args: Args,
        access: secure_tool::capability::WriteAccess<'_>,
    ) -> Result<Out, ToolError> {
        Ok(Out { id: args.id + self.write(&access) })
    }

    /// The capability by any pattern: it need not be used.
    #[secure_tool(authz = authenticated, mode = write)]
    async fn reset(&self, _: WriteAccess<'_>) -> Result<Out, ToolError> {
        Ok(Out { id: 0 })
    }

    /// What a store's write method looks like: it asks for the proof.
    fn write(&self, _proof: &WriteAccess<'_>) -> u64 {
        100
    }

    /// Not a tool: left alone.
    fn helper(&self) -> u8 {
        1
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {
    let router: SecureToolRouter<Server> = <Server as SecureTools>::secure_tool_router();
    assert_eq!(
        router.tool_names(),
        [
            "ack",
            "get",
            "page",
            "ping",
            "put",
            "remove-note",
            "reset",
            "save",
            "touch",
            "type"
        ]
    );
    // The capability is not part of the input schema.
    let save = router.route("save").unwrap().tool().input_schema.clone();
    let properties = save["properties"].as_object().unwrap();
    assert_eq!(properties.keys().collect::<Vec<_>>(), ["id"]);
    let touch = router.route("touch").unwrap();
    assert!(touch.tool().input_schema.get("properties").is_none_or(|p| p.as_object().unwrap().is_empty()));
    assert_eq!(touch.tool().annotations.clone().unwrap().destructive_hint, Some(true));

    // The generated code hands the handler its capability.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = SecureServer::new(Server);
        let anyone = Principal::new("ada");
        let touched = server.call("touch", None, anyone.clone()).await.unwrap();
        assert_eq!(touched.structured_content.unwrap()["id"], 100);
        let arguments = serde_json::json!({ "id": 1 }).as_object().cloned();
        let saved = server.call("save", arguments, anyone).await.unwrap();
        assert_eq!(saved.structured_content.unwrap()["id"], 101);
    });
    let remove = router.route("remove-note").unwrap();
    assert_eq!(remove.tool().title.as_deref(), Some("Remove a note"));
    assert_eq!(remove.tool().description.as_deref(), Some("Removes a note for good."));
    assert_eq!(
        remove.spec().policy().to_string(),
        "any of (roles: admin; all of (scopes: a; roles: b))"
    );
    let annotations = remove.tool().annotations.clone().unwrap();
    assert_eq!(annotations.read_only_hint, Some(false));
    assert_eq!(annotations.destructive_hint, Some(true));
    assert!(router.route("ping").unwrap().spec().policy().is_public());
    assert_eq!(Server.helper(), 1);
}

//! A `mode = write` tool open to anyone says why, with `public_because("...")`: it compiles,
//! anonymous callers may call it, and the manifest shows the reason.

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// Signs the guest book.
    #[secure_tool(authz = public_because("the guest book is open to every visitor"), mode = write)]
    async fn sign(&self, _access: WriteAccess<'_>) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }

    /// Reports a broken link: editors, or anyone at all, by its full path.
    #[secure_tool(
        authz = any_of([scopes("notes:write"), secure_tool::authz::public_because("anyone may report a broken link")]),
        mode = write
    )]
    async fn report(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 2 })
    }

    /// A `public()` that cannot let anyone in alone needs no reason.
    #[secure_tool(authz = all_of([public(), scopes("notes:write")]), mode = write)]
    async fn edit(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 3 })
    }

    /// A read tool's `public` needs none either.
    #[secure_tool(authz = public, mode = read)]
    async fn count(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 4 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let server = SecureServer::new(Server);
    for (tool, id) in [("sign", 1), ("report", 2)] {
        let result = server.call(tool, None, Principal::anonymous()).await.unwrap();
        assert_eq!(result.structured_content.unwrap()["id"], id, "{tool}");
    }
    let denied = server.call("edit", None, Principal::anonymous()).await.unwrap();
    assert_eq!(denied.is_error, Some(true));

    let manifest = serde_json::to_value(server.manifest()).unwrap();
    let authz = |name: &str| {
        manifest["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|tool| tool["name"] == name)
            .unwrap()["authz"]
            .clone()
    };
    assert_eq!(authz("sign")["policy"], "public (reason: the guest book is open to every visitor)");
    assert_eq!(authz("sign")["public"], true);
    assert_eq!(
        authz("report")["policy"],
        "any of (scopes: notes:write; public (reason: anyone may report a broken link))"
    );
    assert_eq!(authz("report")["public"], true);
    assert_eq!(authz("edit")["policy"], "all of (public; scopes: notes:write)");
    assert_eq!(authz("edit")["public"], false);
    assert_eq!(authz("count")["policy"], "public");
}

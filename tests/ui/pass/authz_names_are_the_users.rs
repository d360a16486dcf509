//! The `authz` expression resolves as ordinary Rust, in the user's scope: a function,
//! constant or import of the user's that is named like a built-in policy is the one used.

#![allow(non_upper_case_globals)]

use secure_tool::authz::{AccessRequest, Authorize, Decision, PolicyFuture};
use secure_tool::prelude::*;
use secure_tool::Policy;

/// Shadows the prelude's `public`: this application's "public" means staff.
fn public() -> Policy {
    secure_tool::authz::roles("staff")
}

/// Shadows the prelude's `scopes`: a scope, and the `auditor` role too.
fn scopes(scope: &str) -> Policy {
    secure_tool::authz::all_of([secure_tool::authz::scopes(scope), secure_tool::authz::roles("auditor")])
}

mod policies {
    use secure_tool::Policy;

    /// Imported below under the name of a built-in policy.
    pub fn admins_only() -> Policy {
        secure_tool::authz::roles("admin")
    }
}
use policies::admins_only as authenticated;

/// A custom policy, as a constant named like a built-in policy.
struct OnCall;
impl Authorize for OnCall {
    fn authorize<'a>(&'a self, request: AccessRequest<'a>) -> PolicyFuture<'a> {
        let on_call = request.principal.has_role("on-call");
        Box::pin(async move { Ok(if on_call { Decision::Allow } else { Decision::Deny }) })
    }
}
const roles: OnCall = OnCall;

#[derive(Clone)]
struct Server;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// The user's `public`, named without a call.
    #[secure_tool(authz = public, mode = read)]
    async fn staff(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }

    /// The user's `scopes`.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn audit(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 2 })
    }

    /// An imported `authenticated`.
    #[secure_tool(authz = authenticated, mode = read)]
    async fn admin(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 3 })
    }

    /// A constant named `roles`.
    #[secure_tool(authz = roles, mode = read)]
    async fn page(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 4 })
    }

    /// The user's item in a nested module, by path.
    #[secure_tool(authz = policies::admins_only(), mode = read)]
    async fn admin_by_path(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 5 })
    }

    /// The built-in policy, by its full path, is still there.
    #[secure_tool(authz = secure_tool::authz::public, mode = read)]
    async fn ping(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 6 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

async fn allowed(server: &SecureServer<Server>, tool: &str, caller: Principal) -> bool {
    let result = server.call(tool, None, caller).await.unwrap();
    result.is_error != Some(true)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let server = SecureServer::new(Server);
    let anonymous = Principal::anonymous;
    let user = || Principal::new("ada");

    // `public` is the user's: staff only.
    assert!(!allowed(&server, "staff", anonymous()).await);
    assert!(!allowed(&server, "staff", user()).await);
    assert!(allowed(&server, "staff", user().with_roles(["staff"])).await);

    // `scopes` is the user's: the scope alone is not enough.
    assert!(!allowed(&server, "audit", user().with_scopes(["notes:read"])).await);
    let auditor = user().with_scopes(["notes:read"]).with_roles(["auditor"]);
    assert!(allowed(&server, "audit", auditor).await);

    // `authenticated` is the user's import: admins only.
    assert!(!allowed(&server, "admin", user()).await);
    assert!(allowed(&server, "admin", user().with_roles(["admin"])).await);
    assert!(!allowed(&server, "admin_by_path", user()).await);

    // `roles` is the user's constant.
    assert!(!allowed(&server, "page", user()).await);
    assert!(allowed(&server, "page", user().with_roles(["on-call"])).await);

    // The built-in `public`, by path.
    assert!(allowed(&server, "ping", anonymous()).await);
}

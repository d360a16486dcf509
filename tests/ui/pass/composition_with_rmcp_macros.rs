//! Secure tools split over two impl blocks (`router = ..`, combined with `+`), and plain
//! rmcp tools from rmcp's own `#[tool_router]`, served only through the named escape hatch.

use secure_tool::prelude::*;
use secure_tool::rmcp::{self, tool, tool_router};
use secure_tool::route::SecureToolRouter;

#[derive(Clone)]
struct Server;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    ok: bool,
}

#[secure_tool_router(router = read_tools)]
impl Server {
    /// Reads.
    #[secure_tool(authz = scopes("r"), mode = read)]
    async fn read(&self) -> Result<Out, ToolError> {
        Ok(Out { ok: true })
    }
}

#[secure_tool_router(router = write_tools)]
impl Server {
    /// Writes.
    #[secure_tool(authz = scopes("w"), mode = write)]
    async fn write(&self) -> Result<Out, ToolError> {
        Ok(Out { ok: true })
    }
}

#[tool_router(router = plain_tools)]
impl Server {
    /// Liveness probe: exposes nothing.
    #[tool]
    fn health(&self) -> String {
        "ok".into()
    }
}

impl rmcp::ServerHandler for Server {}

fn main() {
    let router: SecureToolRouter<Server> = (Server::read_tools() + Server::write_tools())
        .with_unguarded_tools(Server::plain_tools(), "liveness probe, returns a constant");
    assert_eq!(router.tool_names(), ["read", "write"]);
    assert_eq!(router.unguarded_tool_names(), ["health"]);
    let _server = secure_tool::SecureServerBuilder::with_router(Server, router).build();
}

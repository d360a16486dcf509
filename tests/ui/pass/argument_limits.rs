//! `argument_limits = ...` takes an `ArgumentLimits` expression (a constant, or built
//! inline); a tool without it has the server's limits, else the defaults.

use secure_tool::prelude::*;
use secure_tool::route::{ArgumentLimits, SecureToolRouter};

const DOCUMENTS: ArgumentLimits = ArgumentLimits::DEFAULT
    .with_max_string_chars(200_000)
    .with_max_bytes(1024 * 1024);

#[derive(Clone)]
struct Server;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Text {
    text: String,
}

#[secure_tool_router]
impl Server {
    /// Imports a long document.
    #[secure_tool(authz = authenticated, mode = write, argument_limits = DOCUMENTS)]
    async fn import(&self, args: Text) -> Result<usize, ToolError> {
        Ok(args.text.len())
    }

    /// Takes short texts only.
    #[secure_tool(
        authz = public,
        mode = read,
        argument_limits = ArgumentLimits::default().with_max_string_chars(100),
        timeout = "1s"
    )]
    async fn tag(&self, args: Text) -> Result<usize, ToolError> {
        Ok(args.text.len())
    }

    /// The server's limits.
    #[secure_tool(authz = public, mode = read)]
    async fn echo(&self, args: Text) -> Result<String, ToolError> {
        Ok(args.text)
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {
    let router: SecureToolRouter<Server> = <Server as SecureTools>::secure_tool_router();
    let chars = |tool: &str| router.route(tool).unwrap().argument_limits().max_string_chars();
    assert_eq!(chars("import"), 200_000);
    assert_eq!(chars("tag"), 100);
    assert_eq!(chars("echo"), ArgumentLimits::DEFAULT.max_string_chars());

    let server = SecureServer::builder(Server)
        .argument_limits(ArgumentLimits::default().with_max_string_chars(10))
        .build();
    let chars = |tool: &str| {
        server.tools().route(tool).unwrap().argument_limits().max_string_chars()
    };
    assert_eq!((chars("import"), chars("tag"), chars("echo")), (200_000, 100, 10));
}

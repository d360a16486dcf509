//! An impl block with resources and no tool is a router of its own.

use secure_tool::prelude::*;

#[derive(Clone)]
struct Docs;

#[secure_tool_router]
impl Docs {
    /// The readme.
    #[secure_resource(uri = "docs://readme", authz = public)]
    async fn readme(&self) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text("# Docs"))
    }
}

impl secure_tool::rmcp::ServerHandler for Docs {}

fn main() {
    let router = <Docs as SecureTools>::secure_tool_router();
    assert!(router.tool_names().is_empty());
    assert_eq!(router.resource_names(), ["readme"]);
    let server = SecureServer::new(Docs);
    assert_eq!(
        server.resources_for(&Principal::anonymous())[0].uri,
        "docs://readme"
    );
}

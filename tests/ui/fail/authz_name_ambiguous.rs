#![allow(dead_code)]

use secure_tool::Policy;

/// The application's own policy, named like a built-in one.
pub fn public() -> Policy {
    secure_tool::authz::roles("staff")
}

mod tools {
    // Two glob imports bring two different `public`s: Rust refuses to pick one.
    use super::*;
    use secure_tool::prelude::*;

    #[derive(Clone)]
    pub struct Server;

    #[derive(serde::Serialize, schemars::JsonSchema)]
    pub struct Out {
        id: u64,
    }

    #[secure_tool_router]
    impl Server {
        /// A tool.
        #[secure_tool(authz = public, mode = read)]
        async fn get(&self) -> Result<Out, ToolError> {
            Ok(Out { id: 1 })
        }
    }

    impl secure_tool::rmcp::ServerHandler for Server {}
}

fn main() {}

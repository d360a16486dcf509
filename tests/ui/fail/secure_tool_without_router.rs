#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

// No `#[secure_tool_router]`: the tool would be registered nowhere.
impl Server {
    /// A tool.
    #[secure_tool(authz = public, mode = read)]
    async fn get(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }
}

fn main() {}

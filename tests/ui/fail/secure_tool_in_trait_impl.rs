#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

trait Tools {
    async fn get(&self) -> Result<Out, ToolError>;
}

impl Tools for Server {
    /// A tool.
    #[secure_tool(authz = public, mode = read)]
    async fn get(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }
}

fn main() {}

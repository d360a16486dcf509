#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

/// A tool.
#[secure_tool(authz = public, mode = read)]
async fn get() -> Result<Out, ToolError> {
    Ok(Out { id: 1 })
}

fn main() {}

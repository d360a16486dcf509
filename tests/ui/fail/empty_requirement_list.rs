#![allow(dead_code)]

use secure_tool::prelude::*;

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

#[secure_tool_router]
impl Server {
    /// Requires nothing.
    #[secure_tool(authz = scopes([]), mode = read)]
    async fn a(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }

    /// Requires nothing.
    #[secure_tool(authz = roles(vec![]), mode = read)]
    async fn b(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }

    /// Requires nothing, inside a combinator.
    #[secure_tool(authz = any_of([roles("admin"), scopes(Vec::new())]), mode = read)]
    async fn c(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }

    /// Names no policy.
    #[secure_tool(authz = all_of([]), mode = read)]
    async fn d(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }

    /// Names no policy.
    #[secure_tool(authz = secure_tool::authz::any_of(vec![]), mode = read)]
    async fn e(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

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

use secure_tool::rmcp::model::{CallToolResult, ContentBlock};
use secure_tool::rmcp::{ErrorData, Json};

/// An alias hides the name, not the type.
type Reply = CallToolResult;

#[secure_tool_router]
impl Server {
    /// Frames its own result, and audits it as a success.
    #[secure_tool(authz = public, mode = read)]
    async fn a(&self) -> Result<CallToolResult, ToolError> {
        Ok(CallToolResult::error(vec![ContentBlock::text("db failed: ...")]))
    }

    /// Through an alias.
    #[secure_tool(authz = public, mode = read)]
    async fn b(&self) -> Result<Reply, ToolError> {
        todo!()
    }

    /// Boxed.
    #[secure_tool(authz = public, mode = read)]
    async fn c(&self) -> Result<Box<CallToolResult>, ToolError> {
        todo!()
    }

    /// Optional.
    #[secure_tool(authz = public, mode = read)]
    async fn d(&self) -> Result<Option<Reply>, ToolError> {
        todo!()
    }

    /// Content blocks.
    #[secure_tool(authz = public, mode = read)]
    async fn e(&self) -> Result<Vec<ContentBlock>, ToolError> {
        todo!()
    }

    /// rmcp's structured-output wrapper.
    #[secure_tool(authz = public, mode = read)]
    async fn f(&self) -> Result<Json<Out>, ToolError> {
        todo!()
    }

    /// A protocol error as a success.
    #[secure_tool(authz = public, mode = read)]
    async fn g(&self) -> Result<ErrorData, ToolError> {
        todo!()
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

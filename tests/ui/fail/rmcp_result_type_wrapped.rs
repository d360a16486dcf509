//! rmcp's protocol types are refused inside any container of a handler's result: one of
//! this crate's (`RichResult`), a tuple, std's other collections, `Cow`, a wrapper of the
//! user's own; and every protocol type, the rarer ones included.

#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::VecDeque;

use secure_tool::prelude::*;
use secure_tool::rmcp::model::{CallToolResult, ContentBlock, GetSkillResult, Root};

#[derive(Clone)]
struct Server;

/// A wrapper of the user's own, generic over what it holds.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Wrapper<T> {
    inner: T,
}

#[secure_tool_router]
impl Server {
    /// Inside a rich result.
    #[secure_tool(authz = public, mode = read)]
    async fn rich(&self) -> Result<RichResult<CallToolResult>, ToolError> {
        todo!()
    }

    /// Inside a tuple.
    #[secure_tool(authz = public, mode = read)]
    async fn tuple(&self) -> Result<(u32, CallToolResult), ToolError> {
        todo!()
    }

    /// Inside a deque.
    #[secure_tool(authz = public, mode = read)]
    async fn deque(&self) -> Result<VecDeque<ContentBlock>, ToolError> {
        todo!()
    }

    /// Inside a `Cow`.
    #[secure_tool(authz = public, mode = read)]
    async fn cow(&self) -> Result<Cow<'static, CallToolResult>, ToolError> {
        todo!()
    }

    /// Inside a wrapper of the user's own.
    #[secure_tool(authz = public, mode = read)]
    async fn wrapped(&self) -> Result<Wrapper<CallToolResult>, ToolError> {
        todo!()
    }

    /// A skill's result.
    #[secure_tool(authz = public, mode = read)]
    async fn skill(&self) -> Result<GetSkillResult, ToolError> {
        todo!()
    }

    /// A root.
    #[secure_tool(authz = public, mode = read)]
    async fn root(&self) -> Result<Root, ToolError> {
        todo!()
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

//! A handler's result cannot name a type parameter of its impl: whether it is one of
//! rmcp's protocol types is decided by type where the router is compiled, once, for every
//! type the parameter is later given.

#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server<R> {
    reply: R,
}

#[secure_tool_router]
impl<R: serde::Serialize + schemars::JsonSchema + Clone + Send + Sync + 'static> Server<R> {
    /// Returns whatever `R` is: `CallToolResult`, say.
    #[secure_tool(authz = public, mode = read)]
    async fn get(&self) -> Result<R, ToolError> {
        Ok(self.reply.clone())
    }

    /// Or a list of it.
    #[secure_tool(authz = public, mode = read)]
    async fn all(&self) -> Result<Vec<R>, ToolError> {
        Ok(vec![self.reply.clone()])
    }

    /// Or it, through an associated type of `Self`.
    #[secure_tool(authz = public, mode = read)]
    async fn projected(&self) -> Result<<Self as Reply>::Of, ToolError> {
        Ok(self.reply.clone())
    }
}

trait Reply {
    type Of;
}

impl<R> Reply for Server<R> {
    type Of = R;
}

impl<R: Send + Sync + 'static> secure_tool::rmcp::ServerHandler for Server<R> {}

fn main() {}

#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[secure_tool_router]
impl Server {
    /// Say hello, as plain text.
    #[secure_prompt(authz = public)]
    async fn greet(&self) -> Result<String, ToolError> {
        Ok("Hello!".to_owned())
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

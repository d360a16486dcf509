#![allow(dead_code, unused_imports)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// Reads, and tries to mint the write capability: its constructor and the old grant.
    #[secure_tool(authz = public, mode = read)]
    async fn get(&self) -> Result<Out, ToolError> {
        let _constructor = WriteAccess::for_call();
        let _granted = <WriteAccess as secure_tool::__private::Grant<
            secure_tool::__private::WriteMode,
        >>::grant();
        let _public = <WriteAccess as secure_tool::capability::Grant<()>>::grant();
        Ok(Out { id: 1 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

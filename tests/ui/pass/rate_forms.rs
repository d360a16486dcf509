//! Every accepted form of `rate = ...`: a string read when the crate compiles, a constant
//! `Rate`, and an expression read when the router is built.

use secure_tool::prelude::*;
use secure_tool::rate::Rate;

#[derive(Clone)]
struct Server;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

const HOURLY: Rate = Rate::per_hour(100);

#[secure_tool_router]
impl Server {
    /// Per minute.
    #[secure_tool(authz = public, mode = read, rate = "30/min")]
    async fn a(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }

    /// Per second, with its own burst.
    #[secure_tool(authz = public, mode = read, rate = " 5 / second burst 20 ")]
    async fn b(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 2 })
    }

    /// A constant.
    #[secure_tool(authz = public, mode = read, rate = HOURLY)]
    async fn c(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 3 })
    }

    /// An expression.
    #[secure_tool(authz = public, mode = read, rate = Rate::per_second(2).with_burst(1))]
    async fn d(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 4 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {
    let manifest = SecureServer::new(Server).manifest();
    let rates: Vec<_> = manifest
        .tools
        .iter()
        .map(|tool| tool.rate_limit.as_deref().unwrap())
        .collect();
    assert_eq!(rates, ["30/min", "5/s burst 20", "100/h", "2/s burst 1"]);
}

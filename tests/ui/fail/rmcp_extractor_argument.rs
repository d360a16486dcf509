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

use secure_tool::rmcp::handler::server::tool::Extension;
use secure_tool::rmcp::handler::server::wrapper::Parameters;
use secure_tool::rmcp::service::RequestContext;
use secure_tool::rmcp::{Json, Peer, RoleServer};

#[secure_tool_router]
impl Server {
    /// A request extension.
    #[secure_tool(authz = public, mode = read)]
    async fn a(&self, caller: Extension<String>) -> Result<Out, ToolError> {
        let _ = caller;
        Ok(Out { id: 1 })
    }

    /// The request context.
    #[secure_tool(authz = public, mode = read)]
    async fn b(&self, context: RequestContext<RoleServer>) -> Result<Out, ToolError> {
        let _ = context;
        Ok(Out { id: 1 })
    }

    /// The peer.
    #[secure_tool(authz = public, mode = read)]
    async fn c(&self, peer: Peer<RoleServer>) -> Result<Out, ToolError> {
        let _ = peer;
        Ok(Out { id: 1 })
    }

    /// rmcp's parameters wrapper.
    #[secure_tool(authz = public, mode = read)]
    async fn d(&self, Parameters(args): Parameters<Args>) -> Result<Out, ToolError> {
        Ok(Out { id: args.id })
    }

    /// rmcp's JSON wrapper.
    #[secure_tool(authz = public, mode = read)]
    async fn e(&self, Json(args): Json<Args>) -> Result<Out, ToolError> {
        Ok(Out { id: args.id })
    }

    /// Through an alias: caught by type.
    #[secure_tool(authz = public, mode = read)]
    async fn f(&self, args: Wrapped) -> Result<Out, ToolError> {
        Ok(Out { id: args.0.id })
    }
}

type Wrapped = Parameters<Args>;

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

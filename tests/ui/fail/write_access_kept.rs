//! A write tool cannot keep its `WriteAccess` past the call: not in a `static`, not in the
//! server's state, not down a channel, not in a spawned task.
#![allow(dead_code)]

use std::sync::Mutex;

use secure_tool::prelude::*;

static KEPT: Mutex<Option<WriteAccess<'static>>> = Mutex::new(None);

#[derive(Clone)]
struct Server {
    kept: std::sync::Arc<Mutex<Vec<WriteAccess<'static>>>>,
    outbox: tokio::sync::mpsc::UnboundedSender<WriteAccess<'static>>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

#[secure_tool_router]
impl Server {
    /// Keeps the capability in a static.
    #[secure_tool(authz = authenticated, mode = write)]
    async fn in_a_static(&self, access: WriteAccess<'_>) -> Result<Out, ToolError> {
        *KEPT.lock().unwrap() = Some(access);
        Ok(Out { id: 1 })
    }

    /// Keeps the capability in the server's state.
    #[secure_tool(authz = authenticated, mode = write)]
    async fn in_the_state(&self, access: WriteAccess<'_>) -> Result<Out, ToolError> {
        self.kept.lock().unwrap().push(access);
        Ok(Out { id: 2 })
    }

    /// Sends the capability to whoever listens.
    #[secure_tool(authz = authenticated, mode = write)]
    async fn down_a_channel(&self, access: WriteAccess<'_>) -> Result<Out, ToolError> {
        let _ = self.outbox.send(access);
        Ok(Out { id: 3 })
    }

    /// Hands the capability to a task that outlives the call.
    #[secure_tool(authz = authenticated, mode = write)]
    async fn into_a_task(&self, access: WriteAccess<'_>) -> Result<Out, ToolError> {
        tokio::spawn(async move {
            let _access = access;
        });
        Ok(Out { id: 4 })
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

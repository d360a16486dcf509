//! Client notifications of methods the protocol does not define reach the state only when
//! custom methods are forwarded, as custom requests do.

use rmcp::model::{ClientNotification, CustomNotification};
use rmcp::{RoleClient, ServiceExt as _};
use tokio::sync::mpsc;

use super::serve_built;
use crate::prelude::*;
use crate::server::Unguarded;

/// A state that reports every custom notification it is given.
#[derive(Clone)]
struct Listener {
    heard: mpsc::UnboundedSender<String>,
}

#[secure_tool_router]
impl Listener {
    /// Does nothing.
    #[secure_tool(authz = public(), mode = read)]
    async fn noop(&self) -> Result<String, ToolError> {
        Ok(String::new())
    }
}

impl rmcp::ServerHandler for Listener {
    async fn ping(
        &self,
        _: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<(), rmcp::ErrorData> {
        let _ = self.heard.send("ping".to_owned());
        Ok(())
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _: rmcp::service::NotificationContext<rmcp::RoleServer>,
    ) {
        let _ = self.heard.send(notification.method);
    }
}

/// What the state heard of one custom notification, sent by a client of a server that
/// forwards `unguarded`: the notification, then a request answered after it was handled
/// (the test's runtime runs tasks in the order they were spawned, the notification's
/// first).
async fn heard(unguarded: &[Unguarded]) -> Option<String> {
    let (heard, mut hearing) = mpsc::unbounded_channel();
    let mut builder = SecureServer::builder(Listener { heard });
    for surface in unguarded {
        builder = builder.with_unguarded(*surface, "the test says so");
    }
    let client: rmcp::service::RunningService<RoleClient, ()> =
        ().serve(serve_built(builder.build()))
            .await
            .expect("client connects");
    client
        .send_notification(ClientNotification::CustomNotification(
            CustomNotification::new("acme/reindex", None),
        ))
        .await
        .unwrap();
    client.list_all_tools().await.unwrap();
    hearing.try_recv().ok()
}

#[tokio::test]
async fn a_custom_notification_reaches_the_state_only_when_custom_methods_are_forwarded() {
    assert_eq!(heard(&[]).await, None);
    assert_eq!(
        heard(&[Unguarded::CustomRequests]).await.as_deref(),
        Some("acme/reindex")
    );
}

#[tokio::test]
async fn a_ping_is_answered_without_the_states_own_handler() {
    let (heard, mut hearing) = mpsc::unbounded_channel();
    let server = SecureServer::builder(Listener { heard })
        .with_unguarded(Unguarded::CustomRequests, "even so")
        .build();
    let client: rmcp::service::RunningService<RoleClient, ()> =
        ().serve(serve_built(server))
            .await
            .expect("client connects");
    let pong = client
        .send_request(rmcp::model::ClientRequest::PingRequest(Default::default()))
        .await
        .unwrap();
    assert!(
        matches!(pong, rmcp::model::ServerResult::EmptyResult(_)),
        "{pong:?}"
    );
    assert!(hearing.try_recv().is_err(), "the state's ping was called");
}

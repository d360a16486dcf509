//! Resource subscriptions, authorized per resource, through an rmcp client: a caller who
//! may not read a resource cannot subscribe to it (the answer of a missing one), and an
//! update goes only to subscribers whose policy lets them read it when it is sent.

#![allow(deprecated)] // `resources/subscribe` is what sessions with a handshake use.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rmcp::model::{
    ReadResourceRequestParams, ResourceUpdatedNotificationParam, SubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::{ClientHandler, ServiceExt};
use tokio::sync::mpsc;

use super::serve_built;
use crate::authz::{
    AccessRequest, Authorize, Decision, PolicyFuture, Principal, all_of, custom, scopes,
};
use crate::prelude::*;

/// A policy an operator can revoke: allows until `revoked` is set.
#[derive(Clone, Default)]
struct Revocable(Arc<AtomicBool>);

impl Authorize for Revocable {
    fn authorize<'a>(&'a self, _: AccessRequest<'a>) -> PolicyFuture<'a> {
        let revoked = self.0.load(Ordering::SeqCst);
        Box::pin(async move {
            Ok(if revoked {
                Decision::Deny
            } else {
                Decision::Allow
            })
        })
    }
}

#[derive(Clone, Default)]
struct Notes {
    access: Revocable,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoteUri {
    id: u64,
}

fn readers(notes: &Notes) -> crate::Policy {
    all_of([scopes("notes:read"), custom(notes.access.clone())])
}

#[secure_tool_router]
impl Notes {
    /// One note.
    #[secure_resource(uri = "notes://{id}", authz = scopes("notes:read"))]
    async fn note(&self, uri: NoteUri) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text(uri.id.to_string()))
    }
}

impl rmcp::ServerHandler for Notes {}

/// A client that reports the URI of every `notifications/resources/updated`.
struct Watcher(mpsc::UnboundedSender<String>);

impl ClientHandler for Watcher {
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(params.uri);
    }
}

/// A server on `notes` whose local caller is `principal`, and a client of it.
async fn connect(
    notes: &Notes,
    principal: Principal,
) -> (
    SecureServer<Notes>,
    RunningService<RoleClient, Watcher>,
    mpsc::UnboundedReceiver<String>,
) {
    let server =
        crate::SecureServerBuilder::with_router(notes.clone(), Notes::secure_tool_router())
            .server_policy(readers(notes))
            .local_principal(principal)
            .build();
    let (client, updates) = watch(&server).await;
    (server, client, updates)
}

/// A client of `server`, over an in-memory pipe, that reports the updates it is sent.
async fn watch(
    server: &SecureServer<Notes>,
) -> (
    RunningService<RoleClient, Watcher>,
    mpsc::UnboundedReceiver<String>,
) {
    let (tx, updates) = mpsc::unbounded_channel();
    let client = Watcher(tx)
        .serve(serve_built(server.clone()))
        .await
        .expect("client connects");
    (client, updates)
}

#[tokio::test]
async fn only_readers_subscribe_and_updates_follow_the_policy_when_sent() {
    let notes = Notes::default();
    let (server, reader, mut updates) =
        connect(&notes, Principal::new("ada").with_scopes(["notes:read"])).await;
    let (_, outsider, _) = connect(&notes, Principal::new("eve")).await;
    let capabilities = reader.peer_info().unwrap().capabilities.clone();
    assert_eq!(capabilities.resources.unwrap().subscribe, Some(true));

    // A caller who may not read gets the answer of a resource that does not exist.
    let denied = outsider
        .subscribe(SubscribeRequestParams::new("notes://1"))
        .await
        .unwrap_err()
        .to_string();
    let missing = reader
        .subscribe(SubscribeRequestParams::new("nothing://1"))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(denied, missing);
    let read_missing = reader
        .read_resource(ReadResourceRequestParams::new("nothing://1"))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(denied, read_missing);

    reader
        .subscribe(SubscribeRequestParams::new("notes://1"))
        .await
        .unwrap();
    assert_eq!(server.notify_resource_updated("notes://1").await, 1);
    let told = tokio::time::timeout(Duration::from_secs(5), updates.recv()).await;
    assert_eq!(told.unwrap().as_deref(), Some("notes://1"));
    // Another note, never subscribed to: nobody is told.
    assert_eq!(server.notify_resource_updated("notes://2").await, 0);

    // Access revoked after subscribing: the update is not sent.
    notes.access.0.store(true, Ordering::SeqCst);
    assert_eq!(server.notify_resource_updated("notes://1").await, 0);
    notes.access.0.store(false, Ordering::SeqCst);

    reader
        .unsubscribe(rmcp::model::UnsubscribeRequestParams::new("notes://1"))
        .await
        .unwrap();
    assert_eq!(server.notify_resource_updated("notes://1").await, 0);
    assert!(
        updates.try_recv().is_err(),
        "nothing after the revocation or unsubscribing"
    );
}

/// Allows a read of note 1 only, judged by the request's `id` when it has one (a policy
/// that trusts its arguments to be there when they matter).
struct NoteOne;

impl Authorize for NoteOne {
    fn authorize<'a>(&'a self, request: AccessRequest<'a>) -> PolicyFuture<'a> {
        let id = request
            .arguments
            .and_then(|arguments| arguments.get("id"))
            .and_then(serde_json::Value::as_u64);
        Box::pin(async move {
            Ok(match id {
                Some(1) | None => Decision::Allow,
                Some(_) => Decision::Deny,
            })
        })
    }
}

#[tokio::test]
async fn a_subscription_is_decided_with_the_uris_parameters_as_a_read_is() {
    let server =
        crate::SecureServerBuilder::with_router(Notes::default(), Notes::secure_tool_router())
            .server_policy(custom(NoteOne))
            .local_principal(Principal::new("ada").with_scopes(["notes:read"]))
            .build();
    let (client, mut updates) = watch(&server).await;

    // The read of note 2 is denied; so is subscribing to it.
    assert!(
        server
            .read_resource(
                "notes://2",
                Principal::new("ada").with_scopes(["notes:read"])
            )
            .await
            .is_err()
    );
    let denied = client
        .subscribe(SubscribeRequestParams::new("notes://2"))
        .await
        .unwrap_err()
        .to_string();
    assert!(denied.contains("Resource not found"), "{denied}");
    assert_eq!(server.notify_resource_updated("notes://2").await, 0);

    // Note 1, subscribed to in another spelling: told of its updates in any spelling, in
    // the spelling it subscribed with.
    client
        .subscribe(SubscribeRequestParams::new("NOTES://%31"))
        .await
        .unwrap();
    assert_eq!(server.notify_resource_updated("notes://1").await, 1);
    let told = tokio::time::timeout(Duration::from_secs(5), updates.recv()).await;
    assert_eq!(told.unwrap().as_deref(), Some("NOTES://%31"));
}

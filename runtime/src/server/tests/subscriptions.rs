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

    /// The notes' readme.
    #[secure_resource(uri = "docs://readme", authz = scopes("notes:read"))]
    async fn readme(&self) -> Result<ResourceBody, ToolError> {
        Ok(ResourceBody::text("notes"))
    }

    /// A board anyone may read.
    #[secure_resource(uri = "board://{id}", authz = public)]
    async fn board(&self, uri: NoteUri) -> Result<ResourceBody, ToolError> {
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

    // Note 1, subscribed to in another spelling: told of its updates in any spelling, by
    // the resource's own URI (never the subscriber's spelling echoed back).
    client
        .subscribe(SubscribeRequestParams::new("NOTES://%31#MARK"))
        .await
        .unwrap();
    assert_eq!(server.notify_resource_updated("notes://1").await, 1);
    let told = tokio::time::timeout(Duration::from_secs(5), updates.recv()).await;
    assert_eq!(told.unwrap().as_deref(), Some("notes://1"));
}

#[tokio::test]
async fn a_subscription_in_any_spelling_that_reads_a_resource_is_to_that_resource() {
    let notes = Notes::default();
    let (server, client, mut updates) =
        connect(&notes, Principal::new("ada").with_scopes(["notes:read"])).await;
    // A fixed URI with its authority in capitals, a template's URI with a fragment: each
    // reads its resource, so each subscribes to it, and is told of it by its own URI.
    for (subscribed, changed) in [
        ("DOCS://README", "docs://readme"),
        ("notes://1#x", "notes://1"),
    ] {
        client
            .subscribe(SubscribeRequestParams::new(subscribed))
            .await
            .unwrap();
        assert_eq!(
            server.notify_resource_updated(changed).await,
            1,
            "{subscribed}"
        );
        let told = tokio::time::timeout(Duration::from_secs(5), updates.recv()).await;
        assert_eq!(told.unwrap().as_deref(), Some(changed));
        // And unsubscribing in another spelling ends it.
        client
            .unsubscribe(rmcp::model::UnsubscribeRequestParams::new(changed))
            .await
            .unwrap();
        assert_eq!(
            server.notify_resource_updated(subscribed).await,
            0,
            "{subscribed}"
        );
    }
}

#[tokio::test]
async fn one_caller_cannot_hold_more_than_its_share_of_subscriptions() {
    use crate::server::subscriptions::{
        MAX_SUBSCRIPTIONS_PER_CALLER, MAX_SUBSCRIPTIONS_PER_SESSION,
    };
    // No server policy: each resource's own decides (the board lets anyone read it).
    let server =
        crate::SecureServerBuilder::with_router(Notes::default(), Notes::secure_tool_router())
            .local_principal(Principal::new("mallory").with_scopes(["notes:read"]))
            .build();
    let mut sessions = Vec::new();
    for _ in 0..MAX_SUBSCRIPTIONS_PER_CALLER / MAX_SUBSCRIPTIONS_PER_SESSION {
        sessions.push(watch(&server).await.0);
    }
    let mut id = 0;
    for session in &sessions {
        for _ in 0..MAX_SUBSCRIPTIONS_PER_SESSION {
            id += 1;
            session
                .subscribe(SubscribeRequestParams::new(format!("notes://{id}")))
                .await
                .unwrap();
        }
    }
    // Its share is used up: another session of the same caller is refused...
    let (more, _) = watch(&server).await;
    let refused = more
        .subscribe(SubscribeRequestParams::new("notes://0"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("too many resource subscriptions"),
        "{refused}"
    );
    // ...while another caller (anonymous, on a transport not trusted with the local
    // caller) still subscribes.
    let (tx, _updates) = mpsc::unbounded_channel();
    let io = {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let server = server.clone();
        tokio::spawn(async move {
            let running = rmcp::ServiceExt::serve(server, server_io).await.unwrap();
            let _ = running.waiting().await;
        });
        client_io
    };
    let other = Watcher(tx).serve(io).await.unwrap();
    other
        .subscribe(SubscribeRequestParams::new("board://1"))
        .await
        .unwrap();
}

/// A session that subscribes to `uri` and then never reads again.
async fn stalled_subscriber(server: &SecureServer<Notes>, uri: &str) -> tokio::io::DuplexStream {
    let subscribe = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe",
        "params": {"uri": uri}});
    super::stalled(serve_built(server.clone()), &[subscribe], 2).await
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_that_stops_reading_delays_no_one_elses_updates() {
    let notes = Notes::default();
    let (server, reader, mut updates) =
        connect(&notes, Principal::new("ada").with_scopes(["notes:read"])).await;
    reader
        .subscribe(SubscribeRequestParams::new("notes://1"))
        .await
        .unwrap();
    let _stalled = stalled_subscriber(&server, "notes://1").await;

    // Enough updates to fill every buffer between the server and the stalled client: past
    // them, its update waits, at most `NOTIFY_TIMEOUT`, and it is dropped.
    const UPDATES: usize = 2_000;
    let mut told = Vec::new();
    let all_sent = tokio::time::timeout(Duration::from_secs(60), async {
        for _ in 0..UPDATES {
            told.push(server.notify_resource_updated("notes://1").await);
        }
    })
    .await;
    assert!(all_sent.is_ok(), "an update waited on the stalled client");
    assert_eq!(
        told.first(),
        Some(&2),
        "both are told while the stalled one's buffers fill"
    );
    assert_eq!(told.last(), Some(&1), "the stalled one is dropped");
    for _ in 0..UPDATES {
        let update = tokio::time::timeout(Duration::from_secs(5), updates.recv()).await;
        assert_eq!(update.unwrap().as_deref(), Some("notes://1"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_subscription_ends_with_its_callers_credential() {
    let notes = Notes::default();
    let ada = Principal::new("ada")
        .with_scopes(["notes:read"])
        .valid_for(Duration::from_secs(60));
    let (server, client, mut updates) = connect(&notes, ada).await;
    client
        .subscribe(SubscribeRequestParams::new("notes://1"))
        .await
        .unwrap();
    assert_eq!(server.notify_resource_updated("notes://1").await, 1);
    let told = tokio::time::timeout(Duration::from_secs(5), updates.recv()).await;
    assert_eq!(told.unwrap().as_deref(), Some("notes://1"));
    // The token it was made with has expired: no update, whatever the policy says.
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(server.notify_resource_updated("notes://1").await, 0);
}

#[tokio::test(start_paused = true)]
async fn subscribing_again_with_a_fresh_credential_renews_the_subscription() {
    let server =
        crate::SecureServerBuilder::with_router(Notes::default(), Notes::secure_tool_router())
            .build();
    let session = crate::context::tests::Open::new().await;
    let ada = |minutes: u64| {
        Principal::new("ada")
            .with_scopes(["notes:read"])
            .valid_for(Duration::from_secs(60 * minutes))
    };
    server
        .subscribe_session(session.peer(), ada(1), "notes://1".to_owned())
        .await
        .unwrap();
    // Half a minute on, the same session subscribes again with a fresh credential (its
    // client's token was refreshed): past the first one's end, it is still told.
    tokio::time::advance(Duration::from_secs(30)).await;
    server
        .subscribe_session(session.peer(), ada(2), "notes://1".to_owned())
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(server.notify_resource_updated("notes://1").await, 1);
    // Past the fresh one's end, nobody is told, and the subscription is gone.
    tokio::time::advance(Duration::from_secs(90)).await;
    assert_eq!(server.notify_resource_updated("notes://1").await, 0);
}

//! A deleted note is announced to the subscribers of `notes://{id}`: a reader subscribed
//! over an in-process rmcp session (`resources/subscribe`) is told when an administrator
//! deletes the note, and is not told of another note's deletion. The notifier of
//! `notes_server::updates` sends it; without one, nobody is told.

#![allow(deprecated)] // `resources/subscribe` is what sessions with a handshake use.

use std::time::Duration;

use notes_server::settings::Settings;
use notes_server::store::{Archive, Store};
use notes_server::tools::Notes;
use notes_server::updates;
use secure_tool::rmcp::model::{ResourceUpdatedNotificationParam, SubscribeRequestParams};
use secure_tool::rmcp::service::{NotificationContext, RoleClient};
use secure_tool::rmcp::{ClientHandler, ServiceExt};
use secure_tool::{Principal, SecureServer};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

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

fn admin() -> Principal {
    Principal::new("root")
        .with_scopes(["notes:read", "notes:write"])
        .with_roles(["admin"])
}

async fn call(server: &SecureServer<Notes>, tool: &str, arguments: Value) -> Value {
    let result = server
        .call_confirmed(tool, arguments.as_object().cloned(), admin())
        .await
        .unwrap();
    assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
    result.structured_content.unwrap()
}

#[tokio::test]
async fn a_deleted_note_is_announced_to_its_subscribers() {
    let (store, _heartbeat) = Store::in_memory().unwrap();
    let notes = Notes::new(
        store,
        Archive::in_memory().unwrap(),
        None,
        &Settings::default(),
    );
    let reader = Principal::new("bob").with_scopes(["notes:read"]);
    let server = SecureServer::builder(notes).local_principal(reader).build();
    let _notifier = updates::notify_subscribers(&server).expect("the first notifier starts");
    assert!(
        updates::notify_subscribers(&server).is_none(),
        "one notifier per server"
    );

    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let serving = server.clone();
    tokio::spawn(async move {
        let running = serving.serve_trusted(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    let (told, mut updates) = mpsc::unbounded_channel();
    let client = Watcher(told).serve(client_io).await.unwrap();

    let kept = call(&server, "create_note", json!({"title": "kept"})).await["id"].clone();
    let doomed = call(&server, "create_note", json!({"title": "doomed"})).await["id"].clone();
    let other = call(&server, "create_note", json!({"title": "other"})).await["id"].clone();
    for id in [&kept, &doomed] {
        client
            .subscribe(SubscribeRequestParams::new(format!("notes://{id}")))
            .await
            .unwrap();
    }

    // A note nobody subscribed to, then a subscribed one: only the second is announced.
    call(&server, "delete_note", json!({ "id": other })).await;
    call(&server, "delete_note", json!({ "id": doomed })).await;
    let update = tokio::time::timeout(WAIT, updates.recv()).await;
    assert_eq!(
        update.expect("the update arrives in time"),
        Some(format!("notes://{doomed}"))
    );
    // `other` left the queue before `doomed`: had it been sent, it would have come first.
    assert!(updates.try_recv().is_err(), "only the subscribed note");
}

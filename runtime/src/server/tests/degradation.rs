//! Read-only degradation through a `SecureServer` and a real rmcp client.

use std::time::Duration;

use rmcp::ClientHandler;
use rmcp::ServiceExt;
use rmcp::service::{NotificationContext, RoleClient};
use serde_json::json;
use tokio::sync::mpsc;

use super::{Notes, call, category};
use crate::health::{HealthMonitor, Path, Status};
use crate::prelude::*;

/// A client that reports every `notifications/tools/list_changed`.
struct Listener(mpsc::UnboundedSender<()>);

impl ClientHandler for Listener {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.0.send(());
    }
}

fn admin_reader() -> Principal {
    Principal::new("root")
        .with_scopes(["notes:read"])
        .with_roles(["admin"])
}

#[tokio::test]
async fn degraded_writes_answer_a_structured_result_reads_go_on_and_clients_are_told() {
    let monitor = HealthMonitor::builder().build();
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = SecureServer::builder(Notes::default())
        .local_principal(admin_reader())
        .health(monitor.clone())
        .build();
    tokio::spawn(async move {
        let running = server
            .serve_trusted(server_io)
            .await
            .expect("server starts");
        let _ = running.waiting().await;
    });
    let (tx, mut changed) = mpsc::unbounded_channel();
    let client = Listener(tx)
        .serve(client_io)
        .await
        .expect("client connects");
    let info = client.peer_info().unwrap();
    assert_eq!(
        info.capabilities
            .tools
            .as_ref()
            .and_then(|t| t.list_changed),
        Some(true)
    );

    // Healthy: the write tool runs.
    let deleted = call(&client, "delete_note", json!({"id": 1})).await;
    assert_ne!(deleted.is_error, Some(true), "{deleted:?}");

    monitor.force(Path::Writes, Some(Status::Degraded));
    tokio::time::timeout(Duration::from_secs(5), changed.recv())
        .await
        .expect("list_changed on degrade")
        .unwrap();

    let refused = call(&client, "delete_note", json!({"id": 1})).await;
    assert_eq!(refused.is_error, Some(true));
    assert_eq!(category(&refused).as_deref(), Some("degraded"));
    assert!(refused.structured_content.is_none());
    let structured = crate::sanitize::error_facts(&refused).unwrap();
    assert_eq!(structured["degraded"], true);
    assert_eq!(structured["retryable"], true);
    assert!(structured["retry_after_secs"].as_u64().unwrap() >= 1);
    let available: Vec<&str> = structured["available_tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(available.contains(&"get_note") && !available.contains(&"delete_note"));
    let text = super::text(&refused);
    assert!(
        text.contains("reads are unaffected") || text.contains("Read tools that still work"),
        "{text}"
    );
    assert!(text.contains("get_note"), "{text}");

    // Reads go on.
    let read = call(&client, "get_note", json!({"id": 1})).await;
    assert_ne!(read.is_error, Some(true), "{read:?}");

    // tools/list shows it.
    let tools = client.list_all_tools().await.unwrap();
    let delete = tools.iter().find(|t| t.name == "delete_note").unwrap();
    assert!(
        delete
            .description
            .as_deref()
            .unwrap()
            .starts_with("[Temporarily unavailable")
    );
    let get = tools.iter().find(|t| t.name == "get_note").unwrap();
    assert_eq!(get.description.as_deref(), Some("Reads a note."));

    // Recovery.
    monitor.force(Path::Writes, None);
    tokio::time::timeout(Duration::from_secs(5), changed.recv())
        .await
        .expect("list_changed on recovery")
        .unwrap();
    let deleted = call(&client, "delete_note", json!({"id": 1})).await;
    assert_ne!(deleted.is_error, Some(true), "{deleted:?}");
    let tools = client.list_all_tools().await.unwrap();
    let delete = tools.iter().find(|t| t.name == "delete_note").unwrap();
    assert_eq!(delete.description.as_deref(), Some("Deletes a note."));
}

#[tokio::test]
async fn without_a_monitor_nothing_is_gated() {
    let notes = Notes::default();
    let client = super::connect(notes, Some(admin_reader())).await;
    let deleted = call(&client, "delete_note", json!({"id": 1})).await;
    assert_ne!(deleted.is_error, Some(true));
}

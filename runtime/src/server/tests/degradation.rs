//! Read-only degradation through a `SecureServer` and a real rmcp client.

use std::time::Duration;

use rmcp::ClientHandler;
use rmcp::ServiceExt;
use rmcp::service::{NotificationContext, RoleClient};
use serde_json::json;
use tokio::sync::mpsc;

use super::{Notes, call, category};
use crate::health::{HealthMonitor, ServicePath, Status};
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

    monitor.force(ServicePath::Writes, Some(Status::Degraded));
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
    monitor.force(ServicePath::Writes, None);
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

/// A server with a health monitor (so that it remembers sessions to notify), and a
/// `Listener` session to it.
async fn session(
    server: &SecureServer<Notes>,
) -> (
    rmcp::service::RunningService<RoleClient, Listener>,
    mpsc::UnboundedReceiver<()>,
) {
    let (tx, changed) = mpsc::unbounded_channel();
    let client = Listener(tx)
        .serve(served(server))
        .await
        .expect("client connects");
    (client, changed)
}

/// The client's end of a pipe `server` serves (trusted, in the background).
fn served(server: &SecureServer<Notes>) -> tokio::io::DuplexStream {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = server.clone();
    tokio::spawn(async move {
        if let Ok(running) = server.serve_trusted(server_io).await {
            let _ = running.waiting().await;
        }
    });
    client_io
}

/// Waits, on tokio's paused clock, until the server remembers `expected` sessions.
async fn until_sessions(server: &SecureServer<Notes>, expected: usize) {
    for _ in 0..100 {
        if server.notified_sessions() == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the server remembers {} sessions, expected {expected}",
        server.notified_sessions()
    );
}

/// `client` sends `notifications/initialized` 50 times, then a request: once it is
/// answered, the server has handled them all.
async fn says_initialized_50_times<C: ClientHandler>(
    client: &rmcp::service::RunningService<RoleClient, C>,
) {
    use rmcp::model::{ClientNotification, InitializedNotification};
    for _ in 0..50 {
        client
            .send_notification(ClientNotification::InitializedNotification(
                InitializedNotification::default(),
            ))
            .await
            .unwrap();
    }
    let _ = call(client, "get_note", json!({"id": 1})).await;
}

#[tokio::test(start_paused = true)]
async fn a_session_is_remembered_once_however_often_it_says_initialized() {
    let monitor = HealthMonitor::builder().build();
    let server = SecureServer::builder(Notes::default())
        .local_principal(admin_reader())
        .health(monitor.clone())
        .build();
    let (client, mut changed) = session(&server).await;
    says_initialized_50_times(&client).await;
    assert_eq!(server.notified_sessions(), 1);
    monitor.force(ServicePath::Writes, Some(Status::Degraded));
    changed.recv().await.expect("list_changed on degrade");
    monitor.force(ServicePath::Writes, Some(Status::Healthy));
    changed.recv().await.expect("list_changed on recovery");
    let _ = call(&client, "get_note", json!({"id": 1})).await;
    assert!(changed.try_recv().is_err(), "a session was notified twice");
}

#[tokio::test(start_paused = true)]
async fn a_client_without_a_handshake_is_never_remembered_however_often_it_says_initialized() {
    use rmcp::ClientServiceExt;
    use rmcp::model::ProtocolVersion;
    let monitor = HealthMonitor::builder().build();
    let server = SecureServer::builder(Notes::default())
        .local_principal(admin_reader())
        .health(monitor)
        .build();
    let modern = rmcp::ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    let client = ().serve_with_lifecycle(served(&server), modern).await.unwrap();
    // Its first request opens the session.
    let _ = call(&client, "get_note", json!({"id": 1})).await;
    says_initialized_50_times(&client).await;
    assert_eq!(server.notified_sessions(), 0);
}

#[tokio::test(start_paused = true)]
async fn closed_sessions_are_forgotten_with_what_their_clients_sent() {
    let monitor = HealthMonitor::builder().build();
    let server = SecureServer::builder(Notes::default())
        .local_principal(admin_reader())
        .health(monitor)
        .build();
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(session(&server).await);
    }
    until_sessions(&server, 3).await;
    for (client, _) in sessions {
        client.cancel().await.unwrap();
    }
    // Forgotten by the watcher within its period, with no other session or health change.
    until_sessions(&server, 0).await;
    // And when the next session registers.
    let mut more = Vec::new();
    for _ in 0..2 {
        more.push(session(&server).await);
    }
    until_sessions(&server, 2).await;
    let (first, _) = more.remove(0);
    first.cancel().await.unwrap();
    let _third = session(&server).await;
    until_sessions(&server, 2).await;
}

/// A 2026-07-28 client (no handshake) asking `server` to listen for the changes `filter`
/// names.
async fn listen(
    server: &SecureServer<Notes>,
    filter: rmcp::model::SubscriptionFilter,
) -> (
    rmcp::service::RunningService<RoleClient, ()>,
    Result<rmcp::service::Subscription, rmcp::ServiceError>,
) {
    use rmcp::model::ProtocolVersion;
    use rmcp::{ClientLifecycleMode, ClientServiceExt};
    let modern = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    let client = ().serve_with_lifecycle(served(server), modern).await.unwrap();
    let stream = client.listen(filter).await;
    (client, stream)
}

#[tokio::test(start_paused = true)]
async fn a_listen_stream_is_told_each_time_writes_change_and_forgotten_when_it_ends() {
    use rmcp::model::SubscriptionFilter;
    let monitor = HealthMonitor::builder().build();
    let server = SecureServer::builder(Notes::default())
        .local_principal(admin_reader())
        .health(monitor.clone())
        .build();
    let filter = SubscriptionFilter::builder().tools_list_changed().build();
    let (_client, stream) = listen(&server, filter).await;
    let mut stream = stream.unwrap();
    assert_eq!(stream.acknowledged().tools_list_changed, Some(true));
    until_sessions(&server, 1).await;
    // Degraded, then healthy again: the stream is told both times (it is still known
    // after the first notification).
    for status in [Status::Degraded, Status::Healthy] {
        monitor.force(ServicePath::Writes, Some(status));
        told_the_tools_changed(&mut stream).await;
    }
    // The stream ends: the server no longer holds it.
    stream.cancel().await.unwrap();
    until_sessions(&server, 0).await;
}

#[tokio::test]
async fn without_a_monitor_there_are_no_tool_list_changes_to_listen_for() {
    use rmcp::model::SubscriptionFilter;
    let server = SecureServer::builder(Notes::default())
        .local_principal(admin_reader())
        .build();
    let filter = SubscriptionFilter::builder().tools_list_changed().build();
    let (_client, stream) = listen(&server, filter).await;
    // Nothing the server could send: the request is refused as unsupported.
    let refused = stream.expect_err("a stream for changes that never come");
    assert!(
        refused.to_string().contains("subscriptions/listen"),
        "{refused}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_ending_ends_only_itself_whatever_request_id_it_shares() {
    use rmcp::model::SubscriptionFilter;
    let monitor = HealthMonitor::builder().build();
    let server = SecureServer::builder(Notes::default())
        .local_principal(admin_reader())
        .health(monitor.clone())
        .build();
    let filter = || SubscriptionFilter::builder().tools_list_changed().build();
    let (_first, a) = listen(&server, filter()).await;
    let (_second, b) = listen(&server, filter()).await;
    let (mut a, mut b) = (a.unwrap(), b.unwrap());
    // Each client numbers its own requests: the two streams share their id.
    assert_eq!(a.id(), b.id());
    until_sessions(&server, 2).await;
    // The first ends: the second is still known, and told.
    a.cancel().await.unwrap();
    until_sessions(&server, 1).await;
    monitor.force(ServicePath::Writes, Some(Status::Degraded));
    told_the_tools_changed(&mut b).await;
}

/// Waits for `stream`'s next notification, which must say the tool list changed.
async fn told_the_tools_changed(stream: &mut rmcp::service::Subscription) {
    let told = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the change is told in time")
        .unwrap();
    assert!(
        matches!(
            told,
            Some(rmcp::model::ServerNotification::ToolListChangedNotification(_))
        ),
        "{told:?}"
    );
}

/// A session that shakes hands and then never reads again.
async fn stalled_session(server: &SecureServer<Notes>) -> tokio::io::DuplexStream {
    super::stalled(served(server), &[], 1).await
}

#[tokio::test(start_paused = true)]
async fn a_session_that_stops_reading_is_forgotten_and_delays_no_one() {
    let monitor = HealthMonitor::builder().build();
    let server = SecureServer::builder(Notes::default())
        .local_principal(admin_reader())
        .health(monitor.clone())
        .build();
    let (_reader, mut changed) = session(&server).await;
    let _stalled = stalled_session(&server).await;
    until_sessions(&server, 2).await;
    // Changes, each told to the reader at once, until the stalled session's buffers are
    // full: then it is told within `NOTIFY_TIMEOUT`, or forgotten.
    let mut degraded = false;
    for _ in 0..20_000 {
        degraded = !degraded;
        let status = if degraded {
            Status::Degraded
        } else {
            Status::Healthy
        };
        monitor.force(ServicePath::Writes, Some(status));
        changed.recv().await.expect("the reader is told");
        if server.notified_sessions() == 1 {
            break;
        }
    }
    assert_eq!(server.notified_sessions(), 1, "the stalled session is held");
    // The reader goes on being told.
    let status = if degraded {
        Status::Healthy
    } else {
        Status::Degraded
    };
    monitor.force(ServicePath::Writes, Some(status));
    changed.recv().await.expect("the reader is told still");
}

//! Tests of [`context`](super).

use super::*;

#[test]
fn a_long_message_is_cut_at_a_character_boundary_before_the_limit() {
    // One byte, then two-byte characters: the limit falls inside one.
    let text = format!("x{}", "é".repeat(MAX_MESSAGE_BYTES));
    let cut = capped(text.into());
    assert_eq!(cut.len(), MAX_MESSAGE_BYTES - 1);
    assert!(cut.ends_with('é'));
    let exact = "y".repeat(MAX_MESSAGE_BYTES);
    assert_eq!(capped(exact.clone().into()), exact);
}

#[test]
fn a_context_prints_its_call_not_its_session() {
    let printed = format!(
        "{:?}",
        CallContext::new(None, "delete_note", Principal::new("ada"))
    );
    assert_eq!(
        printed,
        r#"CallContext { name: "delete_note", session: false, caller: Principal { subject: "ada", scopes: [], roles: [] } }"#
    );
}

/// A server with nothing to serve: its sessions' peers are what log levels are kept for.
struct Bare;

impl rmcp::ServerHandler for Bare {}

/// A session that shook hands: the server's running end and the client's, whose
/// cancellation closes it.
pub(crate) struct Open {
    server: rmcp::service::RunningService<RoleServer, Bare>,
    client: rmcp::service::RunningService<rmcp::RoleClient, ()>,
}

impl Open {
    pub(crate) async fn new() -> Self {
        use rmcp::ServiceExt as _;
        let (server_io, client_io) = tokio::io::duplex(4096);
        let (server, client) = tokio::join!(Bare.serve(server_io), ().serve(client_io));
        Self {
            server: server.expect("the server end shakes hands"),
            client: client.expect("the client end shakes hands"),
        }
    }

    /// The server's end, as a request's context carries it (a clone).
    pub(crate) fn peer(&self) -> Peer<RoleServer> {
        self.server.peer().clone()
    }

    /// Closes the session and waits until the server's end knows it.
    async fn close(self) {
        let peer = self.peer();
        self.client.cancel().await.expect("the client closes");
        let _ = self.server.waiting().await;
        assert!(peer.is_transport_closed());
    }
}

#[tokio::test]
async fn each_session_finds_its_own_level_and_the_last_it_set() {
    let levels = LogLevels::default();
    let (a, b) = (Open::new().await, Open::new().await);
    assert_eq!(levels.get(&a.peer()), None);
    levels.set(&a.peer(), LogLevel::Debug);
    assert_eq!(levels.get(&a.peer()), Some(LogLevel::Debug));
    assert_eq!(levels.get(&b.peer()), None, "b never set one");
    levels.set(&b.peer(), LogLevel::Warning);
    levels.set(&a.peer(), LogLevel::Error);
    assert_eq!(levels.get(&a.peer()), Some(LogLevel::Error));
    assert_eq!(levels.get(&b.peer()), Some(LogLevel::Warning));
    assert_eq!(levels.len(), 2, "one entry a session");
}

#[tokio::test]
async fn a_closed_sessions_level_goes_when_the_next_is_set() {
    let levels = LogLevels::default();
    let (a, b) = (Open::new().await, Open::new().await);
    levels.set(&a.peer(), LogLevel::Debug);
    a.close().await;
    levels.set(&b.peer(), LogLevel::Debug);
    assert_eq!(levels.len(), 1, "the closed session's peer was kept");
}

#[tokio::test]
async fn beyond_the_most_remembered_the_oldest_level_is_forgotten() {
    let levels = LogLevels::at_most(2);
    let sessions = [
        Open::new().await,
        Open::new().await,
        Open::new().await,
        Open::new().await,
    ];
    let [a, b, c, d] = &sessions;
    levels.set(&a.peer(), LogLevel::Debug);
    levels.set(&b.peer(), LogLevel::Notice);
    levels.set(&c.peer(), LogLevel::Warning);
    assert_eq!(levels.get(&a.peer()), None, "the oldest is forgotten");
    assert_eq!(levels.get(&b.peer()), Some(LogLevel::Notice));
    assert_eq!(levels.get(&c.peer()), Some(LogLevel::Warning));
    // A session that has a level already takes no one else's place, and keeps its
    // turn: b, which set its level first, is the next to go.
    levels.set(&c.peer(), LogLevel::Error);
    levels.set(&b.peer(), LogLevel::Info);
    assert_eq!(levels.get(&b.peer()), Some(LogLevel::Info));
    assert_eq!(levels.get(&c.peer()), Some(LogLevel::Error));
    levels.set(&d.peer(), LogLevel::Debug);
    assert_eq!(levels.get(&b.peer()), None, "b set its level first");
    assert_eq!(levels.get(&c.peer()), Some(LogLevel::Error));
    assert_eq!(levels.get(&d.peer()), Some(LogLevel::Debug));
    levels.set(&a.peer(), LogLevel::Debug);
    assert_eq!(levels.len(), 2, "at most two are remembered");
    assert_eq!(levels.get(&c.peer()), None);
}

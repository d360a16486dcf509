//! Read-only degradation: the write gate, and the sessions told when the tool surface
//! changes (`notifications/tools/list_changed`).

use std::sync::Arc;
use std::time::Duration;

use rmcp::service::RoleServer;

use super::subscriptions::{NOTIFY_TIMEOUT, same_stream};
use super::{SecureServer, lock};
use crate::health::HealthMonitor;

/// Read-only degradation: the monitor, what to tell callers of write tools, and who to
/// notify when the tool surface changes.
pub(super) struct WriteGate {
    pub(super) monitor: HealthMonitor,
    /// The read tools, named in the degraded answer of write tools.
    pub(super) read_tools: Vec<String>,
    /// Legacy sessions (initialize handshake), notified directly.
    pub(super) peers: std::sync::Mutex<Vec<rmcp::service::Peer<RoleServer>>>,
    /// 2026-07-28 sessions, notified on their `subscriptions/listen` stream.
    pub(super) sinks: std::sync::Mutex<Vec<rmcp::service::SubscriptionSink>>,
    pub(super) watcher: std::sync::OnceLock<()>,
}

impl<S: Send + Sync + 'static> SecureServer<S> {
    /// Remembers a session to notify when the tool surface changes, and makes sure the
    /// task that does it runs. A session is remembered once, however often its client
    /// sends `notifications/initialized`, and closed sessions are forgotten here (and by
    /// the watcher, every [`PRUNE_CLOSED_SESSIONS`]): a peer holds its client's
    /// `initialize` parameters, which must not outlive the session.
    pub(crate) fn register_peer(&self, peer: rmcp::service::Peer<RoleServer>) {
        // Without a handshake there is no legacy session to tell (a 2026-07-28 client is
        // told on its `subscriptions/listen` stream), nor anything to know it again by.
        if peer.peer_info().is_none() {
            return;
        }
        if let Some(gate) = &self.inner.gate {
            let mut peers = lock(&gate.peers);
            peers.retain(|known| !known.is_transport_closed());
            if !peers.iter().any(|known| same_session(known, &peer)) {
                peers.push(peer);
            }
            drop(peers);
            self.ensure_watcher(gate);
        }
    }

    /// How many sessions are remembered for `notifications/tools/list_changed`.
    #[cfg(test)]
    pub(crate) fn notified_sessions(&self) -> usize {
        self.inner
            .gate
            .as_ref()
            .map_or(0, |gate| lock(&gate.peers).len() + lock(&gate.sinks).len())
    }

    pub(crate) fn register_sink(&self, sink: rmcp::service::SubscriptionSink) {
        if let Some(gate) = &self.inner.gate {
            lock(&gate.sinks).push(sink);
            self.ensure_watcher(gate);
        }
    }

    /// Forgets the listen stream of `ended` (only its own: another session's stream with
    /// the same request id is still told).
    pub(crate) fn unregister_sink(&self, ended: &rmcp::service::SubscriptionSink) {
        if let Some(gate) = &self.inner.gate {
            lock(&gate.sinks).retain(|sink| !same_stream(sink, ended));
        }
    }

    pub(crate) fn has_gate(&self) -> bool {
        self.inner.gate.is_some()
    }

    fn ensure_watcher(&self, gate: &WriteGate) {
        gate.watcher.get_or_init(|| {
            let server = Arc::downgrade(&self.inner);
            let mut changes = gate.monitor.changes();
            let mut writes = changes.borrow_and_update().writes;
            tokio::spawn(async move {
                let mut prune = tokio::time::interval(PRUNE_CLOSED_SESSIONS);
                prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        changed = changes.changed() => if changed.is_err() { return },
                        _ = prune.tick() => {
                            let Some(inner) = server.upgrade() else { return };
                            if let Some(gate) = &inner.gate {
                                lock(&gate.peers).retain(|peer| !peer.is_transport_closed());
                            }
                            continue;
                        }
                    }
                    let now = changes.borrow_and_update().writes;
                    if now == writes {
                        continue;
                    }
                    writes = now;
                    let Some(inner) = server.upgrade() else {
                        return;
                    };
                    let Some(gate) = &inner.gate else { return };
                    let peers = lock(&gate.peers).clone();
                    let sinks = lock(&gate.sinks).clone();
                    drop(inner);
                    tracing::info!(
                        target: "secure_tool::server",
                        writes = %now,
                        sessions = peers.len() + sinks.len(),
                        "tool list changed: notifying clients"
                    );
                    // Every session at once, each within its own time: one whose client
                    // stopped reading delays no one else, and is forgotten.
                    let peers_told = futures::future::join_all(peers.iter().map(|peer| {
                        tokio::time::timeout(NOTIFY_TIMEOUT, peer.notify_tool_list_changed())
                    }));
                    let sinks_told = futures::future::join_all(sinks.iter().map(|sink| {
                        tokio::time::timeout(NOTIFY_TIMEOUT, sink.notify_tool_list_changed())
                    }));
                    let (peers_told, sinks_told) = tokio::join!(peers_told, sinks_told);
                    let gone_peers: Vec<_> = peers
                        .iter()
                        .zip(peers_told)
                        .filter(|(_, sent)| !matches!(sent, Ok(Ok(()))))
                        .map(|(peer, _)| peer.clone())
                        .collect();
                    let gone_sinks: Vec<_> = sinks
                        .iter()
                        .zip(sinks_told)
                        .filter(|(_, sent)| !matches!(sent, Ok(Ok(()))))
                        .map(|(sink, _)| sink.clone())
                        .collect();
                    if let Some(inner) = server.upgrade()
                        && let Some(gate) = &inner.gate
                    {
                        lock(&gate.peers).retain(|peer| {
                            !peer.is_transport_closed()
                                && !gone_peers.iter().any(|gone| same_session(gone, peer))
                        });
                        lock(&gate.sinks)
                            .retain(|sink| !gone_sinks.iter().any(|gone| same_stream(gone, sink)));
                    }
                }
            });
        });
    }
}

/// How often the list-changed watcher forgets the sessions that closed since.
const PRUNE_CLOSED_SESSIONS: Duration = Duration::from_secs(1);

/// Whether two peers are the same session: they share the client's handshake info, which
/// rmcp sets once per session.
pub(crate) fn same_session(
    a: &rmcp::service::Peer<RoleServer>,
    b: &rmcp::service::Peer<RoleServer>,
) -> bool {
    match (a.peer_info(), b.peer_info()) {
        (Some(a), Some(b)) => Arc::ptr_eq(&a, &b),
        _ => false,
    }
}

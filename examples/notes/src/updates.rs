//! Telling the subscribers of `notes://{id}` that a note changed.
//!
//! A tool handler has only `&self`, the state, and the state cannot hold the
//! [`SecureServer`] that holds it. So the state keeps the sending half of a bounded queue
//! ([`NoteUpdates`]), which `delete_note` feeds with the id of the note it deleted once the
//! deletion has committed, and one task, started with [`notify_subscribers`] once the
//! server is built, takes the ids from the queue and calls
//! [`SecureServer::notify_resource_updated`] for each: the server sends
//! `notifications/resources/updated` to each subscriber whose policy still lets it read
//! the note, decided when the update is sent.
//!
//! The tool never waits for the subscribers: a slow policy or client cannot make a
//! deletion that committed miss its deadline and be reported as failed. The queue holds
//! at most [`QUEUE`] changes; past that a change is not announced, and a warning is
//! logged. Until the task is started (the server of a unit test, `--print-manifest`),
//! changes are announced to no one.

use std::sync::{Arc, OnceLock};

use secure_tool::SecureServer;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;

use crate::tools::Notes;

/// The most changed notes that may wait for their subscribers to be told.
pub const QUEUE: usize = 256;

/// A note's address as a resource.
///
/// ```
/// assert_eq!(notes_server::updates::note_uri(7), "notes://7");
/// ```
pub fn note_uri(id: i64) -> String {
    format!("notes://{id}")
}

/// Where the tools report the notes they changed: the sending half of the queue, set by
/// [`notify_subscribers`]. Clones share it.
#[derive(Clone, Default)]
pub struct NoteUpdates(Arc<OnceLock<mpsc::Sender<i64>>>);

impl NoteUpdates {
    /// Reports that note `id` changed or was deleted. Never waits: when [`QUEUE`] changes
    /// are already waiting, this one is dropped, with a warning.
    pub fn changed(&self, id: i64) {
        let Some(queue) = self.0.get() else {
            // No notifier: nobody to tell.
            return;
        };
        match queue.try_send(id) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => tracing::warn!(
                note = id,
                queued = QUEUE,
                "too many note updates waiting: this one is not sent to subscribers"
            ),
            // The notifier was stopped: the server is stopping.
            Err(TrySendError::Closed(_)) => {}
        }
    }
}

/// The task that tells subscribers of the changes: it stops when this is dropped.
#[must_use = "the notifier stops when this is dropped"]
pub struct UpdateNotifier(JoinHandle<()>);

impl Drop for UpdateNotifier {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts telling `server`'s subscribers of the notes its tools change, until the returned
/// notifier is dropped. `None` if a notifier was already started for this state.
///
/// The task holds a clone of `server` (whose state holds the queue), so the queue never
/// closes by itself: dropping the notifier is what stops it.
pub fn notify_subscribers(server: &SecureServer<Notes>) -> Option<UpdateNotifier> {
    let (queue, mut changed) = mpsc::channel(QUEUE);
    server.state().updates().0.set(queue).ok()?;
    let server = server.clone();
    Some(UpdateNotifier(tokio::spawn(async move {
        while let Some(id) = changed.recv().await {
            let uri = note_uri(id);
            let told = server.notify_resource_updated(&uri).await;
            tracing::debug!(%uri, told, "subscribers told of a changed note");
        }
    })))
}

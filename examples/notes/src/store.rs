//! The embedded store: one SQLite file, no setup.
//!
//! The file is in WAL mode, with one connection for reads and one for writes, so that
//! reads go on while another process holds the database's write lock (a backup tool, a
//! migration, a stuck transaction): writes then wait for the busy timeout and fail with
//! "database is locked", reads do not wait.
//!
//! Writes need the proof that they run inside a `mode = write` tool:
//! [`Store::writer`] takes a `&WriteAccess`, which only such a tool is given. The one
//! write that is not a tool call, the health probe's heartbeat, goes through the
//! [`Heartbeat`] that [`Store::open`] hands to the server's setup code, once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use secure_tool::ToolError;
use secure_tool::capability::WriteAccess;
use serde::Serialize;

/// A note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Note {
    /// Its identifier.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Its text.
    pub body: String,
}

/// What went wrong in the store. Its text names SQL and paths: it is logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A statement failed.
    #[error("statement `{sql}` failed on {path}")]
    Query {
        /// The statement.
        sql: &'static str,
        /// The database file.
        path: PathBuf,
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database could not be opened.
    #[error("cannot open the database at {path}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },
    /// Writing a backup failed.
    #[error("cannot write the backup of `{sql}` to {path}")]
    Backup {
        /// The statement whose rows were backed up.
        sql: &'static str,
        /// The backup file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The blocking task running the statement died.
    #[error("store task failed")]
    Task(#[from] tokio::task::JoinError),
}

impl StoreError {
    /// Whether another connection holds the lock this statement needed (after the busy
    /// timeout): the database is there, and will be usable again.
    pub fn is_locked(&self) -> bool {
        let code = match self {
            StoreError::Query { source, .. } | StoreError::Open { source, .. } => {
                source.sqlite_error_code()
            }
            _ => None,
        };
        matches!(
            code,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        )
    }
}

impl StoreError {
    /// The error as the tool reports it: a locked database is unavailable (retryable,
    /// and a failure of the dependency for its breaker); anything else is internal.
    /// Either way the caller sees only the category's safe message.
    pub fn classified(self) -> ToolError {
        if self.is_locked() {
            ToolError::unavailable(self)
        } else {
            ToolError::internal(self)
        }
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    beats INTEGER NOT NULL
)";
const LIST: &str = "SELECT id, title, body FROM notes ORDER BY id";
const GET: &str = "SELECT id, title, body FROM notes WHERE id = ?1";
const SUMMARY: &str = "SELECT count(*), (SELECT json_group_array(title) FROM \
                       (SELECT title FROM notes ORDER BY id DESC LIMIT 5)) FROM notes";
const PING: &str = "SELECT count(*) FROM notes";
const INSERT: &str = "INSERT INTO notes (title, body) VALUES (?1, ?2) RETURNING id";
const DELETE: &str = "DELETE FROM notes WHERE id = ?1 RETURNING id, title, body";
const BEAT: &str = "INSERT INTO heartbeat (id, beats) VALUES (1, 1) \
                    ON CONFLICT (id) DO UPDATE SET beats = beats + 1";

/// One connection, used from tokio's blocking pool.
#[derive(Clone)]
struct Conn {
    path: Arc<Path>,
    conn: Arc<Mutex<Connection>>,
}

impl Conn {
    fn open(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(open_error)?;
        conn.busy_timeout(busy_timeout).map_err(open_error)?;
        Ok(Self {
            path: path.into(),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection on tokio's blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        sql: &'static str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        let path = self.path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&conn).map_err(|source| StoreError::Query { sql, path, source })
        })
        .await?
    }
}

/// The notes store, on one SQLite file. Cloning shares the connections.
#[derive(Clone)]
pub struct Store {
    reads: Conn,
    writes: Conn,
}

/// The count and the most recent titles, for `notes_overview`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// How many notes there are.
    pub notes: u64,
    /// The titles of the five most recent notes, newest first.
    pub recent: Vec<String>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, in WAL mode; a statement waits
    /// at most `busy_timeout` for a lock held by another connection.
    ///
    /// Also returns the store's [`Heartbeat`], the light write of the health probe: the
    /// only way to write without a [`WriteAccess`], handed out here, once, to the code
    /// that sets the server up.
    pub fn open(
        path: impl Into<PathBuf>,
        busy_timeout: Duration,
    ) -> Result<(Self, Heartbeat), StoreError> {
        let path: PathBuf = path.into();
        let writes = Conn::open(&path, busy_timeout)?;
        {
            let conn = writes.conn.lock().unwrap_or_else(|p| p.into_inner());
            let setup = |source| StoreError::Open {
                path: path.clone(),
                source,
            };
            // `journal_mode` answers with the mode it set.
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                .map_err(setup)?;
            conn.execute_batch("PRAGMA synchronous = NORMAL;")
                .map_err(setup)?;
            conn.execute_batch(SCHEMA).map_err(setup)?;
        }
        let reads = Conn::open(&path, busy_timeout)?;
        let store = Self { reads, writes };
        let heartbeat = Heartbeat {
            store: store.clone(),
        };
        Ok((store, heartbeat))
    }

    /// The store's writes, for the holder of a [`WriteAccess`]: only a `mode = write`
    /// tool has one.
    pub fn writer<'a>(&'a self, _access: &'a WriteAccess) -> Writer<'a> {
        Writer { store: self }
    }

    /// Every note, oldest first.
    pub async fn list(&self) -> Result<Vec<Note>, StoreError> {
        self.reads
            .run(LIST, |conn| {
                let mut stmt = conn.prepare_cached(LIST)?;
                stmt.query_map([], row_to_note)?.collect()
            })
            .await
    }

    /// The note `id`, if it exists.
    pub async fn get(&self, id: i64) -> Result<Option<Note>, StoreError> {
        self.reads
            .run(GET, move |conn| {
                conn.query_row(GET, params![id], row_to_note).optional()
            })
            .await
    }

    /// How many notes there are, and the most recent titles.
    pub async fn summary(&self) -> Result<Summary, StoreError> {
        let (notes, titles): (i64, String) = self
            .reads
            .run(SUMMARY, |conn| {
                conn.query_row(SUMMARY, [], |row| Ok((row.get(0)?, row.get(1)?)))
            })
            .await?;
        Ok(Summary {
            notes: u64::try_from(notes).unwrap_or(0),
            recent: serde_json::from_str(&titles).unwrap_or_default(),
        })
    }

    /// The read probe: a cheap query on the read connection.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.reads
            .run(PING, |conn| conn.query_row(PING, [], |_| Ok(())))
            .await
    }

    /// Writes every note as JSON lines into `dir`, returning the file and the count.
    pub async fn backup(&self, dir: PathBuf) -> Result<(PathBuf, usize), StoreError> {
        let notes = self.list().await?;
        let file = dir.join("notes-backup.jsonl");
        let mut lines = String::new();
        for note in &notes {
            lines.push_str(&serde_json::to_string(note).unwrap_or_default());
            lines.push('\n');
        }
        let target = file.clone();
        tokio::task::spawn_blocking(move || std::fs::write(&target, lines))
            .await?
            .map_err(|source| StoreError::Backup {
                sql: LIST,
                path: file.clone(),
                source,
            })?;
        Ok((file, notes.len()))
    }
}

/// The writes of the store, opened by [`Store::writer`] with a [`WriteAccess`].
pub struct Writer<'a> {
    store: &'a Store,
}

impl Writer<'_> {
    /// Adds a note.
    pub async fn insert(&self, title: String, body: String) -> Result<Note, StoreError> {
        self.store
            .writes
            .run(INSERT, move |conn| {
                let id = conn.query_row(INSERT, params![title, body], |row| row.get(0))?;
                Ok(Note { id, title, body })
            })
            .await
    }

    /// Deletes the note `id`, returning it if it existed.
    pub async fn delete(&self, id: i64) -> Result<Option<Note>, StoreError> {
        self.store
            .writes
            .run(DELETE, move |conn| {
                conn.query_row(DELETE, params![id], row_to_note).optional()
            })
            .await
    }
}

/// The health probe's light write (one row, updated in place), on the write connection:
/// it fails exactly when the writes of the tools would.
pub struct Heartbeat {
    store: Store,
}

impl Heartbeat {
    /// Writes the heartbeat row.
    pub async fn beat(&self) -> Result<(), StoreError> {
        self.store
            .writes
            .run(BEAT, |conn| conn.execute(BEAT, []).map(drop))
            .await
    }
}

fn row_to_note(row: &rusqlite::Row<'_>) -> rusqlite::Result<Note> {
    Ok(Note {
        id: row.get(0)?,
        title: row.get(1)?,
        body: row.get(2)?,
    })
}

/// The archive: a second SQLite file of notes moved out of the store, filled by an
/// archiving job that takes the file's exclusive lock while it runs. The server only
/// reads it, for the overview, where it is optional: while the job holds the lock, the
/// overview answers without it.
#[derive(Clone)]
pub struct Archive {
    conn: Conn,
}

const ARCHIVE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS archived_notes (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    archived_at TEXT NOT NULL
)";
const ARCHIVE_COUNT: &str = "SELECT count(*) FROM archived_notes";

impl Archive {
    /// Opens (creating if needed) the archive at `path`, in the default rollback-journal
    /// mode, where the archiving job's exclusive lock keeps readers out.
    pub fn open(path: impl Into<PathBuf>, busy_timeout: Duration) -> Result<Self, StoreError> {
        let path: PathBuf = path.into();
        let conn = Conn::open(&path, busy_timeout)?;
        conn.conn
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .execute_batch(ARCHIVE_SCHEMA)
            .map_err(|source| StoreError::Open { path, source })?;
        Ok(Self { conn })
    }

    /// How many notes are archived.
    pub async fn count(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn
            .run(ARCHIVE_COUNT, |conn| {
                conn.query_row(ARCHIVE_COUNT, [], |row| row.get(0))
            })
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("notes-store-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("notes.db")
    }

    #[tokio::test]
    async fn a_held_write_lock_fails_writes_as_unavailable_while_reads_go_on() {
        let path = temp_db("locked");
        let (store, heartbeat) = Store::open(&path, Duration::from_millis(50)).unwrap();
        heartbeat.beat().await.unwrap();
        assert_eq!(store.summary().await.unwrap().notes, 0);

        // Another process's transaction holds the write lock.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();

        let error = heartbeat.beat().await.unwrap_err();
        assert!(error.is_locked(), "{error:?}");
        let error = error.classified();
        assert_eq!(error.category(), secure_tool::ErrorCategory::Unavailable);
        assert!(store.list().await.unwrap().is_empty(), "reads go on");

        other.execute_batch("ROLLBACK").unwrap();
        heartbeat.beat().await.unwrap();
    }

    #[tokio::test]
    async fn the_summary_has_the_newest_titles_first() {
        let path = temp_db("summary");
        let (store, heartbeat) = Store::open(&path, Duration::from_millis(50)).unwrap();
        // Writing without a tool's `WriteAccess` is not possible here either: go through
        // the connection, as the archiving job would.
        drop(heartbeat);
        let conn = Connection::open(&path).unwrap();
        for title in ["a", "b", "c", "d", "e", "f"] {
            conn.execute(
                "INSERT INTO notes (title, body) VALUES (?1, '')",
                params![title],
            )
            .unwrap();
        }
        let summary = store.summary().await.unwrap();
        assert_eq!(summary.notes, 6);
        assert_eq!(summary.recent, ["f", "e", "d", "c", "b"]);
    }
}

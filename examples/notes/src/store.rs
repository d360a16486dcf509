//! The notes store, on one of two backends:
//!
//! - **SQLite** (the default, no setup): one file in WAL mode, see [`Store::open`];
//! - **PostgreSQL**, chosen with `DATABASE_URL` or `--database-url`: see
//!   [`Store::connect`] and [`postgres`].
//!
//! Both keep reads and writes on separate connections, so that reads go on while writes
//! are refused (a held write lock, a read-only server), and both answer the tools the
//! same way: the tools see one [`Store`], whatever it runs on.
//!
//! Writes need the proof that they run inside a `mode = write` tool:
//! [`Store::writer`] takes a `&WriteAccess`, which only such a tool is given. The one
//! write that is not a tool call, the health probe's heartbeat, goes through the
//! [`Heartbeat`] that [`Store::open`] or [`Store::connect`] hands to the server's setup
//! code, once.

pub mod postgres;
mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secure_tool::ToolError;
use secure_tool::capability::WriteAccess;
use serde::Serialize;

pub use self::sqlite::Archive;

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

/// The count and the most recent titles, for `notes_overview`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// How many notes there are.
    pub notes: u64,
    /// The titles of the five most recent notes, newest first.
    pub recent: Vec<String>,
}

/// What went wrong in the store. Its text names SQL, paths and servers: it is logged,
/// never shown. It never holds a password: PostgreSQL servers are named by
/// [`postgres::Database::target`] (host, port and database only).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A SQLite statement failed.
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
    /// A SQLite write whose `COMMIT` failed (a full disk, an I/O error): it was rolled
    /// back, nothing of it is stored.
    #[error("commit of `{sql}` failed on {path}")]
    NotCommitted {
        /// The statement.
        sql: &'static str,
        /// The database file.
        path: PathBuf,
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The SQLite database could not be opened.
    #[error("cannot open the database at {path}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A PostgreSQL statement failed.
    #[error("statement `{sql}` failed on PostgreSQL at {target}")]
    Postgres {
        /// The statement.
        sql: &'static str,
        /// The server: host, port and database.
        target: Arc<str>,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// No connection to the PostgreSQL server could be made.
    #[error("cannot connect to PostgreSQL at {target} (the {role} connection)")]
    Connect {
        /// The server: host, port and database.
        target: Arc<str>,
        /// Which connection: `reads` or `writes`.
        role: &'static str,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The PostgreSQL server did not answer in time: connecting, or running `sql`.
    #[error("{} on PostgreSQL at {target} took longer than {after:?}", what(sql))]
    TimedOut {
        /// The statement, or `None` while connecting.
        sql: Option<&'static str>,
        /// The server: host, port and database.
        target: Arc<str>,
        /// The time it was given.
        after: Duration,
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

fn what(sql: &Option<&'static str>) -> String {
    match sql {
        Some(sql) => format!("statement `{sql}`"),
        None => "connecting".to_owned(),
    }
}

impl StoreError {
    /// Whether another SQLite connection holds the lock this statement needed (after the
    /// busy timeout): the database is there, and will be usable again.
    pub fn is_locked(&self) -> bool {
        sqlite::is_locked(self)
    }

    /// Whether the database is there but cannot serve this now, and will again: a held
    /// SQLite lock, a full disk or an I/O error, a SQLite commit that failed; a
    /// PostgreSQL server that refuses or drops connections, does not answer in time, is
    /// shutting down or starting, refuses writes (a read-only transaction,
    /// `SQLSTATE 25006`), or is out of disk or another resource (class `53`, `58030`).
    ///
    /// A write that did not commit is always unavailable: retryable, and a failure of
    /// the write breaker.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Query { .. }
            | StoreError::Open { .. }
            | StoreError::NotCommitted { .. } => sqlite::is_unavailable(self),
            StoreError::Postgres { source, .. } | StoreError::Connect { source, .. } => {
                postgres::is_unavailable(source)
            }
            StoreError::TimedOut { .. } => true,
            StoreError::Backup { .. } | StoreError::Task(_) => false,
        }
    }

    /// The error as the tool reports it: an unavailable database is `unavailable`
    /// (retryable, and a failure of the dependency for its breaker); anything else is
    /// internal. Either way the caller sees only the category's safe message.
    pub fn classified(self) -> ToolError {
        if self.is_unavailable() {
            ToolError::unavailable(self)
        } else {
            ToolError::internal(self)
        }
    }
}

/// Every note, oldest first: the same statement on both backends.
const LIST: &str = "SELECT id, title, body FROM notes ORDER BY id";

/// The notes after an id, oldest first, a page at a time (for `backup`'s error).
const PAGES: &str = "SELECT id, title, body FROM notes WHERE id > ? ORDER BY id LIMIT ?";

/// How many notes a backup reads and writes at a time: what it holds in memory.
pub const BACKUP_PAGE_NOTES: usize = 100;

/// One page of notes, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// The notes of the page: at most the number asked for, and within the byte budget
    /// asked for (but always at least one note when there are more).
    pub notes: Vec<Note>,
    /// Whether notes follow the page's last one.
    pub more: bool,
}

/// The notes store. Cloning shares the connections.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path`, in WAL mode; a statement
    /// waits at most `busy_timeout` for a lock held by another connection.
    ///
    /// Also returns the store's [`Heartbeat`], the light write of the health probe: the
    /// only way to write without a [`WriteAccess`], handed out here, once, to the code
    /// that sets the server up.
    pub fn open(
        path: impl Into<PathBuf>,
        busy_timeout: Duration,
    ) -> Result<(Self, Heartbeat), StoreError> {
        Ok(Self::with(Backend::Sqlite(sqlite::Sqlite::open(
            path.into(),
            busy_timeout,
        )?)))
    }

    /// An empty SQLite store in memory, on one connection for reads and writes, gone when
    /// the last clone is dropped: for a server that is built but never serves, such as
    /// `notes-server --print-manifest`.
    pub fn in_memory() -> Result<(Self, Heartbeat), StoreError> {
        Ok(Self::with(Backend::Sqlite(sqlite::Sqlite::in_memory()?)))
    }

    /// Connects to the PostgreSQL `database` (one connection for reads, one for writes)
    /// and creates the tables if needed. Each connection is made again on the next call
    /// after it broke; connecting and each statement are bounded by `timeouts`.
    ///
    /// Returns the [`Heartbeat`] as [`Store::open`] does.
    ///
    /// # Errors
    ///
    /// The server cannot be reached, or refuses the connection or the tables.
    pub async fn connect(
        database: &postgres::Database,
        timeouts: postgres::Timeouts,
    ) -> Result<(Self, Heartbeat), StoreError> {
        let store = postgres::Postgres::connect(database, timeouts).await?;
        Ok(Self::with(Backend::Postgres(store)))
    }

    fn with(backend: Backend) -> (Self, Heartbeat) {
        let store = Self { backend };
        let heartbeat = Heartbeat {
            store: store.clone(),
        };
        (store, heartbeat)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The store's writes, for the holder of a [`WriteAccess`]: only a `mode = write`
    /// tool has one.
    pub fn writer<'a>(&'a self, _access: &'a WriteAccess<'_>) -> Writer<'a> {
        Writer { store: self }
    }

    /// Every note, oldest first.
    pub async fn list(&self) -> Result<Vec<Note>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.list().await,
            Backend::Postgres(db) => db.list().await,
        }
    }

    /// The notes whose id is greater than `after`, oldest first: at most `max_notes`, and
    /// no more than `max_bytes` of titles and bodies in all, except that a page holds at
    /// least one note (a note stored before a size limit may be larger than the budget).
    /// At most `max_notes + 1` notes are read.
    pub async fn page(
        &self,
        after: i64,
        max_notes: usize,
        max_bytes: usize,
    ) -> Result<Page, StoreError> {
        let limit = i64::try_from(max_notes.saturating_add(1)).unwrap_or(i64::MAX);
        let mut notes = match &self.backend {
            Backend::Sqlite(db) => db.page(after, limit).await?,
            Backend::Postgres(db) => db.page(after, limit).await?,
        };
        let mut more = notes.len() > max_notes;
        notes.truncate(max_notes);
        let mut bytes = 0usize;
        let within = notes
            .iter()
            .position(|note| {
                bytes = bytes.saturating_add(note.title.len() + note.body.len());
                bytes > max_bytes
            })
            .map_or(notes.len(), |over| over.max(1));
        if within < notes.len() {
            notes.truncate(within);
            more = true;
        }
        Ok(Page { notes, more })
    }

    /// The ids that start with `prefix` (digits only: no other prefix starts an id), the
    /// smallest first, at most `max`: only ids are read, and no more than asked for.
    pub async fn ids_starting_with(
        &self,
        prefix: &str,
        max: usize,
    ) -> Result<Vec<i64>, StoreError> {
        if !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 20 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let prefix = prefix.to_owned();
        match &self.backend {
            Backend::Sqlite(db) => db.ids(prefix, limit).await,
            Backend::Postgres(db) => db.ids(prefix, limit).await,
        }
    }

    /// The note `id`, if it exists.
    pub async fn get(&self, id: i64) -> Result<Option<Note>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.get(id).await,
            Backend::Postgres(db) => db.get(id).await,
        }
    }

    /// The owner of the note `id`: `None` if there is no such note, `Some(None)` if it has
    /// no owner (a note created without a caller's subject, or before notes had owners),
    /// `Some(Some(subject))` otherwise.
    pub async fn owner(&self, id: i64) -> Result<Option<Option<String>>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.owner(id).await,
            Backend::Postgres(db) => db.owner(id).await,
        }
    }

    /// How many notes there are, and the most recent titles.
    pub async fn summary(&self) -> Result<Summary, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.summary().await,
            Backend::Postgres(db) => db.summary().await,
        }
    }

    /// The read probe: a cheap query on the read connection.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.ping().await,
            Backend::Postgres(db) => db.ping().await,
        }
    }
}

/// The writes of the store, and its backups, opened by [`Store::writer`] with a
/// [`WriteAccess`].
pub struct Writer<'a> {
    store: &'a Store,
}

impl Writer<'_> {
    /// Adds a note, owned by `owner` (the subject of the caller who creates it, if any):
    /// the owner is stored with the note and read with [`Store::owner`], not part of the
    /// [`Note`] returned.
    pub async fn insert(
        &self,
        title: String,
        body: String,
        owner: Option<String>,
    ) -> Result<Note, StoreError> {
        match &self.store.backend {
            Backend::Sqlite(db) => db.insert(title, body, owner).await,
            Backend::Postgres(db) => db.insert(title, body, owner).await,
        }
    }

    /// Deletes the note `id`, returning it if it existed.
    pub async fn delete(&self, id: i64) -> Result<Option<Note>, StoreError> {
        match &self.store.backend {
            Backend::Sqlite(db) => db.delete(id).await,
            Backend::Postgres(db) => db.delete(id).await,
        }
    }

    /// Writes every note as JSON lines into `dir`, returning the file and the count: a
    /// write (of files, not of the store), so it too needs the [`WriteAccess`].
    ///
    /// It holds at most [`BACKUP_PAGE_NOTES`] notes in memory at a time, whatever the size
    /// of the store: it reads a page, appends it to a file of its own, and reads the next.
    /// The backup replaces `notes-backup.jsonl` only once it is whole (a rename, synced with
    /// its directory), so concurrent backups do not mix their lines and a failed one leaves
    /// the last good backup in place; a backup that fails or is dropped (its deadline
    /// passed) leaves no partial file behind.
    pub async fn backup(&self, dir: PathBuf) -> Result<(PathBuf, usize), StoreError> {
        use std::io::Write;
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);

        let file = dir.join("notes-backup.jsonl");
        let partial = dir.join(format!(
            ".notes-backup.jsonl.{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let failed = |path: &PathBuf| {
            let path = path.clone();
            move |source| StoreError::Backup {
                sql: PAGES,
                path,
                source,
            }
        };
        // Removed however the backup ends, its future dropped at a deadline included.
        let mut leftover = Leftover(Some(partial.clone()));
        let created = partial.clone();
        let mut out = tokio::task::spawn_blocking(move || std::fs::File::create(created))
            .await?
            .map_err(failed(&partial))?;
        let mut written = 0;
        let mut after = i64::MIN;
        let outcome = loop {
            let page = match self.store.page(after, BACKUP_PAGE_NOTES, usize::MAX).await {
                Ok(page) => page,
                Err(error) => break Err(error),
            };
            let mut lines = Vec::new();
            for note in &page.notes {
                lines.extend(serde_json::to_vec(note).unwrap_or_default());
                lines.push(b'\n');
            }
            written += page.notes.len();
            after = page.notes.last().map_or(after, |note| note.id);
            let appended =
                tokio::task::spawn_blocking(move || out.write_all(&lines).map(|()| out)).await?;
            out = match appended {
                Ok(out) => out,
                Err(source) => break Err(failed(&partial)(source)),
            };
            if !page.more {
                break Ok(out);
            }
        };
        let (partial_path, target) = (partial.clone(), file.clone());
        let finished = match outcome {
            Ok(out) => tokio::task::spawn_blocking(move || {
                out.sync_all()?;
                std::fs::rename(&partial_path, &target)?;
                // The rename itself on disk: the directory's entry is synced too.
                #[cfg(unix)]
                std::fs::File::open(&dir)?.sync_all()?;
                Ok(())
            })
            .await?
            .map_err(failed(&file)),
            Err(error) => Err(error),
        };
        if finished.is_ok() {
            leftover.0 = None;
        }
        finished.map(|()| (file, written))
    }
}

/// A backup's partial file, removed when the backup ends without renaming it (it failed,
/// or its future was dropped: the call's deadline passed).
struct Leftover(Option<PathBuf>);

impl Drop for Leftover {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
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
        match &self.store.backend {
            Backend::Sqlite(db) => db.beat().await,
            Backend::Postgres(db) => db.beat().await,
        }
    }
}

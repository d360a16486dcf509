//! The embedded backend: one SQLite file, no setup.
//!
//! The file is in WAL mode, with one connection for reads and one for writes, so that
//! reads go on while another process holds the database's write lock (a backup tool, a
//! migration, a stuck transaction): writes then wait for the busy timeout and fail with
//! "database is locked", reads do not wait.
//!
//! Every write runs in its own transaction (`BEGIN IMMEDIATE`) and is answered only once
//! its `COMMIT` has returned: SQLite writes a transaction's pages (its WAL frames) when it
//! commits, so that is where a full disk or an I/O error shows. Running a statement in
//! autocommit mode through rusqlite's `query_row` would lose that error: the commit
//! happens in the statement's last step, which `query_row` leaves to the statement's
//! reset, whose error rusqlite drops. A write whose commit failed is
//! [`StoreError::NotCommitted`], always unavailable.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Params, Row, Statement, Transaction,
    TransactionBehavior, params,
};

use super::{LIST, Note, StoreError, Summary};

fn code(error: &StoreError) -> Option<ErrorCode> {
    match error {
        StoreError::Query { source, .. }
        | StoreError::Open { source, .. }
        | StoreError::NotCommitted { source, .. } => source.sqlite_error_code(),
        _ => None,
    }
}

pub(super) fn is_locked(error: &StoreError) -> bool {
    matches!(
        code(error),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Whether the database is there but cannot take this now: a held lock, a full disk, an
/// I/O error, a file the system made read-only. A commit that failed, whatever the
/// reason, is unavailable too: nothing was written, and the write may be tried again.
pub(super) fn is_unavailable(error: &StoreError) -> bool {
    matches!(error, StoreError::NotCommitted { .. })
        || matches!(
            code(error),
            Some(
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::DiskFull
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::ReadOnly
            )
        )
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    owner TEXT
);
CREATE TABLE IF NOT EXISTS heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    beats INTEGER NOT NULL
)";
/// Whether the `notes` table has its `owner` column (tables made before it do not).
const HAS_OWNER: &str = "SELECT count(*) FROM pragma_table_info('notes') WHERE name = 'owner'";
/// Adds the `owner` column to a table made before it: the notes already there have none.
const ADD_OWNER: &str = "ALTER TABLE notes ADD COLUMN owner TEXT";
const GET: &str = "SELECT id, title, body FROM notes WHERE id = ?1";
const PAGE: &str = "SELECT id, title, body FROM notes WHERE id > ?1 ORDER BY id LIMIT ?2";
const IDS: &str = "SELECT id FROM notes WHERE CAST(id AS TEXT) LIKE ?1 || '%' ORDER BY id LIMIT ?2";
const SUMMARY: &str = "SELECT count(*), (SELECT json_group_array(title) FROM \
                       (SELECT title FROM notes ORDER BY id DESC LIMIT 5)) FROM notes";
const OWNER: &str = "SELECT owner FROM notes WHERE id = ?1";
const PING: &str = "SELECT count(*) FROM notes";
const INSERT: &str = "INSERT INTO notes (title, body, owner) VALUES (?1, ?2, ?3) RETURNING id";
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

    /// Runs `f` in a transaction that takes the write lock at once (`BEGIN IMMEDIATE`),
    /// on tokio's blocking pool, and commits it: `Ok` only once `COMMIT` has returned.
    /// A transaction that did not commit is rolled back.
    async fn write<T: Send + 'static>(
        &self,
        sql: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        let path = self.path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let written = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .and_then(|tx| Ok((f(&tx)?, tx)));
            let (value, tx) = match written {
                Ok(written) => written,
                Err(source) => return Err(StoreError::Query { sql, path, source }),
            };
            match tx.commit() {
                Ok(()) => Ok(value),
                Err(source) => Err(StoreError::NotCommitted { sql, path, source }),
            }
        })
        .await?
    }
}

/// Runs `stmt` to its end and returns its row, if any: every step is checked, the last
/// one included (`query_row` leaves that one to the statement's reset, whose error
/// rusqlite drops). More than one row is an error.
fn at_most_one_row<T>(
    stmt: &mut Statement<'_>,
    params: impl Params,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let mut rows = stmt.query(params)?;
    let first = match rows.next()? {
        Some(row) => Some(f(row)?),
        None => None,
    };
    if rows.next()?.is_some() {
        return Err(rusqlite::Error::QueryReturnedMoreThanOneRow);
    }
    Ok(first)
}

/// Creates the tables if needed, and adds the `owner` column to a `notes` table made
/// before it existed.
///
/// The column is looked for first, so that a database that has it is not written to. It
/// is added in a transaction that takes the write lock and looks again, so that two
/// servers opening the same old file at once add it once.
fn set_up(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    let has_owner = |conn: &Connection| {
        conn.query_row(HAS_OWNER, [], |row| row.get::<_, i64>(0))
            .map(|found| found > 0)
    };
    if has_owner(conn)? {
        return Ok(());
    }
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    if !has_owner(&tx)? {
        tx.execute_batch(ADD_OWNER)?;
    }
    tx.commit()
}

/// The SQLite backend of [`Store`](super::Store). Cloning shares the connections.
#[derive(Clone)]
pub(super) struct Sqlite {
    reads: Conn,
    writes: Conn,
}

impl Sqlite {
    /// Opens (creating if needed) the database at `path`, in WAL mode.
    pub(super) fn open(path: PathBuf, busy_timeout: Duration) -> Result<Self, StoreError> {
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
            // FULL: a write is acknowledged once it is on disk (NORMAL, in WAL mode, may
            // roll back the last commits after a power loss or an OS crash).
            conn.execute_batch("PRAGMA synchronous = FULL;")
                .map_err(setup)?;
            set_up(&conn).map_err(setup)?;
        }
        let reads = Conn::open(&path, busy_timeout)?;
        Ok(Self { reads, writes })
    }

    /// An empty database in memory, on one connection for reads and writes.
    pub(super) fn in_memory() -> Result<Self, StoreError> {
        let path = Path::new(":memory:");
        let conn = Conn::open(path, Duration::ZERO)?;
        let set = set_up(&conn.conn.lock().unwrap_or_else(|p| p.into_inner()));
        set.map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            reads: conn.clone(),
            writes: conn,
        })
    }

    pub(super) async fn list(&self) -> Result<Vec<Note>, StoreError> {
        self.reads
            .run(LIST, |conn| {
                let mut stmt = conn.prepare_cached(LIST)?;
                stmt.query_map([], row_to_note)?.collect()
            })
            .await
    }

    pub(super) async fn page(&self, after: i64, limit: i64) -> Result<Vec<Note>, StoreError> {
        self.reads
            .run(PAGE, move |conn| {
                let mut stmt = conn.prepare_cached(PAGE)?;
                stmt.query_map(params![after, limit], row_to_note)?
                    .collect()
            })
            .await
    }

    pub(super) async fn ids(&self, prefix: String, limit: i64) -> Result<Vec<i64>, StoreError> {
        self.reads
            .run(IDS, move |conn| {
                let mut stmt = conn.prepare_cached(IDS)?;
                stmt.query_map(params![prefix, limit], |row| row.get(0))?
                    .collect()
            })
            .await
    }

    pub(super) async fn get(&self, id: i64) -> Result<Option<Note>, StoreError> {
        self.reads
            .run(GET, move |conn| {
                conn.query_row(GET, params![id], row_to_note).optional()
            })
            .await
    }

    pub(super) async fn owner(&self, id: i64) -> Result<Option<Option<String>>, StoreError> {
        self.reads
            .run(OWNER, move |conn| {
                conn.query_row(OWNER, params![id], |row| row.get(0))
                    .optional()
            })
            .await
    }

    pub(super) async fn summary(&self) -> Result<Summary, StoreError> {
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

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        self.reads
            .run(PING, |conn| conn.query_row(PING, [], |_| Ok(())))
            .await
    }

    pub(super) async fn insert(
        &self,
        title: String,
        body: String,
        owner: Option<String>,
    ) -> Result<Note, StoreError> {
        self.writes
            .write(INSERT, move |tx| {
                let mut stmt = tx.prepare_cached(INSERT)?;
                let id = at_most_one_row(&mut stmt, params![title, body, owner], |row| row.get(0))?
                    .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
                Ok(Note { id, title, body })
            })
            .await
    }

    pub(super) async fn delete(&self, id: i64) -> Result<Option<Note>, StoreError> {
        self.writes
            .write(DELETE, move |tx| {
                let mut stmt = tx.prepare_cached(DELETE)?;
                at_most_one_row(&mut stmt, params![id], row_to_note)
            })
            .await
    }

    pub(super) async fn beat(&self) -> Result<(), StoreError> {
        self.writes
            .write(BEAT, |tx| tx.execute(BEAT, []).map(drop))
            .await
    }
}

fn row_to_note(row: &Row<'_>) -> rusqlite::Result<Note> {
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

    /// An empty archive in memory (see [`Store::in_memory`](super::Store::in_memory)).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::open(":memory:", Duration::ZERO)
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
    /// A write is acknowledged once it is on disk: the writer commits with
    /// `synchronous = FULL` (2), not WAL's usual `NORMAL` (1).
    #[tokio::test]
    async fn the_writer_commits_to_disk_before_acknowledging() {
        let dir = std::env::temp_dir().join(format!("notes-sqlite-sync-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = Sqlite::open(dir.join("notes.db"), Duration::from_millis(50)).unwrap();
        let synchronous: i64 = db
            .writes
            .run("PRAGMA synchronous", |conn| {
                conn.query_row("PRAGMA synchronous", [], |row| row.get(0))
            })
            .await
            .unwrap();
        assert_eq!(synchronous, 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    use super::super::{Backend, Store};
    use super::*;

    /// The SQLite backend of `store`: writing through it needs no tool's `WriteAccess`.
    fn backend(store: &Store) -> &Sqlite {
        match &store.backend {
            Backend::Sqlite(db) => db,
            Backend::Postgres(_) => unreachable!("a SQLite store"),
        }
    }

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

    #[tokio::test]
    async fn a_note_keeps_its_owner_or_its_lack_of_one() {
        let path = temp_db("owner");
        let (store, _heartbeat) = Store::open(&path, Duration::from_millis(50)).unwrap();
        let owned = backend(&store)
            .insert(
                "mine".to_owned(),
                "text".to_owned(),
                Some("alice".to_owned()),
            )
            .await
            .unwrap();
        assert_eq!(
            owned,
            Note {
                id: owned.id,
                title: "mine".to_owned(),
                body: "text".to_owned(),
            }
        );
        let unowned = backend(&store)
            .insert("anyone's".to_owned(), String::new(), None)
            .await
            .unwrap();
        assert_eq!(
            store.owner(owned.id).await.unwrap(),
            Some(Some("alice".to_owned()))
        );
        assert_eq!(store.owner(unowned.id).await.unwrap(), Some(None));
        assert_eq!(store.get(owned.id).await.unwrap(), Some(owned));
    }

    #[tokio::test]
    async fn a_missing_note_has_no_owner_to_read() {
        let (store, _heartbeat) = Store::in_memory().unwrap();
        assert_eq!(store.owner(1).await.unwrap(), None);
        let note = backend(&store)
            .insert("t".to_owned(), "b".to_owned(), Some("bob".to_owned()))
            .await
            .unwrap();
        assert_eq!(
            store.owner(note.id).await.unwrap(),
            Some(Some("bob".to_owned()))
        );
        assert_eq!(store.owner(note.id + 1).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_database_made_before_owners_gets_the_column_and_its_notes_have_none() {
        let path = temp_db("migration");
        {
            // The schema before notes had owners, with a note in it.
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE notes (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    title TEXT NOT NULL,
                    body TEXT NOT NULL
                );
                INSERT INTO notes (title, body) VALUES ('old', 'from before');",
            )
            .unwrap();
        }
        let (store, heartbeat) = Store::open(&path, Duration::from_millis(50)).unwrap();
        heartbeat.beat().await.unwrap();
        let old = store.list().await.unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].title, "old");
        assert_eq!(store.owner(old[0].id).await.unwrap(), Some(None));

        let new = backend(&store)
            .insert("new".to_owned(), String::new(), Some("carol".to_owned()))
            .await
            .unwrap();
        assert_eq!(
            store.owner(new.id).await.unwrap(),
            Some(Some("carol".to_owned()))
        );
        drop((store, heartbeat));

        // Opening it again finds the column there: nothing to add, nothing lost.
        let (store, _heartbeat) = Store::open(&path, Duration::from_millis(50)).unwrap();
        assert_eq!(store.owner(old[0].id).await.unwrap(), Some(None));
        assert_eq!(
            store.owner(new.id).await.unwrap(),
            Some(Some("carol".to_owned()))
        );
        let columns: i64 = Connection::open(&path)
            .unwrap()
            .query_row(HAS_OWNER, [], |row| row.get(0))
            .unwrap();
        assert_eq!(columns, 1);
    }

    #[tokio::test]
    async fn a_database_that_has_the_owner_column_opens_without_writing() {
        let path = temp_db("no-write");
        let (store, heartbeat) = Store::open(&path, Duration::from_millis(50)).unwrap();
        let note = backend(&store)
            .insert("kept".to_owned(), String::new(), Some("dave".to_owned()))
            .await
            .unwrap();
        drop((store, heartbeat));

        // Another process holds the write lock: opening the store again must not need it.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (store, heartbeat) = Store::open(&path, Duration::from_millis(50)).unwrap();
        assert_eq!(
            store.owner(note.id).await.unwrap(),
            Some(Some("dave".to_owned()))
        );
        assert!(heartbeat.beat().await.unwrap_err().is_locked());
        other.execute_batch("ROLLBACK").unwrap();

        // A connection that may not write at all sets up too.
        let conn =
            Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        set_up(&conn).unwrap();
        let owner: Option<String> = conn
            .query_row(OWNER, params![note.id], |row| row.get(0))
            .unwrap();
        assert_eq!(owner.as_deref(), Some("dave"));
    }
}

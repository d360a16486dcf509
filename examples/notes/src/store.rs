//! The embedded store: one SQLite file, no setup.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
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
    #[error("cannot open the notes database at {path}")]
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

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL
)";
const LIST: &str = "SELECT id, title, body FROM notes ORDER BY id";
const GET: &str = "SELECT id, title, body FROM notes WHERE id = ?1";
const INSERT: &str = "INSERT INTO notes (title, body) VALUES (?1, ?2) RETURNING id";
const DELETE: &str = "DELETE FROM notes WHERE id = ?1 RETURNING id, title, body";

/// The notes store, on one SQLite file. Cloning shares the connection.
#[derive(Clone)]
pub struct Store {
    path: Arc<Path>,
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path: PathBuf = path.into();
        let open_error = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(open_error)?;
        conn.execute_batch(SCHEMA).map_err(open_error)?;
        Ok(Self {
            path: path.into(),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection on tokio's blocking pool.
    async fn with<T: Send + 'static>(
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

    /// Every note, oldest first.
    pub async fn list(&self) -> Result<Vec<Note>, StoreError> {
        self.with(LIST, |conn| {
            let mut stmt = conn.prepare_cached(LIST)?;
            stmt.query_map([], row_to_note)?.collect()
        })
        .await
    }

    /// The note `id`, if it exists.
    pub async fn get(&self, id: i64) -> Result<Option<Note>, StoreError> {
        self.with(GET, move |conn| {
            conn.query_row(GET, params![id], row_to_note).optional()
        })
        .await
    }

    /// Adds a note.
    pub async fn insert(&self, title: String, body: String) -> Result<Note, StoreError> {
        self.with(INSERT, move |conn| {
            let id = conn.query_row(INSERT, params![title, body], |row| row.get(0))?;
            Ok(Note { id, title, body })
        })
        .await
    }

    /// Deletes the note `id`, returning it if it existed.
    pub async fn delete(&self, id: i64) -> Result<Option<Note>, StoreError> {
        self.with(DELETE, move |conn| {
            conn.query_row(DELETE, params![id], row_to_note).optional()
        })
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

fn row_to_note(row: &rusqlite::Row<'_>) -> rusqlite::Result<Note> {
    Ok(Note {
        id: row.get(0)?,
        title: row.get(1)?,
        body: row.get(2)?,
    })
}

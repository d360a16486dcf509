//! The MCP tools of the notes service. Each one declares who may call it, whether it
//! writes, and which dependency it calls; `#[secure_tool]` does the rest.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secure_tool::breaker::CircuitBreaker;
use secure_tool::health::{HealthMonitor, ServicePath};
use secure_tool::partial::{Partial, Source, Sources};
use secure_tool::prelude::*;
use secure_tool::resilience::{Dependency, Limits};
use serde::{Deserialize, Serialize};

use crate::settings::Settings;
use crate::store::{Archive, Heartbeat, Note, Store, StoreError, Summary};
use crate::updates::{NoteUpdates, note_uri};

/// The longest title `create_note` stores, in characters (the schema's `maxLength`).
pub const MAX_TITLE_CHARS: usize = 200;
/// The longest body `create_note` stores, in characters (the schema's `maxLength`): at
/// most 64 KiB of UTF-8.
pub const MAX_BODY_CHARS: usize = 16 * 1024;
/// The most notes one page of `list_notes` holds.
pub const PAGE_NOTES: usize = 50;
/// The most bytes of titles and bodies one page of `list_notes` holds (a page always holds
/// at least one note).
pub const PAGE_BYTES: usize = 256 * 1024;

/// The name of the breaker of the store's reads.
pub const READS: &str = "notes-store-reads";
/// The name of the breaker of the store's writes: it feeds the health monitor.
pub const WRITES: &str = "notes-store-writes";
/// The name of the breaker of the archive.
pub const ARCHIVE: &str = "notes-archive";

/// The notes service: the state every tool shares.
#[derive(Clone)]
pub struct Notes {
    store: Store,
    archive: Archive,
    /// Where `backup_notes` writes; `None`: backups are not configured.
    backup_dir: Option<PathBuf>,
    /// The store's reads: one connection, its own breaker and bulkhead.
    reads: Arc<Dependency>,
    /// The store's writes: the write connection. Its breaker opening degrades writes.
    writes: Arc<Dependency>,
    /// The archive, an optional source of `notes_overview`.
    archive_dependency: Arc<Dependency>,
    /// The last archive count seen, for when the archive is busy.
    archive_cache: Arc<Mutex<Option<u64>>>,
    /// The notes the tools changed, for their subscribers (`crate::updates`).
    updates: NoteUpdates,
}

impl Notes {
    /// A service on `store` and `archive`, writing backups into `backup_dir` (none: the
    /// `backup_notes` tool answers that backups are not configured), with breakers
    /// configured by `settings`.
    pub fn new(
        store: Store,
        archive: Archive,
        backup_dir: Option<PathBuf>,
        settings: &Settings,
    ) -> Self {
        let dependency = |name: &'static str| {
            Arc::new(Dependency::with_breaker(
                CircuitBreaker::builder(name)
                    .consecutive_failures(settings.breaker_failures)
                    .open_duration(settings.breaker_open)
                    .max_open_duration(settings.breaker_max_open.max(settings.breaker_open))
                    .build(),
            ))
        };
        Self {
            store,
            archive,
            backup_dir,
            reads: dependency(READS),
            writes: dependency(WRITES),
            archive_dependency: dependency(ARCHIVE),
            archive_cache: Arc::default(),
            updates: NoteUpdates::default(),
        }
    }

    /// Where the tools report the notes they change: see [`crate::updates`].
    pub fn updates(&self) -> &NoteUpdates {
        &self.updates
    }

    /// The dependency of the store's reads (breaker [`READS`]).
    pub fn read_dependency(&self) -> &Dependency {
        &self.reads
    }

    /// The dependency of the store's writes (breaker [`WRITES`]): its breaker opening
    /// degrades writes.
    pub fn write_dependency(&self) -> &Dependency {
        &self.writes
    }

    /// The health of the service: a read probe, and the `heartbeat` write probe, each
    /// through its dependency's breaker (so a probe is also the trial call that closes
    /// a breaker again), and the breakers themselves: the write breaker opening degrades
    /// writes at once. Start it with [`HealthMonitor::start`].
    pub fn health_monitor(&self, heartbeat: Heartbeat, settings: &Settings) -> HealthMonitor {
        let interval = settings.probe_interval;
        let timeout = settings.probe_timeout;
        let (store, reads) = (self.store.clone(), self.reads.clone());
        let heartbeat = Arc::new(heartbeat);
        let writes = self.writes.clone();
        HealthMonitor::builder()
            .probe(
                ServicePath::Reads,
                "notes store read",
                interval,
                timeout,
                move || {
                    let (store, reads) = (store.clone(), reads.clone());
                    async move {
                        Limits::new(timeout)
                            .with_dependency(&*reads)
                            .run(async { store.ping().await.map_err(StoreError::classified) })
                            .await
                    }
                },
            )
            .probe(
                ServicePath::Writes,
                "notes store heartbeat",
                interval,
                timeout,
                move || {
                    let (heartbeat, writes) = (heartbeat.clone(), writes.clone());
                    async move {
                        Limits::new(timeout)
                            .with_dependency(&*writes)
                            .run(async { heartbeat.beat().await.map_err(StoreError::classified) })
                            .await
                    }
                },
            )
            .watch_breaker(ServicePath::Reads, self.reads.breaker())
            .watch_breaker(ServicePath::Writes, self.writes.breaker())
            .build()
    }
}

/// Arguments of `get_note` and `delete_note`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteId {
    /// The note's identifier: a positive number, as `create_note` returned it.
    #[schemars(range(min = 1))]
    pub id: i64,
}

/// A note's address as a resource: `notes://{id}`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteUri {
    /// The note's identifier: a positive number.
    #[schemars(range(min = 1))]
    pub id: i64,
}

/// Arguments of the `summarise_notes` prompt.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummariseNotes {
    /// What the summary is for, in a few words (e.g. "a weekly review").
    #[serde(default)]
    #[schemars(length(max = 80))]
    pub purpose: Option<String>,
}

/// Arguments of `create_note`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// A short title: 1 to 200 characters, not only spaces.
    #[schemars(length(min = 1, max = MAX_TITLE_CHARS))]
    pub title: String,
    /// The text of the note: at most 16384 characters.
    #[serde(default)]
    #[schemars(length(max = MAX_BODY_CHARS))]
    pub body: String,
}

/// Arguments of `list_notes`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListNotes {
    /// The `next_cursor` of the previous page; absent for the first page.
    #[serde(default)]
    #[schemars(regex(pattern = r"^n1\.[0-9a-f]{1,16}$"))]
    pub cursor: Option<String>,
}

/// The result of `list_notes`: one page.
#[derive(Serialize, schemars::JsonSchema)]
pub struct NoteList {
    /// The notes of this page, oldest first: at most 50, and 256 KiB of text.
    pub notes: Vec<Note>,
    /// Present when more notes follow: pass it as `cursor` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The prefix of the cursors `list_notes` hands out: what follows is the last id of the
/// page, in hexadecimal. Opaque to clients, who only pass it back.
const CURSOR_PREFIX: &str = "n1.";

fn cursor_after(id: i64) -> String {
    format!("{CURSOR_PREFIX}{:x}", id.cast_unsigned())
}

/// The id a cursor goes on after, or `None` when it is not one this server hands out.
fn after_cursor(cursor: &str) -> Option<i64> {
    let hex = cursor.strip_prefix(CURSOR_PREFIX)?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(u64::cast_signed)
}

/// The result of `server_info`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ServerInfo {
    /// The service's name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The result of `backup_notes`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Backup {
    /// How many notes were written.
    pub notes: usize,
}

/// The result of `notes_overview`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Overview {
    /// How many notes the store holds.
    pub notes: u64,
    /// The titles of the five most recent notes, newest first.
    pub recent: Vec<String>,
    /// How many notes are archived; absent when the archive did not answer and no
    /// earlier count is cached.
    pub archived: Option<u64>,
    /// Whether `archived` is an earlier count, because the archive did not answer.
    pub archived_from_cache: bool,
}

#[secure_tool_router]
impl Notes {
    /// Name and version of this notes service.
    #[secure_tool(authz = public, mode = read)]
    async fn server_info(&self) -> Result<ServerInfo, Infallible> {
        Ok(ServerInfo {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        })
    }

    /// Lists the notes, oldest first, a page (50 notes, 256 KiB of text) at a time.
    /// Pass a page's `next_cursor` as `cursor` for the next one.
    #[secure_tool(authz = scopes("notes:read"), mode = read, breaker = self.reads, timeout = "10s")]
    async fn list_notes(&self, args: ListNotes) -> Result<NoteList, ToolError> {
        let after = match args.cursor.as_deref() {
            None => i64::MIN,
            Some(cursor) => after_cursor(cursor).ok_or_else(|| {
                ToolError::invalid_input(
                    "`cursor` is not a cursor this server handed out: pass a page's \
                     `next_cursor` as it is, or no cursor for the first page",
                )
            })?,
        };
        let page = self
            .store
            .page(after, PAGE_NOTES, PAGE_BYTES)
            .await
            .map_err(StoreError::classified)?;
        let next_cursor = match (page.more, page.notes.last()) {
            (true, Some(last)) => Some(cursor_after(last.id)),
            _ => None,
        };
        Ok(NoteList {
            notes: page.notes,
            next_cursor,
        })
    }

    /// Reads one note by its id.
    #[secure_tool(authz = scopes("notes:read"), mode = read, breaker = self.reads, timeout = "10s")]
    async fn get_note(&self, args: NoteId) -> Result<Note, ToolError> {
        match self
            .store
            .get(args.id)
            .await
            .map_err(StoreError::classified)?
        {
            Some(note) => Ok(note),
            None => Err(ToolError::not_found("No note has that id.")),
        }
    }

    /// One note as Markdown: its title as a heading, then its text. A note that does not
    /// exist, and one the caller may not read, are the same "resource not found".
    #[secure_resource(
        uri = "notes://{id}",
        name = "note",
        authz = scopes("notes:read"),
        mime_type = "text/markdown",
        breaker = self.reads,
        timeout = "10s",
        complete(id = Self::note_ids)
    )]
    async fn note_resource(&self, uri: NoteUri) -> Result<ResourceBody, ToolError> {
        match self
            .store
            .get(uri.id)
            .await
            .map_err(StoreError::classified)?
        {
            Some(note) => Ok(ResourceBody::text(format!(
                "# {}\n\n{}",
                note.title, note.body
            ))),
            None => Err(ToolError::not_found("no such note")),
        }
    }

    /// The ids of the notes that start with what is typed, at most 100 (completions of
    /// `notes://{id}`, for callers who may read the notes).
    async fn note_ids(&self, typed: CompletionRequest) -> Result<Vec<String>, ToolError> {
        // Ids only, at most as many as are suggested: a completion never reads the notes.
        let ids = self
            .store
            .ids_starting_with(typed.value(), 100)
            .await
            .map_err(StoreError::classified)?;
        Ok(ids.iter().map(ToString::to_string).collect())
    }

    /// Summarise my notes: a prompt with how many notes there are and the five most
    /// recent titles, for the model to summarise.
    #[secure_prompt(authz = scopes("notes:read"), breaker = self.reads, timeout = "10s")]
    async fn summarise_notes(&self, args: SummariseNotes) -> Result<PromptReply, ToolError> {
        let summary = self.store.summary().await.map_err(StoreError::classified)?;
        let purpose = args.purpose.as_deref().unwrap_or("a quick overview");
        let titles = if summary.recent.is_empty() {
            "(none yet)".to_owned()
        } else {
            summary.recent.join("; ")
        };
        Ok(PromptReply::new()
            .with_description(format!("A summary of {} notes", summary.notes))
            .user(format!(
                "Summarise my notes for {purpose}. There are {} notes; the most recent \
                 titles are: {titles}. Read any of them as the resource notes://{{id}}.",
                summary.notes
            )))
    }

    /// A link to one note as a resource (`notes://{id}`), which the client can read or
    /// show, with its title in words.
    #[secure_tool(authz = scopes("notes:read"), mode = read, breaker = self.reads, timeout = "10s")]
    async fn link_note(&self, args: NoteId) -> Result<RichResult, ToolError> {
        let Some(note) = self
            .store
            .get(args.id)
            .await
            .map_err(StoreError::classified)?
        else {
            return Err(ToolError::not_found("No note has that id."));
        };
        let uri = note_uri(note.id);
        let link = secure_tool::rmcp::model::Resource::new(&uri, "note")
            .with_title(note.title.clone())
            .with_mime_type("text/markdown");
        Ok(RichResult::new()
            .text(format!("Note {}: {} ({uri})", note.id, note.title))
            .resource_link(link))
    }

    /// How many notes there are, the most recent titles, and how many are archived. The
    /// archive is optional: while it is busy the answer says so in `warnings` and gives
    /// the last count seen, if any.
    #[secure_tool(authz = scopes("notes:read"), mode = read, timeout = "10s")]
    async fn notes_overview(&self) -> Result<Partial<Overview>, ToolError> {
        let mut sources = Sources::new();
        let summary = sources.add(
            Source::critical("Notes", async {
                self.store.summary().await.map_err(StoreError::classified)
            })
            .dependency(&*self.reads)
            .timeout(Duration::from_secs(5)),
        );
        let archived = sources.add(
            Source::optional("Archive", async {
                self.archive.count().await.map_err(StoreError::classified)
            })
            .dependency(&*self.archive_dependency)
            .timeout(Duration::from_secs(3)),
        );
        let cached = sources.add(Source::cache("Archive cache", async {
            Ok::<_, Infallible>(
                *self
                    .archive_cache
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            )
        }));
        let mut settled = sources.settle().await?;

        // The critical source answered, or `settle` failed the call.
        let Summary { notes, recent } = settled.take(summary).unwrap_or_else(|| Summary {
            notes: 0,
            recent: Vec::new(),
        });
        let fresh = settled.take(archived);
        if let Some(count) = fresh {
            *self
                .archive_cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(count);
        }
        let cached = settled.take(cached).flatten();
        let overview = Overview {
            notes,
            recent,
            archived: fresh.or(cached),
            archived_from_cache: fresh.is_none() && cached.is_some(),
        };
        Ok(settled.into_partial(overview))
    }

    /// Creates a note and returns it with its id.
    #[secure_tool(authz = scopes("notes:write"), mode = write, breaker = self.writes, timeout = "10s")]
    async fn create_note(
        &self,
        args: NewNote,
        cx: CallContext<'_>,
        access: WriteAccess<'_>,
    ) -> Result<Note, ToolError> {
        // The lengths are checked against the input schema before the handler runs; what
        // a schema cannot say is checked here.
        if args.title.trim().is_empty() {
            return Err(ToolError::invalid_input("`title` must not be only spaces"));
        }
        self.store
            .writer(&access)
            // Its owner: who created it, as authorized.
            .insert(
                args.title,
                args.body,
                cx.caller().subject().map(str::to_owned),
            )
            .await
            .map_err(StoreError::classified)
    }

    /// Deletes a note and returns what it contained. Administrators, or whoever the policy
    /// service at `$NOTES_POLICY_URL` allows (or the Cedar policies of
    /// `$NOTES_CEDAR_POLICIES` allow), once the user confirms.
    #[secure_tool(
        authz = crate::cedar::delete_policy(),
        mode = write,
        breaker = self.writes,
        timeout = "10s",
        confirm = "Delete note {id}? It cannot be undone."
    )]
    async fn delete_note(&self, args: NoteId, access: WriteAccess<'_>) -> Result<Note, ToolError> {
        let deleted = self.store.writer(&access).delete(args.id).await;
        match deleted.map_err(StoreError::classified)? {
            Some(note) => {
                // Committed: the subscribers of `notes://{id}` are told, without waiting.
                self.updates.changed(note.id);
                Ok(note)
            }
            None => Err(ToolError::not_found("No note has that id.")),
        }
    }

    /// Writes a backup of every note to the server's backup directory, a page at a time.
    /// A whole-store write: each caller may start six a minute.
    #[secure_tool(authz = scopes("notes:write"), mode = write, rate = "6/min")]
    async fn backup_notes(&self, access: WriteAccess<'_>) -> Result<Backup, ToolError> {
        let Some(dir) = &self.backup_dir else {
            return Err(ToolError::public(
                ErrorCategory::Internal,
                "Backups are not configured on this server",
            ));
        };
        let (_file, notes) = self
            .store
            .writer(&access)
            .backup(dir.clone())
            .await
            // The directory is the server's business, not the caller's: internal, whatever
            // the I/O error says.
            .map_err(ToolError::internal)?;
        Ok(Backup { notes })
    }
}

impl secure_tool::rmcp::ServerHandler for Notes {
    fn get_info(&self) -> secure_tool::rmcp::model::ServerConfig {
        use secure_tool::rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "A notes service. Read tools need the notes:read scope, create_note and \
                 backup_notes need notes:write, delete_note the admin role or the policy \
                 service's allow. Each note is also the resource notes://{id} (notes:read; \
                 subscribers are told when it is deleted), and the prompt summarise_notes \
                 summarises them. \
                 While writes are degraded, write tools say so and read tools keep working.",
            )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusqlite::Connection;
    use secure_tool::breaker::State;
    use secure_tool::health::{HealthMonitor, Status};
    use serde_json::{Value, json};

    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    fn server(name: &str) -> (SecureServer<Notes>, HealthMonitor, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("notes-tools-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let settings = Settings {
            busy_timeout: Duration::from_millis(50),
            breaker_failures: 2,
            breaker_open: Duration::from_millis(500),
            breaker_max_open: Duration::from_millis(500),
            probe_interval: Duration::from_millis(20),
            probe_timeout: Duration::from_secs(2),
            ..Settings::default()
        };
        let db = dir.join("notes.db");
        let (store, heartbeat) = Store::open(&db, settings.busy_timeout).unwrap();
        let archive = Archive::open(dir.join("archive.db"), settings.busy_timeout).unwrap();
        let notes = Notes::new(store, archive, Some(dir.clone()), &settings);
        let monitor = notes.health_monitor(heartbeat, &settings);
        let server = SecureServer::builder(notes).health(monitor.clone()).build();
        (server, monitor, db)
    }

    async fn call(server: &SecureServer<Notes>, tool: &str, arguments: Value) -> Value {
        let writer = Principal::new("ada").with_scopes(["notes:read", "notes:write"]);
        let result = server
            .call(tool, arguments.as_object().cloned(), writer)
            .await
            .unwrap();
        let mut value = result.structured_content.clone().unwrap_or_default();
        value["is_error"] = json!(result.is_error == Some(true));
        if let Some(error) = secure_tool::sanitize::error_facts(&result) {
            value["error"] = error.clone();
            value["degraded"] = error["degraded"].clone();
        }
        value
    }

    async fn until_writes(monitor: &HealthMonitor, status: Status) {
        let mut changes = monitor.changes();
        tokio::time::timeout(WAIT, changes.wait_for(|health| health.writes == status))
            .await
            .unwrap_or_else(|_| panic!("writes did not become {status} within {WAIT:?}"))
            .unwrap();
    }

    /// Every tool's output, from a successful call of each, matches its published output
    /// schema: what MCP requires, and what the server checks again on every call.
    #[tokio::test]
    async fn every_tool_answers_as_its_output_schema_says() {
        let (server, _monitor, _db) = server("outputs");
        let admin = Principal::new("root")
            .with_scopes(["notes:read", "notes:write"])
            .with_roles(["admin"]);
        let created = call(&server, "create_note", json!({"title": "kept"})).await;
        let id = created["id"].clone();
        let doomed = call(&server, "create_note", json!({"title": "doomed"})).await;
        let samples = [
            ("server_info", json!({})),
            ("list_notes", json!({})),
            ("get_note", json!({ "id": id })),
            ("notes_overview", json!({})),
            ("create_note", json!({"title": "a title", "body": "a body"})),
            ("backup_notes", json!({})),
            ("delete_note", json!({ "id": doomed["id"] })),
        ];
        let report = secure_tool::testing::check_outputs(&server, &admin, samples).await;
        report.assert_conforming();
        assert_eq!(report.conforming().len(), 7, "{report}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_locked_store_degrades_writes_reads_go_on_and_the_probes_restore_them() {
        let (server, monitor, db) = server("locked");
        let _probes = monitor.start();
        let created = call(&server, "create_note", json!({"title": "first"})).await;
        assert_eq!(created["is_error"], false, "{created}");

        let other = Connection::open(&db).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let failed = call(&server, "create_note", json!({"title": "locked"})).await;
        assert_eq!(failed["error"]["category"], "unavailable", "{failed}");
        until_writes(&monitor, Status::Degraded).await;
        let refused = call(&server, "create_note", json!({"title": "degraded"})).await;
        assert_eq!(refused["error"]["degraded"], true, "{refused}");
        let listed = call(&server, "list_notes", json!({})).await;
        assert_eq!(
            listed["notes"].as_array().map(Vec::len),
            Some(1),
            "{listed}"
        );

        other.execute_batch("ROLLBACK").unwrap();
        until_writes(&monitor, Status::Healthy).await;
        let created = call(&server, "create_note", json!({"title": "again"})).await;
        assert_eq!(created["is_error"], false, "{created}");
        let writes = server.state().writes.breaker().clone();
        let mut states = writes.watch();
        tokio::time::timeout(WAIT, states.wait_for(|state| *state == State::Closed))
            .await
            .expect("the write breaker closes after its trials")
            .unwrap();
    }

    #[tokio::test]
    async fn notes_past_the_size_limits_are_refused_naming_the_field_never_the_value() {
        let (server, _monitor, _db) = server("limits");
        let at_limit = call(
            &server,
            "create_note",
            json!({"title": "t".repeat(MAX_TITLE_CHARS), "body": "é".repeat(MAX_BODY_CHARS)}),
        )
        .await;
        assert_eq!(at_limit["is_error"], false, "{at_limit}");
        for (field, arguments) in [
            ("title", json!({"title": "T".repeat(MAX_TITLE_CHARS + 1)})),
            (
                "body",
                json!({"title": "t", "body": "B".repeat(MAX_BODY_CHARS + 1)}),
            ),
        ] {
            let refused = call(&server, "create_note", arguments).await;
            let error = &refused["error"];
            assert_eq!(error["category"], "invalid_input", "{field}: {error}");
            let message = refused["error"]["message"].as_str().unwrap();
            assert!(message.contains(&format!("`{field}`")), "{message}");
            assert!(
                !message.contains("TTT") && !message.contains("BBB"),
                "{message}"
            );
        }
        let listed = call(&server, "list_notes", json!({})).await;
        assert_eq!(
            listed["notes"].as_array().map(Vec::len),
            Some(1),
            "{listed}"
        );
    }

    #[tokio::test]
    async fn list_notes_pages_through_every_note_with_bounded_pages() {
        let (server, _monitor, dir) = server("pages");
        let dir = dir.parent().unwrap().to_owned();
        // 120 small notes, then 5 of 64 KiB each (a character of 4 bytes).
        for n in 0..120 {
            let created = call(&server, "create_note", json!({"title": format!("n{n}")})).await;
            assert_eq!(created["is_error"], false, "{created}");
        }
        for n in 0..5 {
            let big = json!({"title": format!("big{n}"), "body": "𝄞".repeat(MAX_BODY_CHARS)});
            assert_eq!(call(&server, "create_note", big).await["is_error"], false);
        }
        let mut cursor = None;
        let mut titles = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let arguments = match &cursor {
                None => json!({}),
                Some(cursor) => json!({ "cursor": cursor }),
            };
            let page = call(&server, "list_notes", arguments).await;
            assert_eq!(page["is_error"], false, "{page}");
            let notes = page["notes"].as_array().unwrap();
            let bytes: usize = notes
                .iter()
                .map(|n| n["title"].as_str().unwrap().len() + n["body"].as_str().unwrap().len())
                .sum();
            assert!(
                notes.len() <= PAGE_NOTES && bytes <= PAGE_BYTES,
                "{} notes, {bytes} bytes",
                notes.len()
            );
            sizes.push(notes.len());
            titles.extend(
                notes
                    .iter()
                    .map(|n| n["title"].as_str().unwrap().to_owned()),
            );
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(sizes.len() < 20, "pages do not end");
        }
        assert_eq!(sizes, [50, 50, 23, 2]);
        let expected: Vec<String> = (0..120)
            .map(|n| format!("n{n}"))
            .chain((0..5).map(|n| format!("big{n}")))
            .collect();
        assert_eq!(titles, expected);

        for bad in [
            "",
            "n1.",
            "n1.zz",
            "n1.00000000000000001",
            "x1.10",
            "canary-cursor",
        ] {
            let refused = call(&server, "list_notes", json!({ "cursor": bad })).await;
            assert_eq!(
                refused["error"]["category"], "invalid_input",
                "{bad}: {refused}"
            );
            assert!(!refused.to_string().contains("canary-cursor"), "{refused}");
        }

        // The backup goes through pages too, and writes every note.
        let backup = call(&server, "backup_notes", json!({})).await;
        assert_eq!(backup["notes"], 125, "{backup}");
        let written = std::fs::read_to_string(dir.join("notes-backup.jsonl")).unwrap();
        assert_eq!(written.lines().count(), 125);
    }

    #[tokio::test]
    async fn backups_need_notes_write_and_a_configured_directory() {
        let (store, _heartbeat) = Store::in_memory().unwrap();
        let notes = Notes::new(
            store,
            Archive::in_memory().unwrap(),
            None,
            &Settings::default(),
        );
        let server = SecureServer::new(notes);
        let refused = call(&server, "backup_notes", json!({})).await;
        assert_eq!(refused["error"]["category"], "internal", "{refused}");
        assert_eq!(
            refused["error"]["message"], "Backups are not configured on this server",
            "{refused}"
        );

        let reader = Principal::new("bob").with_scopes(["notes:read"]);
        let denied = server.call("backup_notes", None, reader).await.unwrap();
        let facts = secure_tool::sanitize::error_facts(&denied).unwrap();
        assert_eq!(facts["category"], "denied", "{facts}");
    }

    #[tokio::test]
    async fn the_overview_warns_about_a_busy_archive_and_falls_back_to_the_cache() {
        let (server, _monitor, db) = server("archive");
        let archive = Connection::open(db.with_file_name("archive.db")).unwrap();
        archive
            .execute(
                "INSERT INTO archived_notes (title, body, archived_at) VALUES ('old', '', 'then')",
                [],
            )
            .unwrap();
        let complete = call(&server, "notes_overview", json!({})).await;
        assert_eq!(complete["archived"], 1, "{complete}");
        assert_eq!(complete["warnings"], json!([]), "{complete}");

        archive.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let partial = call(&server, "notes_overview", json!({})).await;
        assert_eq!(partial["is_error"], false, "{partial}");
        assert_eq!(partial["archived"], 1, "{partial}");
        assert_eq!(partial["archived_from_cache"], true, "{partial}");
        assert_eq!(
            partial["warnings"][0]["message"], "Archive temporarily unavailable",
            "{partial}"
        );
        archive.execute_batch("ROLLBACK").unwrap();
    }

    /// A completion of `notes://{id}` reads ids only, no more than it suggests, and only
    /// those that start with what is typed.
    #[tokio::test]
    async fn completing_an_id_reads_ids_only_and_no_more_than_it_suggests() {
        let (server, _monitor, db) = server("completions");
        for title in ["a"; 12] {
            call(&server, "create_note", json!({ "title": title })).await;
        }
        let store = Store::open(&db, Duration::from_millis(50)).unwrap().0;
        assert_eq!(
            store.ids_starting_with("1", 100).await.unwrap(),
            [1, 10, 11, 12]
        );
        assert_eq!(store.ids_starting_with("1", 2).await.unwrap(), [1, 10]);
        assert_eq!(store.ids_starting_with("", 3).await.unwrap(), [1, 2, 3]);
        assert!(store.ids_starting_with("1%", 100).await.unwrap().is_empty());
    }

    /// A backup whose call is dropped (its deadline passed, its client went away) leaves
    /// no partial file behind.
    #[tokio::test]
    async fn a_dropped_backup_leaves_no_partial_file() {
        let (server, _monitor, db) = server("dropped-backup");
        let dir = db.parent().unwrap().to_owned();
        let partials = || {
            std::fs::read_dir(&dir)
                .unwrap()
                .filter(|entry| {
                    let name = entry.as_ref().unwrap().file_name();
                    name.to_string_lossy().starts_with(".notes-backup")
                })
                .count()
        };
        let admin = Principal::new("root")
            .with_scopes(["notes:read", "notes:write"])
            .with_roles(["admin"]);
        let mut backup = Box::pin(server.call("backup_notes", None, admin));
        // Polled until its partial file exists (it then waits for the store's first page),
        // then dropped.
        let seen = tokio::time::timeout(WAIT, async {
            loop {
                let polled = std::future::poll_fn(|cx| {
                    std::task::Poll::Ready(backup.as_mut().poll(cx).is_ready())
                });
                if polled.await {
                    return false;
                }
                if partials() > 0 {
                    return true;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the backup starts");
        assert!(seen, "the backup ended before its partial file was seen");
        drop(backup);
        assert_eq!(partials(), 0, "a partial file was left");
    }
}

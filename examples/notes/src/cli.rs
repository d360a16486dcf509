//! The command line of `notes-server`: the example notes service, served over stdio, or
//! over streamable HTTP behind OAuth bearer tokens with `--http ADDR` (`src/http.rs`).
//!
//! ```text
//! notes-server [--db PATH | --database-url URL] [--archive PATH] [--backup-dir DIR]
//!              [--http ADDR [HTTP OPTIONS]]
//! notes-server --print-manifest
//! ```
//!
//! The store is an embedded SQLite file (`--db`, default `notes.db`) unless a PostgreSQL
//! connection string is given (`--database-url`, or `DATABASE_URL` in the environment).
//! `--print-manifest` prints the tool manifest (every tool's schemas and security
//! posture, as JSON) and exits, touching no database.
//!
//! The caller over stdio is whoever started the server; its identity comes from the
//! environment: `NOTES_SUBJECT` (default `local-user`), `NOTES_SCOPES` (comma-separated,
//! default `notes:read,notes:write`), `NOTES_ROLES` (comma-separated, default none).
//! Logs, including the audit trail, go to stderr, each line cut at 8 KiB; `NOTES_LOG`
//! filters them (default `info,rmcp=warn`: rmcp logs client data whole at INFO; e.g.
//! `NOTES_LOG=secure_tool::audit=info,warn`).
//!
//! The store's reads and writes each have a circuit breaker; a health monitor probes
//! both (the write probe is a one-row heartbeat) and degrades the server to read-only
//! while writes fail. Their timings come from `NOTES_*` variables (see `--help` and
//! [`Settings`]).
//!
//! Each note is also the resource `notes://{id}`, which callers who may read it can
//! subscribe to: once the server is built, [`updates::notify_subscribers`] starts the task
//! that tells them when `delete_note` deletes it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use secure_tool::Principal;
use secure_tool::health::HealthMonitor;
use secure_tool::server::ToolLists;
use secure_tool::{SecureServer, SecureServerBuilder};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use crate::http;
use crate::logging;
use crate::policy::RemotePolicy;
use crate::settings::Settings;
use crate::store::postgres::{Database, InvalidDatabaseUrl};
use crate::store::{Archive, Heartbeat, Store, StoreError};
use crate::tools::Notes;
use crate::updates;

const USAGE: &str =
    "usage: notes-server [--db PATH | --database-url URL] [--archive PATH] [--backup-dir DIR]
                    [--http ADDR [HTTP OPTIONS]]
       notes-server --print-manifest

Serves the notes MCP tools over stdio, or over streamable HTTP with --http.

options:
  --db PATH          the SQLite database file, in WAL mode (created if missing;
                     default: notes.db)
  --database-url URL use PostgreSQL instead of SQLite (default: $DATABASE_URL), e.g.
                     postgres://user:password@127.0.0.1:5432/notes; the tables are
                     created if missing; no TLS (a loopback or Unix-socket server)
  --archive PATH     the SQLite archive of old notes, read by notes_overview (created if
                     missing; default: notes-archive.db)
  --backup-dir DIR   where backup_notes writes notes-backup.jsonl (default:
                     $NOTES_BACKUP_DIR; without either, backup_notes answers that
                     backups are not configured)
  --print-manifest   print the tool manifest (each tool's schemas, mode, policy,
                     breaker and deadline, as JSON) and exit, touching no database
  -h, --help         this help

environment:
  NOTES_SUBJECT              the caller's subject (default: local-user)
  NOTES_SCOPES               its scopes, comma-separated (default: notes:read,notes:write)
  NOTES_ROLES                its roles, comma-separated (default: none)
  NOTES_TOOL_LISTS           `per-caller`: each caller lists only the tools its scopes and
                             roles allow, and a hidden tool is answered as a missing one
                             (default: every tool to every caller)
  NOTES_LOG                  log filter for stderr (default: info,rmcp=warn; rmcp
                             logs client data whole at info); lines are cut at 8 KiB
  NOTES_BUSY_TIMEOUT_MS      how long a statement waits for a lock held by another
                             connection before it fails (default: 1000)
  NOTES_BREAKER_FAILURES     consecutive failures that open a breaker (default: 5)
  NOTES_BREAKER_OPEN_MS      first open period of a breaker; doubles on each re-open
                             (default: 15000)
  NOTES_BREAKER_MAX_OPEN_MS  longest open period (default: 300000)
  NOTES_PROBE_INTERVAL_MS    how often the health probes run, +-20% (default: 10000)
  NOTES_PROBE_TIMEOUT_MS     deadline of one probe (default: 2000)
  DATABASE_URL               as --database-url (an empty value is ignored)
  NOTES_CONNECT_TIMEOUT_MS   PostgreSQL: longest wait to connect, the startup
                             handshake included (default: 3000)
  NOTES_STATEMENT_TIMEOUT_MS PostgreSQL: longest statement, on the client and as the
                             server's statement_timeout (default: 5000)
  NOTES_POLICY_URL           an http:// policy service that may allow delete_note to
                             non-admins: POST {subject, scopes, roles, tool, mode},
                             answer {\"decision\": \"allow\"|\"deny\"}; anything else, or no
                             answer within 2 s, denies (default: none, admins only)

Limits: create_note refuses a title over 200 characters and a body over 16384
characters (invalid_input, naming the field); list_notes answers pages of at most 50
notes and 256 KiB of text, with next_cursor for the next page; backup_notes holds 100
notes in memory at a time. Over stdio, a line longer than 16 MiB or nested deeper than
127 levels is answered with a JSON-RPC error for its id, when it has one.

While the write breaker is open, or the write probe failed 3 times in a row, write
tools answer a structured `degraded` error naming the read tools, `tools/list` marks
them, and clients get notifications/tools/list_changed; 2 good probes restore writes.";

/// Where the notes are kept.
enum Backend {
    Sqlite(PathBuf),
    Postgres(Box<Database>),
}

struct Options {
    backend: Backend,
    archive: PathBuf,
    backup_dir: Option<PathBuf>,
    print_manifest: bool,
    http: http::HttpFlags,
}

/// Why the server does not start from its command line.
enum Refusal {
    /// `--help`.
    Help,
    /// A bad argument: the message, then the usage.
    Usage(String),
    /// A bad setting (an environment variable): the message alone.
    Invalid(String),
}

impl From<&str> for Refusal {
    fn from(message: &str) -> Self {
        Refusal::Usage(message.to_owned())
    }
}

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Refusal::Usage(message)
    }
}

fn parse_options() -> Result<Options, Refusal> {
    let mut db = None;
    let mut database_url = None;
    let mut print_manifest = false;
    let mut http = http::HttpFlags::default();
    let mut archive = PathBuf::from("notes-archive.db");
    let mut backup_dir = std::env::var_os("NOTES_BACKUP_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from);
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-h" | "--help") => return Err(Refusal::Help),
            Some(flag) if http.take(flag, &mut args)? => {}
            Some("--db") => db = Some(PathBuf::from(args.next().ok_or("--db needs a path")?)),
            Some("--database-url") => {
                let url = args
                    .next()
                    .ok_or("--database-url needs a connection string")?;
                let url = url
                    .into_string()
                    .map_err(|_| "--database-url is not valid UTF-8")?;
                database_url = Some(("--database-url", url));
            }
            Some("--print-manifest") => print_manifest = true,
            Some("--archive") => archive = args.next().ok_or("--archive needs a path")?.into(),
            Some("--backup-dir") => {
                backup_dir = Some(args.next().ok_or("--backup-dir needs a directory")?.into());
            }
            _ => return Err(Refusal::Usage(format!("unexpected argument {arg:?}"))),
        }
    }
    if database_url.is_none() {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => database_url = Some(("DATABASE_URL", url)),
            Ok(_) | Err(std::env::VarError::NotPresent) => {}
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Refusal::Invalid(
                    "DATABASE_URL is not valid UTF-8".to_owned(),
                ));
            }
        }
    }
    let backend = match (db, database_url) {
        (Some(_), Some((source, _))) => {
            return Err(Refusal::Usage(format!(
                "--db (SQLite) and {source} (PostgreSQL) choose different stores: give one"
            )));
        }
        (db, None) => Backend::Sqlite(db.unwrap_or_else(|| PathBuf::from("notes.db"))),
        (None, Some((source, url))) => Backend::Postgres(Box::new(url.parse().map_err(
            |error: InvalidDatabaseUrl| Refusal::Invalid(format!("{source}: {error}")),
        )?)),
    };
    Ok(Options {
        backend,
        archive,
        backup_dir,
        print_manifest,
        http,
    })
}

fn list(var: &str, default: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn local_principal() -> Principal {
    let subject = std::env::var("NOTES_SUBJECT").unwrap_or_else(|_| "local-user".to_owned());
    Principal::new(subject)
        .with_scopes(list("NOTES_SCOPES", "notes:read,notes:write"))
        .with_roles(list("NOTES_ROLES", ""))
}

/// Opens the store on its backend, and the archive.
async fn open(
    options: &Options,
    settings: &Settings,
) -> Result<(Store, Heartbeat, Archive), StoreError> {
    let (store, heartbeat) = match &options.backend {
        Backend::Sqlite(path) => Store::open(path, settings.busy_timeout)?,
        Backend::Postgres(database) => {
            Store::connect(database, settings.postgres_timeouts()).await?
        }
    };
    let archive = Archive::open(&options.archive, settings.busy_timeout)?;
    Ok((store, heartbeat, archive))
}

/// The server as it is served: the tools, write degradation by `monitor`, every output
/// checked against its schema, and per-caller tool lists if `NOTES_TOOL_LISTS=per-caller`.
fn secure_server(notes: Notes, monitor: HealthMonitor) -> SecureServerBuilder<Notes> {
    let lists = match std::env::var("NOTES_TOOL_LISTS").as_deref() {
        Ok("per-caller") => ToolLists::PerCaller,
        _ => ToolLists::All,
    };
    SecureServer::builder(notes)
        .health(monitor)
        .check_outputs(true)
        .tool_lists(lists)
}

/// Prints the manifest of the server that `settings` configure. The tools and their
/// posture do not depend on the backend: an empty store in memory stands in for it.
fn print_manifest(
    backup_dir: Option<PathBuf>,
    settings: &Settings,
    customize: impl FnOnce(SecureServerBuilder<Notes>) -> SecureServerBuilder<Notes>,
) -> ExitCode {
    let opened = Store::in_memory().and_then(|opened| Ok((opened, Archive::in_memory()?)));
    let ((store, heartbeat), archive) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("notes-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    let notes = Notes::new(store, archive, backup_dir, settings);
    let monitor = notes.health_monitor(heartbeat, settings);
    let server = customize(secure_server(notes, monitor)).build();
    let manifest = server.manifest().to_json();
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(manifest.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("notes-server: cannot print the manifest: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `notes-server` as its arguments and environment ask: prints the usage or the
/// manifest, or serves the tools over stdio, or over HTTP until a signal stops it.
///
/// `customize` gets the server's builder before it is built: a program that serves
/// these tools with more of its own (a server-wide policy, another authorization
/// deadline) adds it there; `notes-server` itself passes the builder through.
pub async fn run(
    customize: impl FnOnce(SecureServerBuilder<Notes>) -> SecureServerBuilder<Notes>,
) -> ExitCode {
    let mut options = match parse_options() {
        Ok(options) => options,
        Err(Refusal::Help) => {
            println!("{USAGE}\n\n{}", http::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(Refusal::Usage(message)) => {
            eprintln!("notes-server: {message}\n\n{USAGE}\n\n{}", http::USAGE);
            return ExitCode::from(2);
        }
        Err(Refusal::Invalid(message)) => {
            eprintln!("notes-server: {message}");
            return ExitCode::from(2);
        }
    };
    let http = std::mem::take(&mut options.http)
        .resolve(|name| std::env::var(name).ok())
        .and_then(|http| RemotePolicy::check_env().map(|()| http));
    let http = match http {
        Ok(http) => http,
        Err(message) => {
            eprintln!("notes-server: {message}");
            return ExitCode::from(2);
        }
    };
    // Client data is never logged whole by default, and no line is longer than
    // `logging::MAX_LINE`: see `logging::default_filter` for why rmcp is at WARN.
    let filter: Targets = std::env::var("NOTES_LOG")
        .ok()
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(logging::default_filter);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(logging::BoundedStderr)
                .with_ansi(false)
                .with_filter(filter),
        )
        .init();

    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("notes-server: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if options.print_manifest {
        return print_manifest(options.backup_dir, &settings, customize);
    }
    let opened = open(&options, &settings).await;
    let (store, heartbeat, archive) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            // The cause too (refused, timed out...): the server is named by host, port
            // and database only.
            eprintln!(
                "notes-server: {}",
                secure_tool::sanitize::error_chain(&error)
            );
            return ExitCode::FAILURE;
        }
    };
    let database = match &options.backend {
        Backend::Sqlite(path) => path.display().to_string(),
        // Host, port and database: never the user or the password.
        Backend::Postgres(database) => database.target().to_owned(),
    };
    let backend = store.backend();
    let notes = Notes::new(store, archive, options.backup_dir, &settings);
    let monitor = notes.health_monitor(heartbeat, &settings);
    // The probes run until this guard is dropped, when the server stops.
    let _probes = monitor.start();
    let server = customize(secure_server(notes, monitor));
    if let Some(http) = http {
        // No local principal: every HTTP request brings its own, from its bearer token.
        tracing::info!(
            backend,
            %database,
            archive = %options.archive.display(),
            ?settings,
            "notes-server starting on HTTP"
        );
        let server = server.build();
        // Until the server stops: subscribers of a note are told when it is deleted.
        let _updates = updates::notify_subscribers(&server);
        return match http::serve(server, http).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("notes-server: {message}");
                ExitCode::FAILURE
            }
        };
    }
    let principal = local_principal();
    tracing::info!(
        backend,
        %database,
        archive = %options.archive.display(),
        %principal,
        ?settings,
        "notes-server starting on stdio"
    );
    let server = server.local_principal(principal).build();
    let _updates = updates::notify_subscribers(&server);
    let running = match server.serve_stdio().await {
        Ok(running) => running,
        Err(error) => {
            tracing::error!(%error, "MCP handshake failed");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = running.waiting().await {
        tracing::error!(%error, "server stopped with an error");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

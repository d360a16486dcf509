//! `notes-server`: the example notes service, served over stdio, or over streamable HTTP
//! behind OAuth bearer tokens with `--http ADDR` (see the [`http`] module).
//!
//! ```text
//! notes-server [--db PATH] [--archive PATH] [--backup-dir DIR] [--http ADDR [HTTP OPTIONS]]
//! ```
//!
//! The caller over stdio is whoever started the server; its identity comes from the
//! environment: `NOTES_SUBJECT` (default `local-user`), `NOTES_SCOPES` (comma-separated,
//! default `notes:read,notes:write`), `NOTES_ROLES` (comma-separated, default none).
//! Logs, including the audit trail, go to stderr; `NOTES_LOG` filters them
//! (default `info`, e.g. `NOTES_LOG=secure_tool::audit=info,warn`).
//!
//! The store's reads and writes each have a circuit breaker; a health monitor probes
//! both (the write probe is a one-row heartbeat) and degrades the server to read-only
//! while writes fail. Their timings come from `NOTES_*` variables (see `--help` and
//! [`Settings`]).

mod http;

use std::path::PathBuf;
use std::process::ExitCode;

use notes_server::policy::RemotePolicy;
use notes_server::settings::Settings;
use notes_server::store::{Archive, Store};
use notes_server::tools::Notes;
use secure_tool::Principal;
use secure_tool::SecureServer;
use secure_tool::rmcp::{ServiceExt, transport::stdio};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

const USAGE: &str = "usage: notes-server [--db PATH] [--archive PATH] [--backup-dir DIR]
                    [--http ADDR [HTTP OPTIONS]]

Serves the notes MCP tools over stdio, or over streamable HTTP with --http.

options:
  --db PATH          the SQLite database file, in WAL mode (created if missing;
                     default: notes.db)
  --archive PATH     the SQLite archive of old notes, read by notes_overview (created if
                     missing; default: notes-archive.db)
  --backup-dir DIR   where backup_notes writes (default: $NOTES_BACKUP_DIR, else
                     /nonexistent/notes-backups/secret-canary-dir, which fails on purpose)
  -h, --help         this help

environment:
  NOTES_SUBJECT              the caller's subject (default: local-user)
  NOTES_SCOPES               its scopes, comma-separated (default: notes:read,notes:write)
  NOTES_ROLES                its roles, comma-separated (default: none)
  NOTES_LOG                  log filter for stderr (default: info)
  NOTES_BUSY_TIMEOUT_MS      how long a statement waits for a lock held by another
                             connection before it fails (default: 1000)
  NOTES_BREAKER_FAILURES     consecutive failures that open a breaker (default: 5)
  NOTES_BREAKER_OPEN_MS      first open period of a breaker; doubles on each re-open
                             (default: 15000)
  NOTES_BREAKER_MAX_OPEN_MS  longest open period (default: 300000)
  NOTES_PROBE_INTERVAL_MS    how often the health probes run, +-20% (default: 10000)
  NOTES_PROBE_TIMEOUT_MS     deadline of one probe (default: 2000)
  NOTES_POLICY_URL           an http:// policy service that may allow delete_note to
                             non-admins: POST {subject, scopes, roles, tool, mode},
                             answer {\"decision\": \"allow\"|\"deny\"}; anything else, or no
                             answer within 2 s, denies (default: none, admins only)

While the write breaker is open, or the write probe failed 3 times in a row, write
tools answer a structured `degraded` error naming the read tools, `tools/list` marks
them, and clients get notifications/tools/list_changed; 2 good probes restore writes.";

struct Options {
    db: PathBuf,
    archive: PathBuf,
    backup_dir: PathBuf,
    http: http::HttpFlags,
}

fn parse_options() -> Result<Options, String> {
    let mut db = PathBuf::from("notes.db");
    let mut archive = PathBuf::from("notes-archive.db");
    let mut backup_dir = std::env::var_os("NOTES_BACKUP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/nonexistent/notes-backups/secret-canary-dir"));
    let mut http = http::HttpFlags::default();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some(flag) if http.take(flag, &mut args)? => {}
            Some("-h" | "--help") => return Err(String::new()),
            Some("--db") => db = args.next().ok_or("--db needs a path")?.into(),
            Some("--archive") => archive = args.next().ok_or("--archive needs a path")?.into(),
            Some("--backup-dir") => {
                backup_dir = args.next().ok_or("--backup-dir needs a directory")?.into();
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(Options {
        db,
        archive,
        backup_dir,
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

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            println!("{USAGE}\n\n{}", http::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("notes-server: {message}\n\n{USAGE}\n\n{}", http::USAGE);
            return ExitCode::from(2);
        }
    };
    let http = options
        .http
        .resolve(|name| std::env::var(name).ok())
        .and_then(|http| RemotePolicy::check_env().map(|()| http));
    let http = match http {
        Ok(http) => http,
        Err(message) => {
            eprintln!("notes-server: {message}");
            return ExitCode::from(2);
        }
    };
    let filter: Targets = std::env::var("NOTES_LOG")
        .ok()
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
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
    let opened = Store::open(&options.db, settings.busy_timeout).and_then(|(store, heartbeat)| {
        let archive = Archive::open(&options.archive, settings.busy_timeout)?;
        Ok((store, heartbeat, archive))
    });
    let (store, heartbeat, archive) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("notes-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    let notes = Notes::new(store, archive, options.backup_dir, &settings);
    let monitor = notes.health_monitor(heartbeat, &settings);
    // The probes run until this guard is dropped, when the server stops.
    let _probes = monitor.start();
    let server = match notes_server::faults::inject(SecureServer::builder(notes).health(monitor)) {
        Ok(builder) => builder,
        Err(message) => {
            eprintln!("notes-server: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(http) = http {
        // No local principal: every HTTP request brings its own, from its bearer token.
        tracing::info!(
            db = %options.db.display(),
            archive = %options.archive.display(),
            ?settings,
            "notes-server starting on HTTP"
        );
        return match http::serve(server.build(), http).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("notes-server: {message}");
                ExitCode::FAILURE
            }
        };
    }
    let principal = local_principal();
    tracing::info!(
        db = %options.db.display(),
        archive = %options.archive.display(),
        %principal,
        ?settings,
        "notes-server starting on stdio"
    );
    let server = server.local_principal(principal).build();
    let running = match server.serve(stdio()).await {
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

//! `notes-server`: the example notes service, served over stdio.
//!
//! ```text
//! notes-server [--db PATH] [--backup-dir DIR]
//! ```
//!
//! The caller over stdio is whoever started the server; its identity comes from the
//! environment: `NOTES_SUBJECT` (default `local-user`), `NOTES_SCOPES` (comma-separated,
//! default `notes:read,notes:write`), `NOTES_ROLES` (comma-separated, default none).
//! Logs, including the audit trail, go to stderr; `NOTES_LOG` filters them
//! (default `info`, e.g. `NOTES_LOG=secure_tool::audit=info,warn`).

use std::path::PathBuf;
use std::process::ExitCode;

use notes_server::store::Store;
use notes_server::tools::Notes;
use secure_tool::Principal;
use secure_tool::SecureServer;
use secure_tool::rmcp::{ServiceExt, transport::stdio};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

const USAGE: &str = "usage: notes-server [--db PATH] [--backup-dir DIR]

Serves the notes MCP tools over stdio.

options:
  --db PATH          the SQLite database file (created if missing; default: notes.db)
  --backup-dir DIR   where backup_notes writes (default: $NOTES_BACKUP_DIR, else
                     /nonexistent/notes-backups/secret-canary-dir, which fails on purpose)
  -h, --help         this help

environment:
  NOTES_SUBJECT  the caller's subject (default: local-user)
  NOTES_SCOPES   its scopes, comma-separated (default: notes:read,notes:write)
  NOTES_ROLES    its roles, comma-separated (default: none)
  NOTES_LOG      log filter for stderr (default: info)";

struct Options {
    db: PathBuf,
    backup_dir: PathBuf,
}

fn parse_options() -> Result<Options, String> {
    let mut db = PathBuf::from("notes.db");
    let mut backup_dir = std::env::var_os("NOTES_BACKUP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/nonexistent/notes-backups/secret-canary-dir"));
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-h" | "--help") => return Err(String::new()),
            Some("--db") => db = args.next().ok_or("--db needs a path")?.into(),
            Some("--backup-dir") => {
                backup_dir = args.next().ok_or("--backup-dir needs a directory")?.into();
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(Options { db, backup_dir })
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
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("notes-server: {message}\n\n{USAGE}");
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

    let store = match Store::open(&options.db) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("notes-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    let principal = local_principal();
    tracing::info!(db = %options.db.display(), %principal, "notes-server starting on stdio");
    let server = SecureServer::builder(Notes::new(store, options.backup_dir))
        .local_principal(principal)
        .build();
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

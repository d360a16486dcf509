//! What the example's integration tests share.

pub mod stdio_server;

use std::process::Command;

/// The `notes-server` binary, without any of the caller's variables that configure it
/// (`NOTES_*`, `DATABASE_URL`, `RUST_LOG`): each test says what it runs with.
pub fn notes_server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_notes-server"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("NOTES_") || name == "DATABASE_URL" || name == "RUST_LOG" {
            command.env_remove(name.as_ref());
        }
    }
    command
}

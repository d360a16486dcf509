//! `notes-server`: the example notes service. Its command line is
//! [`notes_server::cli`]'s (`notes-server --help`).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    notes_server::cli::run(|server| server).await
}

//! End to end with the official MCP Python SDK, over stdio (and over streamable HTTP for the
//! leak canaries). Builds `notes-server` (and, for the fault matrix, `notes-fault-server`),
//! prepares a virtualenv with `e2e/requirements.txt`, and runs:
//!
//! - `e2e/test_notes_stdio.py`: the fail-secure behaviour of the example from the client's
//!   side (default and `legacy` handshakes), then a real fault (the test holds the SQLite
//!   write lock of the server's database) followed through degraded writes and back;
//! - `e2e/test_canaries_stdio.py`: the leak canaries of `bin/canary_server.rs`;
//! - `e2e/test_canaries_http.py`: the same canaries over streamable HTTP, behind the bearer
//!   token check: the script starts `canary-server --http 127.0.0.1:0` and a byte-recording
//!   proxy in front of it, scans every byte the client received (status lines, headers and
//!   bodies, raw and decoded, the `401`s included), and stops the server; each of its waits
//!   is bounded;
//! - `e2e/test_fault_matrix.py`: every tool, the note template's read and its completion,
//!   and the prompt × every authorization fault, injected by
//!   `notes-fault-server` (`tests/notes-fault-server`);
//! - `e2e/test_boundary.py`: argument refusals without echo, hidden tools;
//! - `e2e/test_surface.py`: resources, read allowed, denied and missing.
//!
//! Needs `python3` (3.10 or newer, with the `venv` module) on `PATH`, or its path in
//! `NOTES_E2E_PYTHON`, and network access to PyPI the first time (the virtualenv is
//! kept in `<target-dir>/e2e-venv` and rebuilt when the requirements change).

use std::path::Path;
use std::process::{Command, Stdio};

use secure_tool_tests::support;
use secure_tool_tests::support::notes_bin;

/// The Python scripts and their requirements, relative to this package.
const SCRIPT: &str = "e2e/test_notes_stdio.py";
const CANARY_SCRIPT: &str = "e2e/test_canaries_stdio.py";
const CANARY_HTTP_SCRIPT: &str = "e2e/test_canaries_http.py";
const MATRIX_SCRIPT: &str = "e2e/test_fault_matrix.py";
const BOUNDARY_SCRIPT: &str = "e2e/test_boundary.py";
const SURFACE_SCRIPT: &str = "e2e/test_surface.py";
const REQUIREMENTS: &str = "e2e/requirements.txt";

#[test]
fn python_sdk_drives_notes_server_over_stdio() {
    let server = support::build_notes_server();
    run_script(
        SCRIPT,
        "NOTES_SERVER_BIN",
        &server,
        "the MCP Python SDK end-to-end scenario",
    );
}

/// What crosses the boundary: `e2e/test_boundary.py` lists the example's tools with the
/// Python SDK, then sends arguments that break the published input schema (sizes, ranges,
/// types, patterns, unknown fields), each refused with the field and the constraint and
/// no marked value echoed; and a tool hidden from the caller by per-caller lists gets the
/// answer of a tool that does not exist.
#[test]
fn python_sdk_gets_field_errors_without_echo_and_hidden_tools_look_missing() {
    let server = support::build_notes_server();
    run_script(
        BOUNDARY_SCRIPT,
        "NOTES_SERVER_BIN",
        &server,
        "the input boundary scenario",
    );
}

/// Resources with the Python SDK: `e2e/test_surface.py` lists the `notes://{id}` template,
/// reads a note as a writer and a reader, follows `link_note`'s resource link, and checks
/// that a caller without `notes:read` is listed nothing and gets, for an existing note, a
/// missing one and a malformed URI alike, the reader's answer for a missing note.
#[test]
fn python_sdk_reads_resources_and_a_denied_read_looks_missing() {
    let server = support::build_notes_server();
    run_script(
        SURFACE_SCRIPT,
        "NOTES_SERVER_BIN",
        &server,
        "the resources scenario",
    );
}

/// Leak canaries: the canary server plants unique strings in every kind of failure, and
/// `e2e/test_canaries_stdio.py` checks with the Python SDK that none of them is in any byte
/// the client received, and that every one is in the server's log.
#[test]
fn python_sdk_receives_no_canary_and_the_log_has_them_all() {
    let server = Path::new(env!("CARGO_BIN_EXE_canary-server"));
    run_script(
        CANARY_SCRIPT,
        "CANARY_SERVER_BIN",
        server,
        "the leak canary scenario",
    );
}

/// Leak canaries over streamable HTTP: `e2e/test_canaries_http.py` starts the canary server
/// with `--http`, behind a bearer token check whose configuration holds canaries too (the
/// JWKS path, the signing secret), and checks through a recording proxy that no byte the
/// client received holds one (rejected tokens' `401`s included, headers and bodies, raw and
/// de-chunked), and that the server's log holds every canary of its failures.
#[test]
fn python_sdk_over_http_receives_no_canary_and_the_log_has_them_all() {
    let server = Path::new(env!("CARGO_BIN_EXE_canary-server"));
    run_script(
        CANARY_HTTP_SCRIPT,
        "CANARY_SERVER_BIN",
        server,
        "the leak canary scenario over streamable HTTP",
    );
}

/// The fault matrix over stdio: every tool of the example, its resource read, prompt get
/// and completion × every way its authorization can fail (`e2e/test_fault_matrix.py`): 0
/// non-denial answers, 0 handler runs.
#[test]
fn python_sdk_fault_matrix_over_stdio_is_all_denials() {
    let server = notes_bin::notes_fault_server();
    run_script(
        MATRIX_SCRIPT,
        "NOTES_SERVER_BIN",
        &server,
        "the fault matrix",
    );
}

/// Runs `script` (relative to this package) with the virtualenv's Python, telling it the
/// server binary in `server_variable`; fails the test with the command to rerun it alone.
fn run_script(script: &str, server_variable: &str, server: &Path, what: &str) {
    let package_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace_root = support::workspace_root();
    let venv_python = support::ensure_venv(
        &support::host_python(),
        &support::target_directory(),
        &package_dir.join(REQUIREMENTS),
    );
    let script = package_dir.join(script);
    eprintln!(
        "running {} with {server_variable}={}",
        script.display(),
        server.display()
    );
    let status = Command::new(&venv_python)
        .arg(&script)
        .env(server_variable, server)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(workspace_root)
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", venv_python.display()));
    assert!(
        status.success(),
        "{what} failed ({status}); its output above says which check failed. Rerun it alone \
         with: {server_variable}={} {} {}",
        server.display(),
        venv_python.display(),
        script.display()
    );
}

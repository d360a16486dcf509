//! The `notes-server` binary, `notes-fault-server` and `conformance-server`, built by
//! cargo for the tests that run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// `cargo build -p notes-server --bin notes-server`, returning the binary's path as cargo
/// reports it (whatever the target directory).
pub fn notes_server() -> PathBuf {
    build_bin("notes-server", false)
}

/// `cargo build --release -p notes-server --bin notes-server`: the binary as it is
/// deployed, for the tests that time it behind a load balancer (`replicas.rs`).
pub fn notes_server_release() -> PathBuf {
    build_bin("notes-server", true)
}

/// `cargo build -p notes-fault-server`: `notes-server` with the authorization fault named
/// by `NOTES_AUTHZ_FAULT` (`tests/notes-fault-server`), for the fault-matrix tests.
pub fn notes_fault_server() -> PathBuf {
    build_bin("notes-fault-server", false)
}

/// `cargo build -p conformance-server`: the fixture of the MCP conformance suite
/// (`examples/conformance`).
pub fn conformance_server() -> PathBuf {
    build_bin("conformance-server", false)
}

/// Builds the binary `name` of the package of the same name (in the release profile if
/// `release`), returning its path.
fn build_bin(name: &str, release: bool) -> PathBuf {
    let workspace_root = workspace_root();
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "-q",
            "-p",
            name,
            "--bin",
            name,
            "--message-format=json-render-diagnostics",
        ])
        .args(release.then_some("--release"))
        .current_dir(&workspace_root)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|error| panic!("cannot run cargo to build {name}: {error}"));
    assert!(
        output.status.success(),
        "`cargo build -p {name}` failed ({}); see the diagnostics above",
        output.status
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo built {name} but reported no executable for it"))
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package lives inside the workspace")
        .to_owned()
}

/// `notes-server` with none of the environment that configures it (`NOTES_*`,
/// `DATABASE_URL`), in `dir`: what it does is what its arguments say.
pub fn command(binary: &Path, dir: &Path) -> Command {
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("NOTES_") || name == "DATABASE_URL" {
            command.env_remove(name.as_ref());
        }
    }
    command.current_dir(dir).stdin(Stdio::null());
    command
}

/// A new, empty directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A new, empty directory named after `name`, removed when the guard is dropped.
pub fn empty_dir(name: &str) -> TempDir {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "notes-server-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
    TempDir(dir)
}

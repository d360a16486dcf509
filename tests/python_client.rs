//! End to end with the official MCP Python SDK, over stdio. Builds `notes-server`
//! (with its `fault-injection` feature, inert unless a test sets `NOTES_AUTHZ_FAULT`),
//! prepares a virtualenv with `e2e/requirements.txt`, and runs:
//!
//! - `e2e/test_notes_stdio.py`: the fail-secure behaviour of the example from the client's
//!   side (default and `legacy` handshakes), then a real fault (the test holds the SQLite
//!   write lock of the server's database) followed through degraded writes and back;
//! - `e2e/test_canaries_stdio.py`: the leak canaries of `bin/canary_server.rs`;
//! - `e2e/test_fault_matrix.py`: every tool × every authorization fault.
//!
//! Needs `python3` (3.10 or newer, with the `venv` module) on `PATH`, or its path in
//! `NOTES_E2E_PYTHON`, and network access to PyPI the first time (the virtualenv is
//! kept in `<target-dir>/e2e-venv` and rebuilt when the requirements change).

use std::env;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The Python script and its requirements, relative to this package.
const SCRIPT: &str = "e2e/test_notes_stdio.py";
const CANARY_SCRIPT: &str = "e2e/test_canaries_stdio.py";
const MATRIX_SCRIPT: &str = "e2e/test_fault_matrix.py";
const REQUIREMENTS: &str = "e2e/requirements.txt";
/// The virtualenv's directory name inside the target directory.
const VENV: &str = "e2e-venv";
/// What the virtualenv was built from, inside the virtualenv.
const STAMP: &str = "secure-tool-e2e.stamp";
/// Bump to rebuild existing virtualenvs when the way they are built changes.
const VENV_RECIPE: u32 = 1;
/// Leftovers of interrupted builds older than this are removed.
const STALE_AFTER: Duration = Duration::from_secs(3600);

const INSTALL_PYTHON: &str = "install CPython 3.10 or newer with the venv module, e.g. \
     `apt-get install -y python3 python3-venv` on Debian/Ubuntu, `brew install python` on macOS, \
     or pyenv; or point NOTES_E2E_PYTHON at an existing interpreter";

#[test]
fn python_sdk_drives_notes_server_over_stdio() {
    let workspace_root = workspace_root();
    let server = build_notes_server(workspace_root);
    run_script(
        SCRIPT,
        "NOTES_SERVER_BIN",
        &server,
        "the MCP Python SDK end-to-end scenario",
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

/// The fault matrix over stdio: every tool of the example × every way its authorization
/// can fail (`e2e/test_fault_matrix.py`): 0 non-denial answers, 0 handler runs.
#[test]
fn python_sdk_fault_matrix_over_stdio_is_all_denials() {
    let server = build_notes_server(workspace_root());
    run_script(
        MATRIX_SCRIPT,
        "NOTES_SERVER_BIN",
        &server,
        "the fault matrix",
    );
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package lives inside the workspace")
}

/// Runs `script` (relative to this package) with the virtualenv's Python, telling it the
/// server binary in `server_variable`; fails the test with the command to rerun it alone.
fn run_script(script: &str, server_variable: &str, server: &Path, what: &str) {
    let package_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace_root = workspace_root();
    let target_dir = target_directory(workspace_root);
    let python = host_python();
    let venv_python = ensure_venv(&python, &target_dir, &package_dir.join(REQUIREMENTS));
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

/// `cargo build -p notes-server`, returning the binary's path as cargo reports it.
fn build_notes_server(workspace_root: &Path) -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "-q",
            "-p",
            "notes-server",
            "--bin",
            "notes-server",
            // Off unless NOTES_AUTHZ_FAULT is set; the fault-matrix test sets it.
            "--features",
            "fault-injection",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(workspace_root)
        .stderr(Stdio::inherit())
        .output()
        .expect("cannot run cargo to build notes-server");
    assert!(
        output.status.success(),
        "`cargo build -p notes-server` failed ({}); see the diagnostics above",
        output.status
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == "notes-server")
        .filter(|message| {
            message["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|kind| kind == "bin"))
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo built notes-server but reported no executable for it")
}

/// The workspace's target directory, as cargo resolves it (`CARGO_TARGET_DIR`, config, or `target/`).
fn target_directory(workspace_root: &Path) -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(workspace_root)
        .stderr(Stdio::inherit())
        .output()
        .expect("cannot run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed ({})",
        output.status
    );
    let metadata: Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata printed invalid JSON");
    let target = metadata["target_directory"]
        .as_str()
        .expect("cargo metadata has no target_directory");
    PathBuf::from(target)
}

/// The interpreter that builds the virtualenv: `NOTES_E2E_PYTHON`, else `python3`.
fn host_python() -> PathBuf {
    let python = env::var_os("NOTES_E2E_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let output = match Command::new(&python)
        .args([
            "-c",
            "import sys; print(int(sys.version_info >= (3, 10)), sys.version.split()[0])",
        ])
        .stderr(Stdio::inherit())
        .output()
    {
        Ok(output) => output,
        Err(error) if error.kind() == ErrorKind::NotFound => panic!(
            "`{}` was not found, and this test drives notes-server with the official MCP Python \
             SDK: {INSTALL_PYTHON}",
            python.display()
        ),
        Err(error) => panic!("cannot run `{}`: {error}", python.display()),
    };
    let answer = String::from_utf8_lossy(&output.stdout);
    let mut answer = answer.split_whitespace();
    let recent_enough = answer.next() == Some("1");
    let version = answer.next().unwrap_or("unknown").to_owned();
    assert!(
        output.status.success() && recent_enough,
        "`{}` (Python {version}) is too old for the MCP Python SDK 2.x: {INSTALL_PYTHON}",
        python.display()
    );
    python
}

/// Makes sure `<target>/e2e-venv` holds the requirements, returning its interpreter.
///
/// A virtualenv is never changed in place: a fresh one is built under a unique name and
/// renamed into place, so concurrent test processes either see a complete virtualenv or
/// none, and at worst build one each.
fn ensure_venv(python: &Path, target_dir: &Path, requirements: &Path) -> PathBuf {
    let venv = target_dir.join(VENV);
    let stamp = venv_stamp(python, requirements);
    if is_ready(&venv, &stamp) {
        return venv_python(&venv);
    }

    fs::create_dir_all(target_dir)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", target_dir.display()));
    remove_stale_leftovers(target_dir);
    let staging = target_dir.join(format!("{VENV}.tmp-{}", unique_suffix()));
    eprintln!(
        "creating the Python virtualenv {} with {} (first run, or {} changed)",
        venv.display(),
        python.display(),
        requirements.display()
    );
    run(
        Command::new(python).arg("-m").arg("venv").arg(&staging),
        &format!(
            "`{} -m venv` failed. On Debian/Ubuntu the venv module is packaged separately: \
             `apt-get install -y python3-venv`; otherwise {INSTALL_PYTHON}",
            python.display()
        ),
    );
    run(
        Command::new(venv_python(&staging))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
                "-r",
            ])
            .arg(requirements),
        &format!(
            "`pip install -r {}` failed; the first run needs access to PyPI (or a mirror set \
             with PIP_INDEX_URL)",
            requirements.display()
        ),
    );
    run(
        Command::new(venv_python(&staging)).args(["-c", "import mcp.client.stdio"]),
        "the MCP Python SDK was installed but cannot be imported",
    );
    fs::write(staging.join(STAMP), &stamp)
        .unwrap_or_else(|error| panic!("cannot write the virtualenv stamp: {error}"));

    for _ in 0..5 {
        match fs::rename(&staging, &venv) {
            Ok(()) => return venv_python(&venv),
            Err(_) if is_ready(&venv, &stamp) => {
                // Another test process published an equivalent virtualenv first.
                let _ = fs::remove_dir_all(&staging);
                return venv_python(&venv);
            }
            Err(_) if venv.exists() => {
                // An outdated virtualenv is in the way: move it aside atomically, then retry.
                let outdated = target_dir.join(format!("{VENV}.old-{}", unique_suffix()));
                if fs::rename(&venv, &outdated).is_ok() {
                    let _ = fs::remove_dir_all(&outdated);
                }
            }
            Err(error) => panic!(
                "cannot move {} to {}: {error}",
                staging.display(),
                venv.display()
            ),
        }
    }
    panic!(
        "could not install the virtualenv at {} (it keeps changing under this process)",
        venv.display()
    );
}

fn is_ready(venv: &Path, stamp: &str) -> bool {
    fs::read_to_string(venv.join(STAMP)).is_ok_and(|found| found == stamp)
        && venv_python(venv).exists()
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// What a virtualenv must have been built from to be reused: the recipe, the base
/// interpreter, and a hash of the requirements.
fn venv_stamp(python: &Path, requirements: &Path) -> String {
    let output = Command::new(python)
        .args([
            "-c",
            "import os, sys; print(os.path.realpath(sys.executable), sys.version.split()[0])",
        ])
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|error| panic!("cannot run `{}`: {error}", python.display()));
    let interpreter = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let contents = fs::read(requirements)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", requirements.display()));
    format!(
        "recipe {VENV_RECIPE}\ninterpreter {interpreter}\nrequirements fnv1a64:{:016x}\n",
        fnv1a64(&contents)
    )
}

/// 64-bit FNV-1a: enough to notice an edited requirements file.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Removes staging and outdated virtualenvs that interrupted runs left behind.
fn remove_stale_leftovers(target_dir: &Path) {
    let Ok(entries) = fs::read_dir(target_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let leftover =
            name.starts_with(&format!("{VENV}.tmp-")) || name.starts_with(&format!("{VENV}.old-"));
        let stale = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > STALE_AFTER));
        if leftover && stale {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

fn run(command: &mut Command, failure: &str) {
    let status = command
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|error| panic!("{failure}\n(cannot start {command:?}: {error})"));
    assert!(
        status.success(),
        "{failure}\n({command:?} exited with {status})"
    );
}

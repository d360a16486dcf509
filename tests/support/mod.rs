//! What the end-to-end tests share: building `notes-server` and running it over HTTP,
//! finding the target directory, the virtualenv of the official MCP Python SDK, Node.js,
//! disposable PostgreSQL clusters, and a real OpenID provider on loopback.
//!
//! The virtualenv is built once in the target directory and reused by every test (the
//! Python tests share a nextest test group of one, so it is never built twice at once).

use std::env;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub mod http_server;
pub mod json_script;
pub mod load;
pub mod node;
pub mod notes_bin;
pub mod oidc;
pub mod pg;

/// The virtualenv's directory name inside the target directory.
const VENV: &str = "e2e-venv";
/// What the virtualenv was built from, inside the virtualenv.
const STAMP: &str = "secure-tool-e2e.stamp";
/// Bump to rebuild existing virtualenvs when the way they are built changes.
const VENV_RECIPE: u32 = 1;
/// Leftovers of interrupted builds older than this are removed.
const STALE_AFTER: Duration = Duration::from_secs(3600);

pub const INSTALL_PYTHON: &str = "install CPython 3.10 or newer with the venv module, e.g. \
     `apt-get install -y python3 python3-venv` on Debian/Ubuntu, `brew install python` on macOS, \
     or pyenv; or point NOTES_E2E_PYTHON at an existing interpreter";

/// The workspace root: the parent of this package.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package lives inside the workspace")
}

/// The `notes-server` binary, built by cargo.
pub fn build_notes_server() -> PathBuf {
    notes_bin::notes_server()
}

/// The workspace's target directory, as cargo resolves it (`CARGO_TARGET_DIR`, config, or
/// `target/`).
pub fn target_directory() -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(workspace_root())
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
pub fn host_python() -> PathBuf {
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
pub fn ensure_venv(python: &Path, target_dir: &Path, requirements: &Path) -> PathBuf {
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

/// 64-bit FNV-1a: enough to notice an edited requirements or lock file.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
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

pub fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// Runs `command` with no stdin, panicking with `failure` unless it succeeds.
pub fn run(command: &mut Command, failure: &str) {
    let status = command
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|error| panic!("{failure}\n(cannot start {command:?}: {error})"));
    assert!(
        status.success(),
        "{failure}\n({command:?} exited with {status})"
    );
}

/// Starts `tests/e2e/<script>` with the virtualenv's Python and `env` added to its
/// environment, its stdin piped (to tell it to go on) and its stdout read line by line
/// (each line also echoed to stderr): the child and its lines.
pub fn start_python_script(
    script: &str,
    env: &[(&str, &std::ffi::OsStr)],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead as _;

    let root = workspace_root();
    let python = ensure_venv(
        &host_python(),
        &target_directory(),
        &root.join("tests/e2e/requirements.txt"),
    );
    let mut child = Command::new(&python)
        .arg(root.join("tests/e2e").join(script))
        .envs(env.iter().copied())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", python.display()));
    let stdout = child.stdout.take().expect("stdout is piped");
    let (sender, lines) = std::sync::mpsc::channel();
    let name = script.to_owned();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("{name}: {line}");
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    (child, lines)
}

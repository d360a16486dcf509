//! The real `notes-server` binary's command line: where the help and the errors go, the
//! exit codes, and a variable standing in for its flag, seen in what the server does
//! (`--print-manifest` states the breakers' settings). Each run has none of the caller's
//! `NOTES_*` or `DATABASE_URL`.

use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

#[allow(dead_code)] // each test binary uses a part of it
mod support;

/// `notes-server args` with `env` as its only variables that configure it, in an empty
/// directory of its own.
fn notes_server(args: &[&str], env: &[(&str, &str)]) -> Output {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "notes-command-line-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let output = support::notes_server()
        .args(args)
        .envs(env.iter().copied())
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run notes-server");
    let _ = std::fs::remove_dir_all(&dir);
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The write breaker's consecutive failures, as the printed manifest states them.
fn consecutive_failures(output: &Output) -> u64 {
    assert!(output.status.success(), "{}", text(&output.stderr));
    let manifest: Value = serde_json::from_slice(&output.stdout).expect("a JSON manifest");
    let tools = manifest["tools"].as_array().expect("a list of tools");
    let create = tools
        .iter()
        .find(|tool| tool["name"] == "create_note")
        .unwrap();
    create["breaker"]["settings"]["consecutive_failures"]
        .as_u64()
        .expect("a number")
}

#[test]
fn help_goes_to_stdout_and_exits_zero() {
    for flag in ["-h", "--help"] {
        let output = notes_server(&[flag], &[]);
        assert_eq!(output.status.code(), Some(0), "{flag}");
        let help = text(&output.stdout);
        assert!(help.contains("--breaker-failures <N>"), "{help}");
        assert!(help.contains("[env: NOTES_BREAKER_FAILURES]"), "{help}");
        assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
    }
}

#[test]
fn a_bad_command_line_goes_to_stderr_and_exits_two() {
    let unknown = notes_server(&["--breaker-faillures", "3"], &[]);
    assert_eq!(unknown.status.code(), Some(2));
    let error = text(&unknown.stderr);
    assert!(
        error.starts_with("error: unexpected argument '--breaker-faillures' found"),
        "{error}"
    );
    assert!(
        error.contains("'--breaker-failures'"),
        "a suggestion: {error}"
    );
    assert!(unknown.stdout.is_empty());

    let bad = notes_server(&["--print-manifest"], &[("NOTES_BREAKER_FAILURES", "many")]);
    assert_eq!(bad.status.code(), Some(2));
    let error = text(&bad.stderr);
    assert!(
        error.contains("invalid value 'many' for '--breaker-failures <N>'"),
        "{error}"
    );
    assert!(
        error.contains("the value comes from NOTES_BREAKER_FAILURES"),
        "{error}"
    );
    assert!(bad.stdout.is_empty(), "nothing printed");
}

#[test]
fn a_variable_stands_in_for_its_flag_and_the_flag_wins() {
    let default = notes_server(&["--print-manifest"], &[]);
    assert_eq!(consecutive_failures(&default), 5);
    let variable = notes_server(&["--print-manifest"], &[("NOTES_BREAKER_FAILURES", "7")]);
    assert_eq!(consecutive_failures(&variable), 7);
    let flag = notes_server(
        &["--print-manifest", "--breaker-failures", "3"],
        &[("NOTES_BREAKER_FAILURES", "7")],
    );
    assert_eq!(consecutive_failures(&flag), 3);
    // A bad variable is not even read when its flag is given.
    let flag = notes_server(
        &["--print-manifest", "--breaker-failures=3"],
        &[("NOTES_BREAKER_FAILURES", "many")],
    );
    assert_eq!(consecutive_failures(&flag), 3);
}

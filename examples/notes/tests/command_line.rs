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

/// A Cedar policy file that does not check against the tools stops the server before it
/// serves, naming the file, the line and the problem; the file as shipped is accepted, and
/// the manifest names `delete_note`'s Cedar action and the set's digest.
#[test]
fn a_cedar_policy_file_is_checked_against_the_tools_at_startup() {
    let dir = std::env::temp_dir().join(format!("notes-cedar-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/notes.cedar");
    let cases = [
        (
            "permit(principal, action == Action::\"delete_notes\", resource);",
            "line 1, column 29",
            "unrecognized action `Action::\"delete_notes\"`",
        ),
        (
            "permit(principal, action == Action::\"delete_note\", resource is Note)\n  \
             when { resource.owner == principal.subject };",
            "line 2",
            "attribute `owner`",
        ),
        (
            "permit(principal, action == Action::\"delete_note\", resource)\n  \
             when { principal.subject > 3 };",
            "line 2",
            "unexpected type",
        ),
        ("// nothing here", "permit nothing", ""),
    ];
    for (i, (policy, at, what)) in cases.into_iter().enumerate() {
        let file = dir.join(format!("bad-{i}.cedar"));
        std::fs::write(&file, policy).unwrap();
        let file = file.to_str().unwrap();
        for (args, env) in [
            (vec!["--print-manifest", "--cedar-policies", file], vec![]),
            (
                vec!["--print-manifest"],
                vec![("NOTES_CEDAR_POLICIES", file)],
            ),
        ] {
            let output = notes_server(&args, &env);
            let stderr = text(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{policy}: {stderr}");
            assert!(output.stdout.is_empty(), "{policy}: a manifest was printed");
            assert!(stderr.contains(file), "{policy}: {stderr}");
            assert!(stderr.contains(at), "{policy}: {stderr}");
            assert!(stderr.contains(what), "{policy}: {stderr}");
        }
    }
    let output = notes_server(
        &[
            "--print-manifest",
            "--cedar-policies",
            shipped.to_str().unwrap(),
        ],
        &[],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let manifest: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        manifest["cedar_policies"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{manifest}"
    );
    let delete = manifest["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tool| tool["name"] == "delete_note")
        .unwrap();
    assert_eq!(delete["authz"]["cedar_action"], "Action::\"delete_note\"");
    assert_eq!(
        delete["authz"]["policy"],
        "cedar (resource: Note from `id`)"
    );

    // Cedar and the policy service both deciding delete_note: refused.
    let output = notes_server(
        &[
            "--print-manifest",
            "--cedar-policies",
            shipped.to_str().unwrap(),
            "--policy-url",
            "http://127.0.0.1:8181/notes",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("both decide delete_note"),
        "{}",
        text(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

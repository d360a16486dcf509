//! The tool manifest of the example server is pinned: `notes-server --print-manifest`
//! must print `fixtures/notes-server.manifest.json` byte for byte. A change of a tool's
//! schema, policy, mode, breaker, deadline or argument limits shows up here as a diff to review.
//!
//! To accept a change, regenerate the file and review its diff:
//!
//! ```text
//! UPDATE_MANIFEST=1 cargo nextest run -p secure-tool-tests --test manifest
//! ```

use std::fmt::Write as _;
use std::path::Path;

use secure_tool_tests::support::notes_bin;
use serde_json::Value;

const FIXTURE: &str = "fixtures/notes-server.manifest.json";
const REGENERATE: &str = "UPDATE_MANIFEST=1 cargo nextest run -p secure-tool-tests --test manifest";

/// Runs `notes-server --print-manifest` in an empty directory, which it leaves empty.
fn print_manifest() -> String {
    let binary = notes_bin::notes_server();
    let dir = notes_bin::empty_dir("manifest");
    let output = notes_bin::command(&binary, dir.path())
        .arg("--print-manifest")
        .output()
        .expect("cannot run notes-server");
    assert!(
        output.status.success(),
        "notes-server --print-manifest failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(
        created.is_empty(),
        "--print-manifest touches no database, yet created {created:?}"
    );
    String::from_utf8(output.stdout).expect("the manifest is UTF-8")
}

#[test]
fn the_printed_manifest_matches_the_committed_one() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let printed = print_manifest();
    if std::env::var_os("UPDATE_MANIFEST").is_some_and(|v| v == "1") {
        std::fs::write(&fixture, &printed)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", fixture.display()));
        eprintln!("wrote {}: review its diff", fixture.display());
        return;
    }
    let committed = std::fs::read_to_string(&fixture).unwrap_or_else(|error| {
        panic!(
            "cannot read {} ({error}); create it with:\n  {REGENERATE}",
            fixture.display()
        )
    });
    if printed != committed {
        panic!(
            "notes-server --print-manifest differs from {FIXTURE} \
             (- committed, + printed):\n{}\nIf the change is intended, regenerate the file \
             and review its diff:\n  {REGENERATE}",
            diff(&committed, &printed)
        );
    }
}

#[test]
fn the_manifest_states_every_tool_and_its_posture() {
    let manifest: Value = serde_json::from_str(&print_manifest()).expect("the manifest is JSON");
    assert_eq!(manifest["format"], "secure-tool-manifest/7");
    assert_eq!(manifest["write_degradation"], true);
    let tools = manifest["tools"].as_array().expect("a list of tools");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "tools are sorted by name");
    let tool = |name: &str| {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} is in the manifest: {names:?}"))
    };
    let resources = manifest["resources"]
        .as_array()
        .expect("a list of resources");
    let note = &resources[0];
    assert_eq!(
        (&note["name"], &note["uri"], &note["template"]),
        (
            &Value::from("note"),
            &Value::from("notes://{id}"),
            &Value::from(true)
        )
    );
    assert_eq!(note["authz"]["policy"], "scopes: notes:read");
    assert_eq!(note["breaker"]["name"], "notes-store-reads");
    assert_eq!(note["mime_type"], "text/markdown");
    assert_eq!(manifest["unguarded_surfaces"], Value::Array(Vec::new()));
    let create = tool("create_note");
    assert_eq!(create["mode"], "write");
    assert_eq!(create["authz"]["policy"], "scopes: notes:write");
    assert_eq!(create["breaker"]["name"], "notes-store-writes");
    assert_eq!(create["deadline_ms"], 10_000);
    assert_eq!(create["annotations"]["readOnlyHint"], false);
    // Every tool is bounded, whether or not its schema says so.
    for tool in tools {
        assert_eq!(
            tool["argument_limits"]["max_bytes"], 262_144,
            "{}",
            tool["name"]
        );
    }
    assert_eq!(
        tool("delete_note")["authz"]["roles"],
        serde_json::json!(["admin"])
    );
    assert_eq!(tool("server_info")["authz"]["public"], true);
    assert_eq!(tool("list_notes")["breaker"]["name"], "notes-store-reads");
    // Which tools ask the user first, and what.
    assert_eq!(
        tool("delete_note")["confirm"],
        "Delete note {id}? It cannot be undone."
    );
    assert_eq!(tool("create_note")["confirm"], serde_json::Value::Null);
    assert_eq!(tool("notes_overview")["mode"], "read");
}

#[test]
fn help_documents_the_flag() {
    let binary = notes_bin::notes_server();
    let dir = notes_bin::empty_dir("help");
    let output = notes_bin::command(&binary, dir.path())
        .arg("--help")
        .output()
        .expect("cannot run notes-server");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in ["--print-manifest", "--database-url", "DATABASE_URL"] {
        assert!(help.contains(flag), "--help mentions {flag}:\n{help}");
    }
}

/// A line diff of `old` and `new` (longest common subsequence), with three lines of
/// context around each change, in the style of `diff -u`.
fn diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut lines = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', i, a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            lines.push(('-', i, a[i]));
            i += 1;
        } else {
            lines.push(('+', i, b[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = (0..lines.len()).filter(|&k| lines[k].0 != ' ').collect();
    let mut out = String::new();
    let mut last_shown = None;
    for (k, &(sign, line_no, text)) in lines.iter().enumerate() {
        let near = changed.iter().any(|&c| c.abs_diff(k) <= CONTEXT);
        if !near {
            continue;
        }
        if last_shown.is_none_or(|last: usize| last + 1 != k) {
            let _ = writeln!(out, "@@ line {} @@", line_no + 1);
        }
        let _ = writeln!(out, "{sign}{text}");
        last_shown = Some(k);
    }
    out
}

#[test]
fn the_diff_shows_changed_lines_with_context() {
    let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
    let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\n";
    let shown = diff(old, new);
    assert!(shown.contains("-e\n+E\n"), "{shown}");
    assert!(shown.contains("+i\n"), "{shown}");
    assert!(!shown.contains(" a\n"), "context is three lines: {shown}");
    assert!(diff(old, old).is_empty());
}

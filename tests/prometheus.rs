//! The example's `/metrics`, scraped by a real Prometheus (Debian's `prometheus`, started
//! here on loopback with a one-second scrape) after a run of the official Python SDK that
//! exercised every series (`e2e/metrics_run.py`), and checked by `promtool check metrics`.
//!
//! The test asks Prometheus, through its HTTP API, for every `secure_tool_*` metric name
//! it stored and for the counts of the run (ok, denied, invalid arguments, errors by
//! category, rate-limited backups, resource reads, prompt gets, completions), and asserts
//! that no series holds the caller's subject or an argument's value.
//!
//! Needs `prometheus` and `promtool` on `PATH` (`apt-get install prometheus`), Python as
//! for `python_client.rs`. Every wait is bounded; traffic stays on loopback.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secure_tool_tests::support;
use secure_tool_tests::support::notes_bin;
use serde_json::Value;

const SCRIPT: &str = "metrics_run.py";
/// The subject and the marked argument value of the script: in no series.
const SECRETS: [&str; 2] = ["metrics-writer-9d2e", "MARK-metrics-51f0"];
/// How long the script may take to make its calls, and Prometheus to have scraped them.
const BOUND: Duration = Duration::from_secs(120);

/// Every metric name the run must have stored in Prometheus.
const NAMES: [&str; 17] = [
    "secure_tool_calls_total",
    "secure_tool_errors_total",
    "secure_tool_denials_total",
    "secure_tool_rate_limited_total",
    "secure_tool_call_duration_seconds_bucket",
    "secure_tool_call_duration_seconds_sum",
    "secure_tool_call_duration_seconds_count",
    "secure_tool_concurrent_calls",
    "secure_tool_concurrent_calls_limit",
    "secure_tool_breaker_state",
    "secure_tool_breaker_transitions_total",
    "secure_tool_breaker_opens_total",
    "secure_tool_breaker_rejected_total",
    "secure_tool_bulkhead_in_use",
    "secure_tool_bulkhead_capacity",
    "secure_tool_degraded",
    "up",
];

/// A process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `GET target` (path and query) from `address` over HTTP/1.0 (no chunking), with
/// `accept` if any: the status and the body.
fn get(address: &str, target: &str, accept: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    write!(
        stream,
        "GET {target} HTTP/1.0\r\nHost: {address}\r\n{accept}\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("not a whole HTTP answer"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status code"))?;
    Ok((code, body.to_owned()))
}

/// The instant vector of a PromQL `query`, as (labels, value) pairs.
fn query(prometheus: &str, query: &str) -> Vec<(Value, f64)> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (code, body) = get(prometheus, &format!("/api/v1/query?query={encoded}"), None)
        .unwrap_or_else(|error| panic!("Prometheus does not answer {query}: {error}"));
    assert_eq!(code, 200, "{query}: {body}");
    let answer: Value = serde_json::from_str(&body).expect("Prometheus answers JSON");
    answer["data"]["result"]
        .as_array()
        .expect("a vector")
        .iter()
        .map(|sample| {
            let value = sample["value"][1].as_str().and_then(|v| v.parse().ok());
            (sample["metric"].clone(), value.expect("a sample value"))
        })
        .collect()
}

/// The value of the one series `selector` selects, if it has one.
fn value(prometheus: &str, selector: &str) -> Option<f64> {
    let found = query(prometheus, selector);
    assert!(found.len() <= 1, "{selector} selects several: {found:?}");
    found.first().map(|(_, value)| *value)
}

/// Polls `done` every 200 ms until it holds or `BOUND` passed: Prometheus scrapes on its
/// own clock and says nothing when it did.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {BOUND:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_real_prometheus_scrapes_every_series_and_no_caller_is_in_them() {
    let server = notes_bin::notes_server();
    let dir = notes_bin::empty_dir("prometheus");
    let metrics = format!("127.0.0.1:{}", free_port());
    let prometheus = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: notes\n    \
             static_configs:\n      - targets: ['{metrics}']\n"
        ),
    )
    .unwrap();
    let promtool = Command::new("promtool")
        .args(["check", "config"])
        .arg(&config)
        .output()
        .expect("promtool is on PATH (apt-get install prometheus)");
    assert!(promtool.status.success(), "{promtool:?}");

    let started = Instant::now();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address={prometheus}"))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus is on PATH (apt-get install prometheus)"),
    );

    let (mut script, lines) = support::start_python_script(
        SCRIPT,
        &[
            ("NOTES_SERVER_BIN", server.as_os_str()),
            ("NOTES_METRICS_ADDR", metrics.as_ref()),
        ],
    );
    let mut said = Vec::new();
    loop {
        match lines.recv_timeout(BOUND) {
            Ok(line) if line == "calls done" => break,
            Ok(line) => said.push(line),
            Err(_) => panic!("the script did not finish its calls: {said:#?}"),
        }
    }
    let calls_done = started.elapsed();

    // What Prometheus scrapes, in Prometheus' text format: well-formed per promtool, and
    // nothing of the caller's in it.
    let (code, text) = get(&metrics, "/metrics", None).expect("the metrics endpoint answers");
    assert_eq!(code, 200);
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} in the metrics:\n{text}");
    }
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let (code, openmetrics) = get(
        &metrics,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
    )
    .unwrap();
    assert_eq!(code, 200);
    assert!(
        openmetrics.ends_with("# EOF\n"),
        "OpenMetrics when asked for"
    );

    // Prometheus has scraped the run once the rate-limited backup is in its store.
    let limited = r#"secure_tool_rate_limited_total{name="backup_notes",limit="tool"}"#;
    eventually("Prometheus scraped the run", || {
        value(&prometheus, limited) == Some(1.0)
    });
    let scraped = started.elapsed();

    let stored: BTreeSet<String> = query(&prometheus, r#"count by (__name__) ({job="notes"})"#)
        .into_iter()
        .filter_map(|(labels, _)| labels["__name__"].as_str().map(str::to_owned))
        .collect();
    let missing: Vec<_> = NAMES.iter().filter(|n| !stored.contains(**n)).collect();
    assert!(
        missing.is_empty(),
        "not in Prometheus: {missing:?} (stored: {stored:?})"
    );

    let calls = |name: &str, outcome: &str| {
        value(
            &prometheus,
            &format!(r#"sum(secure_tool_calls_total{{name="{name}",outcome{outcome}}})"#),
        )
    };
    let expected = [
        (("list_notes", r#"="ok""#), 1.0),
        (("create_note", r#"="ok""#), 1.0),
        (("get_note", r#"="error""#), 1.0),
        (("get_note", r#"="invalid_arguments""#), 1.0),
        (("delete_note", r#"="denied""#), 1.0),
        // Run, whether the backup worked or not (no backup directory here).
        (("backup_notes", r#"!="rate_limited""#), 6.0),
        (("backup_notes", r#"="rate_limited""#), 1.0),
        (("summarise_notes", r#"="ok""#), 1.0),
    ];
    for ((name, outcome), count) in expected {
        assert_eq!(calls(name, outcome), Some(count), "{name} outcome{outcome}");
    }
    let surfaces = query(
        &prometheus,
        r#"sum by (surface, outcome) (secure_tool_calls_total{surface!="tool"}) > 0"#,
    );
    let surfaces: BTreeSet<(String, String, u64)> = surfaces
        .into_iter()
        .map(|(labels, value)| {
            (
                labels["surface"].as_str().unwrap().to_owned(),
                labels["outcome"].as_str().unwrap().to_owned(),
                value as u64,
            )
        })
        .collect();
    let expected_surfaces: BTreeSet<(String, String, u64)> = [
        ("completion", "ok", 1),
        ("prompt", "ok", 1),
        ("resource", "ok", 1),
        ("resource", "error", 1),
    ]
    .into_iter()
    .map(|(s, o, n)| (s.to_owned(), o.to_owned(), n))
    .collect();
    assert_eq!(surfaces, expected_surfaces);
    assert_eq!(
        value(
            &prometheus,
            r#"secure_tool_errors_total{name="get_note",category="not_found"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &prometheus,
            r#"sum(secure_tool_denials_total{name="delete_note"})"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &prometheus,
            r#"secure_tool_breaker_state{breaker="notes-store-reads",state="closed"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &prometheus,
            r#"sum(secure_tool_call_duration_seconds_count{surface="tool"})"#
        ),
        Some(12.0),
        "every tool call is timed"
    );
    // No label value anywhere holds the caller or an argument.
    let everything = query(&prometheus, r#"{job="notes"}"#);
    for (labels, _) in &everything {
        let labels = labels.to_string();
        for secret in SECRETS {
            assert!(!labels.contains(secret), "{secret} in {labels}");
        }
    }

    let total = value(&prometheus, r#"sum(secure_tool_calls_total)"#).unwrap_or_default();
    let _ = script.stdin.take().unwrap().write_all(b"done\n");
    let status = script.wait().unwrap();
    assert!(status.success(), "the script failed ({status}): {said:#?}");
    eprintln!(
        "prometheus: {} series of {} metric names stored, {} calls made by the SDK in {:.1} s, \
         scraped {:.1} s later; promtool check metrics passed ({} lines)",
        everything.len(),
        stored.len(),
        total,
        calls_done.as_secs_f64(),
        (scraped - calls_done).as_secs_f64(),
        text.lines().count()
    );
}

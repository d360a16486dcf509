//! Exhaustion: the bounds of issue 13, proven on the real `notes-server --http` (SQLite,
//! loopback, OAuth) with the official MCP Python SDK (`e2e/exhaustion.py`):
//!
//! 1. 1,000 MCP sessions opened and closed;
//! 2. 100 `initialize` requests of 3 MiB each (a valid token, no scope needed);
//! 3. 200 half-open connections;
//! 4. 64 concurrent calls of the largest size allowed (`create_note` with the longest
//!    title and body, then `list_notes` pages),
//!
//! after a warm-up that does a little of each, while a legitimate client calls
//! `list_notes` and `server_info` ten times a second. The test prints the server's
//! resident set (`/proc/PID/status`) and the log's size after each phase, and checks:
//!
//! - the resident set after each phase is back within [`memory_bound`] of its warmed-up
//!   level (10 %, but at least [`MEMORY_FLOOR`]: see there why) within [`SETTLE`] of the
//!   phase's end;
//! - the log grew by at most [`LOG_PER_CALL`] per tool call made plus [`LOG_FIXED`] for
//!   everything else: the attacks themselves write next to nothing;
//! - every legitimate call was answered, with a result, within its deadline (10 s);
//! - every attack went as planned (each session opened, each initialize answered, each
//!   half-open connection closed within the header timeout and a margin).
//!
//! It runs the debug binary, the one every other end-to-end test builds: a release build
//! would add minutes to CI for figures that only differ in scale (the assertions are on
//! growth from the warmed-up level, which does not depend on the profile). The server's
//! header read timeout is 2 s here (10 s by default), so that the half-open connections
//! phase takes seconds. The filled disk part of the issue is
//! `examples/notes/tests/disk_full.rs`.

use std::time::{Duration, Instant};

use secure_tool_tests::support::http_server::Server;
use secure_tool_tests::support::json_script::JsonScript;

/// The longest a phase may take.
const PHASE: Duration = Duration::from_secs(120);
/// How much above its warmed-up resident set the server may stay after a phase, at
/// least: 10 % of a resident set of ~50 MiB is 5 MiB, close to what glibc's allocator
/// keeps from one burst of concurrent requests to the next (up to +3 MiB a phase in
/// runs on a loaded machine, the largest calls handling 64 × 64 KiB at once on several
/// threads). 16 MiB is still far below what the leaks of issue 13 cost (+673 MiB for 12
/// sessions).
const MEMORY_FLOOR: u64 = 16 * 1024 * 1024;
/// The log's allowance per tool call: one audit line (~400 bytes) and room to spare.
const LOG_PER_CALL: u64 = 1024;
/// The log's allowance for everything else: start-up, the warnings about connections
/// over the cap or refused lines, each bounded.
const LOG_FIXED: u64 = 64 * 1024;

/// How long after a phase the server may take to give its memory back: the sessions it
/// remembers for `notifications/tools/list_changed` are forgotten within a second of
/// closing (the watcher's period), with what their clients sent.
const SETTLE: Duration = Duration::from_secs(3);

fn memory_bound(warm: u64) -> u64 {
    (warm / 10).max(MEMORY_FLOOR)
}

/// The server's resident set now, and its peak so far, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|error| panic!("cannot read /proc/{pid}/status: {error}"));
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[test]
fn the_server_stays_bounded_under_sessions_large_requests_slow_clients_and_large_calls() {
    let mut server = Server::start(
        "exhaustion",
        &[
            // The example's default filter, not the tests' `info`.
            ("NOTES_LOG", "info,rmcp=warn"),
            ("NOTES_HTTP_HEADER_TIMEOUT_MS", "2000"),
            // glibc gives each thread that allocates concurrently an arena of its own (up
            // to 8 per core) and keeps their free memory: the store's blocking threads,
            // 64 at once in the largest-calls phase, would each keep one, which is
            // retention, not growth. Two arenas, as SECURITY.md advises for deployment,
            // make what the server holds after a burst what it needs.
            ("MALLOC_ARENA_MAX", "2"),
            // glibc also raises its mmap threshold to the size of each large block freed
            // (up to 32 MiB): after the 3 MiB `initialize` bodies, every later buffer up
            // to that size comes from the arenas and stays resident as holes once freed,
            // +12 to +17 MiB after the largest calls in runs that then failed. A fixed
            // threshold (glibc's default, 128 KiB) gives large buffers back on free; with
            // it the largest calls leave +1 to +3 MiB. SECURITY.md advises both.
            ("MALLOC_MMAP_THRESHOLD_", "131072"),
        ],
    );
    let pid = server.child.id();
    let started = Instant::now();
    let mut script = JsonScript::start(
        "exhaustion",
        "exhaustion.py",
        &server,
        &[("EXHAUSTION_SLOW_CLOSE_SECONDS", "10")],
    );

    let mut warm = None;
    let mut rows = Vec::new();
    let phases = [
        "warm-up",
        "sessions",
        "large-initialize",
        "slow-connections",
        "largest-calls",
    ];
    let mut failed = None;
    for name in phases {
        let line = script.next(PHASE, name);
        assert_eq!(line["phase"], name, "the script said {line}");
        if let Some(failure) = line.get("failed") {
            failed = Some(format!("{name}: {failure}"));
            break;
        }
        let settled = Instant::now();
        let (mut resident, mut peak) = memory(pid);
        // After the warm-up, the server has SETTLE to come back within its bound; the
        // resident set is read every 50 ms until it does or the time is up.
        if let Some((warm_resident, _)) = warm {
            while resident > warm_resident + memory_bound(warm_resident)
                && settled.elapsed() < SETTLE
            {
                std::thread::park_timeout(Duration::from_millis(50));
                (resident, peak) = memory(pid);
            }
        }
        let log = server.log().len() as u64;
        println!(
            "{name}: {line}; server resident {} ({:.1?} after the phase), peak {}, log {log} bytes",
            mib(resident),
            settled.elapsed(),
            mib(peak)
        );
        match warm {
            None => warm = Some((resident, log)),
            Some(_) => rows.push((name, resident, log)),
        }
        script.go_on();
    }
    let legitimate = script.next(PHASE, "the legitimate client's figures");
    println!("legitimate client: {legitimate}");
    drop(script);
    let log = server.log();
    server.stop();
    if let Some(failed) = failed {
        panic!("an attack did not go as planned: {failed}\n{legitimate}");
    }

    // Every legitimate call answered, in time.
    let legitimate = &legitimate["legitimate"];
    let calls = legitimate["calls"].as_u64().expect("a count of calls");
    assert!(calls > 0, "the legitimate client made no call");
    assert_eq!(
        legitimate["failed"], 0,
        "legitimate calls failed or were late: {legitimate}"
    );

    // Memory back within its bound after each phase.
    let (warm_resident, warm_log) = warm.expect("the warm-up ran");
    let bound = memory_bound(warm_resident);
    let over: Vec<String> = rows
        .iter()
        .filter(|(_, resident, _)| *resident > warm_resident + bound)
        .map(|(name, resident, _)| format!("{name}: {}", mib(*resident)))
        .collect();

    // The log's growth: the tool calls made during the phases (the legitimate client's,
    // and 2 × 64 largest calls) and a fixed allowance.
    let growth = log.len() as u64 - warm_log;
    let tool_calls = calls + 2 * 64;
    let log_bound = tool_calls * LOG_PER_CALL + LOG_FIXED;
    println!(
        "exhaustion: {:.0?} in all; warmed up {}, bound {} above it; after each phase: {}; \
         log grew by {growth} bytes over the phases (bound {log_bound}: {tool_calls} tool \
         calls); {calls} legitimate calls, slowest {} s, 0 failed",
        started.elapsed(),
        mib(warm_resident),
        mib(bound),
        rows.iter()
            .map(|(name, resident, _)| format!("{name} {}", mib(*resident)))
            .collect::<Vec<_>>()
            .join(", "),
        legitimate["slowest_seconds"]
    );
    assert!(
        over.is_empty(),
        "the server's resident set did not come back within {} of its warmed-up {}: {over:?}",
        mib(bound),
        mib(warm_resident)
    );
    assert!(
        growth <= log_bound,
        "the log grew by {growth} bytes, more than {log_bound}"
    );
}

//! Load with faults: the real `notes-server` on a real PostgreSQL, over streamable HTTP
//! with OAuth, under many concurrent calls from the official MCP Python SDK
//! (`e2e/load_with_faults.py`: 4 sessions × (2 writers + 2 readers), each calling one
//! tool after another), while this test breaks the database and restores it, twice over:
//!
//! 1. writes refused (`default_transaction_read_only`, reloaded), then accepted again;
//! 2. the server hung (`SIGSTOP` to the postmaster and every backend), then `SIGCONT`;
//! 3. the server killed (`SIGKILL` to all its processes), then started again, recovering
//!    from its write-ahead log.
//!
//! Each phase lasts until the answers show what it is there to show (writes degraded while
//! reads go on, writes back after the repair...), bounded by [`PHASE`]; nothing waits by
//! sleeping. Then it checks:
//!
//! - every call was answered, within its deadline (the tools' `timeout = "10s"`), with a
//!   result or one of the answers the server gives a failing dependency (`degraded`,
//!   `unavailable`, `timeout`, `overloaded`): no transport or JSON-RPC error, no internal
//!   error;
//! - 0 acknowledged writes lost: every note whose `create_note` was answered with a result
//!   is in the store afterwards (read with `psql`), with its title; and reads of acknowledged notes
//!   never missed one nor read another title;
//! - the server's memory stays bounded: its resident set after the second round of faults
//!   is within [`RSS_GROWTH`] of the first's, and its peak within [`RSS_PEAK`] of its
//!   size warmed up;
//! - the database's password never reached the server's log.
//!
//! Commits are made durable against a killed server (`synchronous_commit = on`): an
//! acknowledged write is one PostgreSQL has written to its log. The test prints one line
//! per phase (calls, outcomes, latencies, the server's resident set) and a summary.
//!
//! Needs PostgreSQL (as `postgres.rs`) and what `python_client.rs` needs; without
//! PostgreSQL it prints `SKIP: ...` and passes, except under `CI`.

use std::time::Duration;

use secure_tool_tests::support::http_server::{Server, Store};
use secure_tool_tests::support::load::{Load, Record, Tally, Writes, assert_none_wrong};
use secure_tool_tests::support::pg::Cluster;

/// The password in the connection string: it must never reach a log or a client.
const PASSWORD: &str = "pg-load-s3cret";
/// The longest a phase may take to see what it waits for.
const PHASE: Duration = Duration::from_secs(90);
/// The deadline of every tool the load calls (`timeout = "10s"` in the example).
const DEADLINE: Duration = Duration::from_secs(10);
/// How much the server's resident set may grow from the first round of faults to the
/// second: more would be memory kept per call or per fault.
const RSS_GROWTH: u64 = 8 * 1024 * 1024;
/// How far above its warmed-up resident set the server's peak may go.
const RSS_PEAK: u64 = 32 * 1024 * 1024;
/// The answers a server with a failing dependency gives, besides results.
const FAULT_ANSWERS: [&str; 4] = ["degraded", "unavailable", "timeout", "overloaded"];

/// The server's resilience settings: short, so that a fault and its recovery take
/// seconds (as in `examples/notes/tests/postgres_faults.rs`).
const SETTINGS: [(&str, &str); 7] = [
    ("NOTES_BREAKER_FAILURES", "2"),
    ("NOTES_BREAKER_OPEN_MS", "400"),
    ("NOTES_BREAKER_MAX_OPEN_MS", "800"),
    ("NOTES_PROBE_INTERVAL_MS", "50"),
    ("NOTES_PROBE_TIMEOUT_MS", "1000"),
    ("NOTES_CONNECT_TIMEOUT_MS", "500"),
    ("NOTES_STATEMENT_TIMEOUT_MS", "500"),
];

#[test]
fn concurrent_calls_survive_a_killed_hung_and_read_only_database_with_no_write_lost() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    cluster.durable_commits();
    let mut server = Server::start_on(
        "load",
        Store::Postgres(cluster.url("postgres", PASSWORD)),
        &SETTINGS,
    );
    let pid = server.child.id();
    let mut load = Load::start(&server, &[], PHASE);

    load.phase("healthy");
    load.until("writes and reads succeed", |t| {
        t.ok_writes >= 200 && t.ok_reads >= 200
    });
    let warm = Memory::of(pid);
    note_memory(&load, warm);
    let mut after_round = Vec::new();

    for round in 1..=2 {
        for fault in [Fault::RefuseWrites, Fault::Hang, Fault::Kill] {
            load.phase(&format!("{round}: {}", fault.name()));
            fault.inject(&mut cluster);
            load.until(fault.expectation(), |t| fault.seen_enough(t));
            note_memory(&load, Memory::of(pid));
            fault.repair(&mut cluster);
            load.phase(&format!("{round}: {}", fault.repaired()));
            load.until("writes and reads come back", |t| {
                t.ok_writes >= 50 && t.ok_reads >= 50
            });
            note_memory(&load, Memory::of(pid));
        }
        after_round.push(Memory::of(pid));
    }

    let reconnected = load.sessions_lost();
    assert!(reconnected.is_empty(), "sessions lost: {reconnected:?}");
    let records = load.finish();
    let peak = Memory::of(pid).peak;
    server.stop();

    // Every call answered in time, with an answer the server should give.
    let wrong: Vec<&Record> = records
        .iter()
        .filter(|record| {
            record.detail.is_some()
                || (record.outcome != "ok" && !FAULT_ANSWERS.contains(&record.outcome.as_str()))
        })
        .collect();
    assert_none_wrong(&wrong);
    let slowest = records
        .iter()
        .max_by(|a, b| a.ms.total_cmp(&b.ms))
        .expect("the load made calls");
    assert!(
        slowest.ms <= DEADLINE.as_secs_f64() * 1000.0,
        "a call took longer than its deadline of {DEADLINE:?}: {slowest:?}"
    );

    // 0 acknowledged writes lost.
    let writes = Writes::check(&records, &cluster);
    let refused_writes: Vec<&str> = records
        .iter()
        .filter(|record| record.tool == "create_note" && record.outcome != "ok")
        .filter_map(|record| record.title.as_deref())
        .collect();
    let stored_titles: std::collections::HashSet<&str> =
        writes.stored.values().map(String::as_str).collect();
    let landed_unacknowledged = refused_writes
        .iter()
        .filter(|title| stored_titles.contains(*title))
        .count();
    println!(
        "writes: {} acknowledged, {} lost ({} notes in the store; {} of {} writes answered \
         with an error landed anyway, as a lost answer may)",
        writes.acknowledged.len(),
        writes.lost.len(),
        writes.stored.len(),
        landed_unacknowledged,
        refused_writes.len()
    );
    writes.assert_none_lost();

    // Memory stays bounded.
    let (first, second) = (after_round[0], after_round[1]);
    println!(
        "server memory: {} MiB warmed up, {} MiB after round 1, {} MiB after round 2, \
         peak {} MiB",
        mib(warm.resident),
        mib(first.resident),
        mib(second.resident),
        mib(peak)
    );
    assert!(
        second.resident <= first.resident + RSS_GROWTH,
        "the server's resident set grew from {} MiB to {} MiB over a second round of faults",
        mib(first.resident),
        mib(second.resident)
    );
    assert!(
        peak <= warm.resident + RSS_PEAK,
        "the server's peak resident set ({} MiB) is more than {} MiB above its warmed-up \
         size ({} MiB)",
        mib(peak),
        mib(RSS_PEAK),
        mib(warm.resident)
    );

    let within = records.iter().filter(|record| record.ms <= 1000.0).count();
    println!(
        "load with faults: {} calls over {} phases, every one answered (slowest {:.0} ms, \
         deadline {DEADLINE:?}; {:.1} % within 1 s), 0 transport errors, 0 internal errors, \
         0 acknowledged writes lost",
        records.len(),
        records
            .iter()
            .map(|record| record.phase)
            .max()
            .map_or(0, |last| last + 1),
        slowest.ms,
        100.0 * within as f64 / records.len() as f64,
    );
    let log = server.log();
    assert!(!log.contains(PASSWORD), "the password reached the log");
}

/// What the test does to the database, and undoes.
#[derive(Clone, Copy)]
enum Fault {
    /// Every transaction read-only (`default_transaction_read_only`, reloaded).
    RefuseWrites,
    /// `SIGSTOP` to the postmaster and every backend.
    Hang,
    /// `SIGKILL` to the postmaster and every backend.
    Kill,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::RefuseWrites => "writes refused",
            Fault::Hang => "hung (SIGSTOP)",
            Fault::Kill => "killed (SIGKILL)",
        }
    }

    fn repaired(self) -> &'static str {
        match self {
            Fault::RefuseWrites => "writes accepted",
            Fault::Hang => "resumed (SIGCONT)",
            Fault::Kill => "restarted",
        }
    }

    fn inject(self, cluster: &mut Cluster) {
        match self {
            Fault::RefuseWrites => cluster.refuse_writes(),
            Fault::Hang => cluster.suspend(),
            Fault::Kill => cluster.kill(),
        }
    }

    fn repair(self, cluster: &mut Cluster) {
        match self {
            Fault::RefuseWrites => cluster.accept_writes(),
            Fault::Hang => cluster.resume(),
            Fault::Kill => cluster.restart(),
        }
    }

    /// What the phase of this fault waits to see.
    fn expectation(self) -> &'static str {
        match self {
            Fault::RefuseWrites => "writes degrade while reads go on",
            Fault::Hang | Fault::Kill => "writes degrade and calls are answered",
        }
    }

    fn seen_enough(self, tally: &Tally) -> bool {
        match self {
            // Reads of the data go on: the database still serves them.
            Fault::RefuseWrites => tally.degraded >= 20 && tally.ok_reads_while_degraded >= 100,
            // Nothing can be read either: reads are answered, quickly, with errors.
            Fault::Hang | Fault::Kill => tally.degraded >= 20 && tally.calls >= 200,
        }
    }
}

/// The server's resident set now, and its peak so far, in bytes (`/proc/PID/status`).
#[derive(Clone, Copy)]
struct Memory {
    resident: u64,
    peak: u64,
}

impl Memory {
    fn of(pid: u32) -> Memory {
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
        Memory {
            resident: field("VmRSS:"),
            peak: field("VmHWM:"),
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// Prints the current phase, with the server's memory at its end.
fn note_memory(load: &Load, memory: Memory) {
    load.print_phase(&format!("; server RSS {} MiB", mib(memory.resident)));
}

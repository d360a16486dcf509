//! Replicas behind a real load balancer: three `notes-server` processes (the release
//! binary) over streamable HTTP with OAuth, on one PostgreSQL, behind HAProxy (Debian's `haproxy`, started here on
//! loopback), under the load of the official MCP Python SDK (`e2e/load_with_faults.py`: 4
//! sessions × (2 writers + 2 readers) calling without pause).
//!
//! HAProxy balances requests round-robin, checks each replica's `/readyz` on its
//! operations listener every 500 ms, retries a request whose connection a dead replica
//! refused on another one (`retry-on conn-failure`, `option redispatch`: nothing reached
//! the dead replica, so nothing runs twice), and keeps a 2025-11-25 session on the replica
//! that created it (a stick table on `Mcp-Session-Id`). The test:
//!
//! 1. runs the load (2026-07-28, stateless: any replica answers any request) until 150
//!    writes and 150 reads succeeded, and checks that every replica served calls (each
//!    one's `/metrics`);
//! 2. `SIGKILL`s replica 2 mid-run and takes 150 more writes and reads: the calls that were
//!    in flight on it fail (writes unacknowledged; reads retried once by the client, as a
//!    host may retry a read-only tool; a session whose connection broke is connected
//!    again, at most once each), every later call is answered by a survivor, and
//!    the survivors' p99 stays within [`P99_FACTOR`] of the p99 before the kill (plus
//!    [`P99_SLACK`]);
//! 3. restarts replica 2 on the same ports: HAProxy's check finds it ready and it serves
//!    calls again (its `/metrics` counts them);
//! 4. stops the load: 0 acknowledged writes lost (every note `create_note` acknowledged is
//!    in the database, read with `psql`), every answer that is not a failure in transit is
//!    `ok`, and reads of acknowledged notes read back their titles;
//! 5. runs the load again as 2025-11-25 sessions (`LOAD_MODE=legacy`): with the balancer's
//!    affinity every call of every session is answered (without it, two calls in three
//!    would reach a replica that does not know the session and get `404`).
//!
//! Breakers, health and rate limits stay per replica: each replica's breaker sees its own
//! connections' failures and its health monitor its own probes, which is what decides
//! whether *that* process can serve; a replica whose pool is broken goes not ready alone.
//!
//! Needs PostgreSQL (as `postgres.rs`), `haproxy` on `PATH` (`apt-get install haproxy`),
//! and what `python_client.rs` needs; without PostgreSQL or HAProxy it prints `SKIP: ...`
//! and passes, except under `CI`. Every wait is bounded; traffic stays on loopback.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secure_tool_tests::support;
use secure_tool_tests::support::http_server::{self, Server, Store};
use secure_tool_tests::support::load::{Load, Record, Writes, assert_none_wrong};
use secure_tool_tests::support::notes_bin;
use secure_tool_tests::support::pg::Cluster;

/// The password in the connection string.
const PASSWORD: &str = "pg-replicas-s3cret";
/// The longest a phase may take to see what it waits for.
const PHASE: Duration = Duration::from_secs(90);
/// How many replicas serve the service.
const REPLICAS: usize = 3;
/// The replica the test kills and restarts.
const VICTIM: usize = 1;
/// How far the survivors' p99 may rise over the p99 of three replicas: two processes take
/// the third's share of the load on a 2-core machine that also runs the load and the
/// database.
const P99_FACTOR: f64 = 3.0;
/// And in milliseconds, besides: a p99 of a few milliseconds may double by noise alone.
const P99_SLACK: f64 = 100.0;
/// The workers whose calls may be in flight on the killed replica: at most one failed
/// call each.
const WORKERS: usize = 16;
/// The load's sessions: each may lose its connection to the kill once, and reconnect.
const SESSIONS: usize = 4;

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// HAProxy's binary: on `PATH`, else where Debian puts it (`/usr/sbin`, not on every
/// user's `PATH`).
fn haproxy() -> Command {
    let on_path = Command::new("haproxy").arg("-v").output().is_ok();
    Command::new(if on_path {
        "haproxy"
    } else {
        "/usr/sbin/haproxy"
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Where one replica listens: its MCP endpoint and its operations listener.
struct Ports {
    http: String,
    operations: String,
}

/// The HAProxy configuration: `front` balanced over `replicas`.
fn haproxy_config(front: &str, replicas: &[Ports]) -> String {
    let mut config = format!(
        "global\n    maxconn 512\n    log stderr format raw local0\n\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 60s\n    \
         timeout server 60s\n    timeout check 1s\n    retries 3\n    option redispatch 1\n    \
         retry-on conn-failure\n\n\
         frontend mcp\n    bind {front}\n    default_backend replicas\n\n\
         backend replicas\n    balance roundrobin\n    option httpchk GET /readyz\n    \
         http-check expect status 200\n    default-server inter 500ms fall 1 rise 1\n    \
         stick-table type string len 64 size 100k expire 30m\n    \
         stick on req.hdr(mcp-session-id)\n    stick store-response res.hdr(mcp-session-id)\n"
    );
    for (i, ports) in replicas.iter().enumerate() {
        let (host, port) = ports.operations.split_once(':').expect("host:port");
        debug_assert_eq!(host, "127.0.0.1");
        config.push_str(&format!(
            "    server r{} {} check port {port}\n",
            i + 1,
            ports.http
        ));
    }
    config
}

/// The sum of `secure_tool_calls_total` on a replica's `/metrics`: the calls it served.
fn calls_served(operations: &str) -> Option<f64> {
    let mut stream = TcpStream::connect(operations).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.0\r\nHost: {operations}\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(
        answer
            .lines()
            .filter(|line| line.starts_with("secure_tool_calls_total{"))
            .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum(),
    )
}

fn is_failure_in_transit(record: &Record) -> bool {
    matches!(record.outcome.as_str(), "transport_error" | "jsonrpc_error")
}

#[test]
fn replicas_behind_haproxy_lose_no_acknowledged_write_when_one_is_killed() {
    if haproxy().arg("-v").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "haproxy is not on PATH (apt-get install haproxy)"
        );
        println!("SKIP: haproxy is not on PATH (apt-get install haproxy)");
        return;
    }
    let Some(cluster) = Cluster::start() else {
        return;
    };
    cluster.durable_commits();
    let database = cluster.url("postgres", PASSWORD);
    let ports: Vec<Ports> = (0..REPLICAS)
        .map(|_| Ports {
            http: format!("127.0.0.1:{}", free_port()),
            operations: format!("127.0.0.1:{}", free_port()),
        })
        .collect();
    let front = format!("127.0.0.1:{}", free_port());
    let public = format!("http://{front}/mcp");
    let start = |i: usize| {
        Server::start_replica(
            "replicas",
            Store::Postgres(database.clone()),
            &ports[i].http,
            &public,
            &[
                ("NOTES_METRICS_ADDR", &ports[i].operations),
                ("NOTES_LOG", "warn"),
            ],
        )
    };
    // One after another: the first creates the schema.
    let mut replicas: Vec<Server> = (0..REPLICAS).map(start).collect();

    let dir = notes_bin::empty_dir("haproxy");
    let config = dir.path().join("haproxy.cfg");
    std::fs::write(&config, haproxy_config(&front, &ports)).unwrap();
    let checked = haproxy().arg("-c").arg("-f").arg(&config).output().unwrap();
    assert!(checked.status.success(), "haproxy -c: {checked:?}");
    // Kept after the test, for a failure's diagnosis: every request HAProxy handled.
    let haproxy_log = support::target_directory().join("replicas-haproxy.log");
    println!("HAProxy's log: {}", haproxy_log.display());
    let _haproxy = Killed(
        haproxy()
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&haproxy_log).unwrap())
            .spawn()
            .expect("haproxy starts"),
    );

    let mut load = Load::start(&replicas[0], &[("LOAD_RETRY_READS", "1")], PHASE);
    let load_started = Instant::now();
    load.phase("3 replicas");
    load.until("writes and reads succeed", |t| {
        t.ok_writes >= 150 && t.ok_reads >= 150
    });
    load.print_phase("");
    let before = load.tally().quantile(0.99);
    for (i, ports) in ports.iter().enumerate() {
        let served = calls_served(&ports.operations).unwrap_or_default();
        assert!(served > 0.0, "replica {} served no call", i + 1);
    }

    load.phase(&format!("replica {} killed", VICTIM + 1));
    let killed_at = Instant::now();
    replicas[VICTIM]
        .child
        .kill()
        .expect("SIGKILL to the replica");
    let _ = replicas[VICTIM].child.wait();
    load.until("the survivors answer", |t| {
        t.ok_writes >= 150 && t.ok_reads >= 150
    });
    load.print_phase("");

    load.phase(&format!("replica {} restarted", VICTIM + 1));
    // From the restart's beginning: HAProxy may find it ready (its operations listener
    // answers) before `start` has read its `listening on` line.
    let restarted_at = Instant::now();
    replicas[VICTIM] = start(VICTIM);
    let rejoined = loop {
        let seen = load.tally().calls;
        load.until("calls go on", |t| t.calls >= seen + 20);
        if calls_served(&ports[VICTIM].operations).is_some_and(|served| served > 0.0) {
            break restarted_at.elapsed();
        }
        assert!(
            restarted_at.elapsed() < PHASE,
            "the restarted replica served no call within {PHASE:?}"
        );
    };
    let seen = load.tally().ok_writes;
    load.until("writes go on", |t| t.ok_writes >= seen + 50);
    load.print_phase(&format!("; rejoined after {:.2} s", rejoined.as_secs_f64()));
    // A session whose connection the kill broke is reconnected by the client: only then,
    // at most each session once.
    let reconnected = load.sessions_lost();
    let killed_name = format!("replica {} killed", VICTIM + 1);
    assert!(
        reconnected.len() <= SESSIONS && reconnected.iter().all(|(phase, _)| *phase == killed_name),
        "sessions lost outside the kill, or more than {SESSIONS}: {reconnected:?}"
    );
    let records = load.finish();

    // Every answer is a result, except failures in transit of calls that were on the
    // killed replica: writes only (reads were retried), at most one per worker.
    let killed_phase = 1;
    let in_transit: Vec<&Record> = records
        .iter()
        .filter(|r| is_failure_in_transit(r))
        .collect();
    let wrong: Vec<&Record> = records
        .iter()
        .filter(|r| {
            !is_failure_in_transit(r) && (r.outcome != "ok" || r.detail.is_some())
                || is_failure_in_transit(r) && (r.tool != "create_note" || r.phase != killed_phase)
        })
        .collect();
    assert_none_wrong(&wrong);
    assert!(
        in_transit.len() <= WORKERS,
        "{} calls failed in transit, more than the {WORKERS} that can be in flight: {:?}",
        in_transit.len(),
        &in_transit[..in_transit.len().min(10)]
    );
    let retried = records.iter().filter(|r| r.retried.is_some()).count();

    // 0 acknowledged writes lost.
    let writes = Writes::check(&records, &cluster);
    writes.assert_none_lost();

    // The survivors keep their p99: the calls answered after the kill, failures in transit
    // aside.
    let mut after: Vec<f64> = records
        .iter()
        .filter(|r| r.phase == killed_phase && !is_failure_in_transit(r))
        .map(|r| r.ms)
        .collect();
    after.sort_by(f64::total_cmp);
    let p99_after = after[((after.len() as f64 - 1.0) * 0.99).round() as usize];
    println!(
        "replicas: {} calls through HAProxy over 3 replicas, 1 SIGKILL after {:.1} s of load; \
         {} writes acknowledged, 0 lost ({} notes stored); {} calls failed in transit (all \
         writes on the killed replica, unacknowledged), {} reads retried once, {} sessions \
         reconnected; p99 {:.1} ms \
         before the kill, {:.1} ms on the 2 survivors; the restarted replica served calls \
         {:.2} s after its restart began",
        records.len(),
        killed_at.duration_since(load_started).as_secs_f64(),
        writes.acknowledged.len(),
        writes.stored.len(),
        in_transit.len(),
        retried,
        reconnected.len(),
        before,
        p99_after,
        rejoined.as_secs_f64(),
    );
    assert!(
        p99_after <= before * P99_FACTOR + P99_SLACK,
        "the survivors' p99 ({p99_after:.1} ms) is more than {P99_FACTOR}× the p99 of three \
         replicas ({before:.1} ms) + {P99_SLACK} ms"
    );

    // 2025-11-25 sessions: each stays on its replica, and every call is answered.
    let mut sessions = Load::start(
        &replicas[0],
        &[("LOAD_MODE", "legacy"), ("LOAD_SESSIONS", "3")],
        PHASE,
    );
    sessions.phase("2025-11-25 sessions");
    sessions.until("calls of sessions succeed", |t| t.calls >= 300);
    sessions.print_phase("");
    let records = sessions.finish();
    let failed: Vec<&Record> = records
        .iter()
        .filter(|r| r.outcome != "ok" || r.detail.is_some())
        .collect();
    assert!(
        failed.is_empty(),
        "{} calls of sessions failed behind the balancer, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(10)]
    );
    println!(
        "replicas: {} calls of 3 2025-11-25 sessions through HAProxy's affinity, all answered",
        records.len()
    );
    for replica in &mut replicas {
        replica.stop();
    }

    // The manifest is a function of the binary and its configuration: the same from every
    // replica's command line, whatever its addresses (and whatever order a process's hash
    // maps choose).
    let manifests: Vec<String> = ports
        .iter()
        .map(|ports| {
            let output = notes_bin::command(&notes_bin::notes_server_release(), dir.path())
                .args([
                    "--print-manifest",
                    "--http",
                    &ports.http,
                    "--audience",
                    &public,
                ])
                .args(["--issuer", http_server::ISSUER, "--roles-claim", "roles"])
                .args(["--database-url", &database])
                .env("NOTES_METRICS_ADDR", &ports.operations)
                .output()
                .expect("notes-server --print-manifest runs");
            assert!(output.status.success(), "{output:?}");
            String::from_utf8(output.stdout).expect("a UTF-8 manifest")
        })
        .collect();
    assert!(manifests[0].contains("\"tools\""), "{}", manifests[0]);
    assert!(
        manifests.iter().all(|m| *m == manifests[0]),
        "the replicas' manifests differ"
    );
}

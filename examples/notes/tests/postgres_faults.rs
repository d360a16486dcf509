//! The notes server on a real PostgreSQL, with real faults.
//!
//! Each test starts its own disposable cluster (`secure_tool_tests::support::pg`, the
//! workspace's test support: `initdb` + `pg_ctl` from the distribution's packages, on a
//! free loopback port, removed at the end) and serves the example's tools in-process through
//! `SecureServer::call`, the guarded path of `tools/call`, with the health probes
//! running. The faults are the server's own:
//!
//! - writes refused: `default_transaction_read_only = on`, reloaded;
//! - the server hung: `SIGSTOP` to the postmaster and every backend;
//! - the server stopped: `pg_ctl stop -m fast`, then started again.
//!
//! Nothing waits by sleeping: each step waits for what it needs to see (the health
//! monitor's changes, a breaker's state, a condition polled under a deadline).
//!
//! They live with the example, whose library they link (trybuild would build it again
//! for every case of the tests package); the workspace's `tests/postgres.rs` runs the
//! real binary on PostgreSQL.
//!
//! Without PostgreSQL installed, each test prints `SKIP: ...` and passes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use notes_server::settings::Settings;
use notes_server::store::postgres::Database;
use notes_server::store::{Archive, Store};
use notes_server::tools::Notes;
use secure_tool::breaker::State;
use secure_tool::health::{HealthMonitor, ProbeTasks, Status};
use secure_tool::{Principal, SecureServer};
use secure_tool_tests::support::pg::{self, Cluster};
use serde_json::{Value, json};

/// The password in the connection string: it must never reach a log or a client.
const PASSWORD: &str = "pg-canary-s3cret";
/// How long any awaited condition may take before the test fails.
const WAIT: Duration = Duration::from_secs(15);
/// The PostgreSQL timeouts of these tests: short, so that a fault takes a second.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const STATEMENT_TIMEOUT: Duration = Duration::from_millis(500);

fn settings() -> Settings {
    Settings {
        breaker_failures: 2,
        breaker_open: Duration::from_millis(400),
        breaker_max_open: Duration::from_millis(800),
        probe_interval: Duration::from_millis(50),
        probe_timeout: Duration::from_secs(1),
        connect_timeout: CONNECT_TIMEOUT,
        statement_timeout: STATEMENT_TIMEOUT,
        ..Settings::default()
    }
}

/// Everything the server logs, to check what it says and what it never says.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    /// The process's log. The subscriber is global (the servers' tasks run on every
    /// thread of the runtime), so under `cargo test`, where the tests of this file share a
    /// process, each sees the others' lines too: every check names what is its own (its
    /// cluster's port) or holds for all of them (no secret anywhere).
    fn install() -> Self {
        static LOG: std::sync::OnceLock<Log> = std::sync::OnceLock::new();
        LOG.get_or_init(|| {
            let log = Log::default();
            let writer = log.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in this test binary");
            log
        })
        .clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Served {
    server: SecureServer<Notes>,
    monitor: HealthMonitor,
    _probes: ProbeTasks,
}

async fn serve(cluster: &Cluster, settings: Settings) -> Served {
    let database: Database = cluster.url("postgres", PASSWORD).parse().unwrap();
    let (store, heartbeat) = Store::connect(&database, settings.postgres_timeouts())
        .await
        .unwrap();
    assert_eq!(store.backend(), "postgres");
    let archive = Archive::in_memory().unwrap();
    let notes = Notes::new(store, archive, None, &settings);
    let monitor = notes.health_monitor(heartbeat, &settings);
    let probes = monitor.start();
    let server = SecureServer::builder(notes).health(monitor.clone()).build();
    Served {
        server,
        monitor,
        _probes: probes,
    }
}

/// One call's answer: its structured content, `is_error`, and how long it took.
struct Answer {
    value: Value,
    elapsed: Duration,
}

impl Answer {
    fn is_error(&self) -> bool {
        self.value["is_error"] == true
    }
}

impl Served {
    async fn call(&self, tool: &str, arguments: Value) -> Answer {
        let caller = Principal::new("ada")
            .with_scopes(["notes:read", "notes:write"])
            .with_roles(["admin"]);
        let started = Instant::now();
        let result = self
            .server
            // `delete_note` asks the user first; this test stands for the user.
            .call_confirmed(tool, arguments.as_object().cloned(), caller)
            .await
            .expect("a tool call is answered with a result, not a protocol error");
        let elapsed = started.elapsed();
        let text: String = result
            .content
            .iter()
            .filter_map(|block| block.as_text().map(|t| t.text.clone()))
            .collect();
        let mut value = result
            .structured_content
            .clone()
            .unwrap_or_else(|| json!({}));
        value["is_error"] = json!(result.is_error == Some(true));
        if let Some(error) = secure_tool::sanitize::error_facts(&result) {
            value["error"] = error.clone();
            value["degraded"] = error["degraded"].clone();
        }
        value["text"] = json!(text);
        assert_clean(&value.to_string());
        Answer { value, elapsed }
    }

    async fn until_health(&self, what: &str, reads: Status, writes: Status) {
        let mut changes = self.monitor.changes();
        tokio::time::timeout(
            WAIT,
            changes.wait_for(|health| health.reads == reads && health.writes == writes),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what}: health did not become reads {reads}, writes {writes} within {WAIT:?} \
                 (it is {:?})",
                self.monitor.health()
            )
        })
        .unwrap();
    }

    async fn until_breaker(&self, which: &str, state: State) {
        let notes = self.server.state();
        let dependency = match which {
            "reads" => notes.read_dependency(),
            _ => notes.write_dependency(),
        };
        let mut states = dependency.breaker().watch();
        tokio::time::timeout(WAIT, states.wait_for(|now| *now == state))
            .await
            .unwrap_or_else(|_| panic!("the {which} breaker did not become {state:?}"))
            .unwrap();
    }

    /// The notes' titles, through `list_notes`.
    async fn titles(&self) -> Vec<String> {
        let listed = self.call("list_notes", json!({})).await;
        assert!(!listed.is_error(), "list_notes failed: {}", listed.value);
        listed.value["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|note| note["title"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// What a client must never see: the driver's words, SQL, the server's address, the
/// password.
fn assert_clean(client_text: &str) {
    pg::assert_clean(
        client_text,
        &[
            PASSWORD,
            "read-only transaction",
            "25006",
            "INSERT",
            "SELECT",
            "127.0.0.1",
            "db error",
            "connection closed",
            "postgres",
        ],
    );
}

fn assert_unavailable(answer: &Answer, what: &str) {
    assert!(answer.is_error(), "{what}: {}", answer.value);
    assert_eq!(
        answer.value["error"]["category"], "unavailable",
        "{what}: {}",
        answer.value
    );
    assert_eq!(
        answer.value["error"]["retryable"], true,
        "{what}: {}",
        answer.value
    );
}

fn assert_degraded(answer: &Answer, what: &str) {
    assert!(answer.is_error(), "{what}: {}", answer.value);
    assert_eq!(answer.value["degraded"], true, "{what}: {}", answer.value);
    let tools = answer.value["error"]["available_tools"].to_string();
    assert!(
        tools.contains("list_notes") && tools.contains("get_note"),
        "{what}: the degraded answer names the read tools: {}",
        answer.value
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_round_trip_on_postgres_and_a_dropped_connection_is_made_again() {
    let log = Log::install();
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let served = serve(&cluster, settings()).await;

    let created = served
        .call(
            "create_note",
            json!({"title": "first", "body": "kept by the server"}),
        )
        .await;
    assert!(!created.is_error(), "{}", created.value);
    let id = created.value["id"].as_i64().unwrap();
    let read = served.call("get_note", json!({"id": id})).await;
    assert_eq!(read.value["body"], "kept by the server", "{}", read.value);
    let missing = served.call("get_note", json!({"id": id + 1000})).await;
    assert_eq!(
        missing.value["error"]["category"], "not_found",
        "{}",
        missing.value
    );
    for title in ["b", "c", "d", "e", "f"] {
        let created = served.call("create_note", json!({"title": title})).await;
        assert!(!created.is_error(), "{}", created.value);
    }
    let overview = served.call("notes_overview", json!({})).await;
    assert_eq!(overview.value["notes"], 6, "{}", overview.value);
    assert_eq!(
        overview.value["recent"],
        json!(["f", "e", "d", "c", "b"]),
        "{}",
        overview.value
    );
    let deleted = served.call("delete_note", json!({"id": id})).await;
    assert_eq!(deleted.value["title"], "first", "{}", deleted.value);
    assert_eq!(cluster.sql("SELECT count(*) FROM notes"), "5");
    assert_eq!(cluster.sql("SELECT beats > 0 FROM heartbeat"), "t");

    // The server ends every session of the application (a failover, an administrator):
    // the next calls find their connections closed and make new ones.
    let ended = cluster.sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name LIKE 'notes-server%'",
    );
    assert_eq!(ended, "2", "the reads and the writes connections");
    pg::until("a new read connection", WAIT, async || {
        !served.call("list_notes", json!({})).await.is_error()
    })
    .await;
    pg::until("a new write connection", WAIT, async || {
        !served
            .call("create_note", json!({"title": "after"}))
            .await
            .is_error()
    })
    .await;
    assert!(served.titles().await.contains(&"after".to_owned()));

    let log = log.text();
    assert!(log.contains("connected to PostgreSQL"), "{log}");
    assert!(
        log.contains(&format!("127.0.0.1:{}/notes", cluster.port())),
        "the log names host, port and database: {log}"
    );
    assert!(
        !log.contains(PASSWORD),
        "the password reached the log: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_writes_degrade_writes_while_reads_go_on_and_recover() {
    let log = Log::install();
    let Some(cluster) = Cluster::start() else {
        return;
    };
    // Probes slower than the calls below, so that the first write refused is a call's,
    // not the heartbeat's; a breaker that stays open while the degraded answer is checked.
    let served = serve(
        &cluster,
        Settings {
            probe_interval: Duration::from_secs(1),
            breaker_open: Duration::from_secs(2),
            breaker_max_open: Duration::from_secs(2),
            ..settings()
        },
    )
    .await;
    let created = served.call("create_note", json!({"title": "before"})).await;
    assert!(!created.is_error(), "{}", created.value);

    cluster.refuse_writes();
    // The reload reaches the server's sessions on their next statement: the first write
    // refused is the fault seen.
    let mut refused = None;
    pg::until("a write refused", WAIT, async || {
        let answer = served.call("create_note", json!({"title": "racing"})).await;
        let failed = answer.is_error();
        refused = Some(answer);
        failed
    })
    .await;
    let refused = refused.unwrap();
    assert_unavailable(&refused, "a write in a read-only transaction");
    eprintln!("write refused (25006) answered in {:?}", refused.elapsed);

    served
        .until_health("writes refused", Status::Healthy, Status::Degraded)
        .await;
    served.until_breaker("writes", State::Open).await;
    let degraded = served.call("create_note", json!({"title": "no"})).await;
    assert_degraded(&degraded, "a write while writes are degraded");
    assert!(
        degraded.elapsed < Duration::from_millis(100),
        "the degraded answer is immediate: {:?}",
        degraded.elapsed
    );
    assert!(served.titles().await.contains(&"before".to_owned()));
    let overview = served.call("notes_overview", json!({})).await;
    assert!(!overview.is_error(), "{}", overview.value);
    assert_eq!(
        served.server.state().read_dependency().breaker().state(),
        State::Closed,
        "reads never failed"
    );
    // A server started now, while writes are refused, serves reads.
    let (late, _heartbeat) = Store::connect(
        &cluster.url("postgres", PASSWORD).parse().unwrap(),
        settings().postgres_timeouts(),
    )
    .await
    .expect("a read-only server is connected to");
    let summary = late.summary().await.unwrap();
    assert!(summary.recent.contains(&"before".to_owned()), "{summary:?}");

    cluster.accept_writes();
    served
        .until_health("writes accepted again", Status::Healthy, Status::Healthy)
        .await;
    let created = served.call("create_note", json!({"title": "after"})).await;
    assert!(!created.is_error(), "{}", created.value);
    served.until_breaker("writes", State::Closed).await;

    let log = log.text();
    assert!(
        log.contains("read-only transaction"),
        "the log has the driver's error: {log}"
    );
    assert!(
        log.contains("INSERT INTO notes"),
        "the log has the statement: {log}"
    );
    assert!(!log.contains(PASSWORD), "the password reached the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_is_answered_within_deadlines_and_the_breakers_fail_fast() {
    let _log = Log::install();
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    // Breakers that stay open for a while once opened: the fast failures below must not
    // meet a half-open trial.
    let served = serve(
        &cluster,
        Settings {
            breaker_open: Duration::from_secs(3),
            breaker_max_open: Duration::from_secs(3),
            ..settings()
        },
    )
    .await;
    let created = served.call("create_note", json!({"title": "before"})).await;
    assert!(!created.is_error(), "{}", created.value);

    cluster.suspend();
    // Calls in flight when the server hangs, reads and a write at once: each is answered
    // when its statement times out, far inside the tool's 10 s deadline.
    let bound = STATEMENT_TIMEOUT + CONNECT_TIMEOUT + Duration::from_millis(500);
    let (list, get, create) = tokio::join!(
        served.call("list_notes", json!({})),
        served.call("get_note", json!({"id": 1})),
        served.call("create_note", json!({"title": "hung"})),
    );
    for (what, answer) in [
        ("list_notes", &list),
        ("get_note", &get),
        ("create_note", &create),
    ] {
        eprintln!(
            "hung server: {what} answered in {:?}: {}",
            answer.elapsed, answer.value["error"]["category"]
        );
        assert!(answer.is_error(), "{what}: {}", answer.value);
        assert!(
            answer.elapsed < bound,
            "{what} took {:?}, more than {bound:?}",
            answer.elapsed
        );
    }
    assert_unavailable(&list, "a read on a hung server");

    // The breakers open (these calls and the probes count), then calls fail fast.
    served.until_breaker("reads", State::Open).await;
    served
        .until_health("server hung", Status::Degraded, Status::Degraded)
        .await;
    let fast = served.call("list_notes", json!({})).await;
    assert_unavailable(&fast, "a read while its breaker is open");
    assert!(
        fast.value["error"]["retry_after_secs"].as_u64().is_some(),
        "{}",
        fast.value
    );
    let degraded = served.call("create_note", json!({"title": "no"})).await;
    assert_degraded(&degraded, "a write while the server hangs");
    let info = served.call("server_info", json!({})).await;
    assert!(!info.is_error(), "{}", info.value);
    eprintln!(
        "hung server, breakers open: list_notes {:?}, create_note {:?}, server_info {:?}",
        fast.elapsed, degraded.elapsed, info.elapsed
    );
    for (what, answer) in [
        ("list_notes", &fast),
        ("create_note", &degraded),
        ("server_info", &info),
    ] {
        assert!(
            answer.elapsed < Duration::from_millis(100),
            "{what} took {:?} with its breaker open",
            answer.elapsed
        );
    }

    let resumed = Instant::now();
    cluster.resume();
    served
        .until_health("server resumed", Status::Healthy, Status::Healthy)
        .await;
    eprintln!("resumed: healthy again after {:?}", resumed.elapsed());
    pg::until("a read after the resume", WAIT, async || {
        !served.call("list_notes", json!({})).await.is_error()
    })
    .await;
    let created = served.call("create_note", json!({"title": "after"})).await;
    assert!(!created.is_error(), "{}", created.value);
    let titles = served.titles().await;
    assert!(titles.contains(&"before".to_owned()) && titles.contains(&"after".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_fails_fast_and_the_store_reconnects_when_it_is_back() {
    let log = Log::install();
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let served = serve(&cluster, settings()).await;
    let created = served.call("create_note", json!({"title": "before"})).await;
    assert!(!created.is_error(), "{}", created.value);

    cluster.stop();
    // Connections closed, then refused: answered at once, not after a timeout.
    let read = served.call("list_notes", json!({})).await;
    assert_unavailable(&read, "a read on a stopped server");
    let read = served.call("get_note", json!({"id": 1})).await;
    assert_unavailable(&read, "a read on a stopped server");
    eprintln!("stopped server: get_note answered in {:?}", read.elapsed);
    assert!(
        read.elapsed < Duration::from_millis(200),
        "refused is fast: {:?}",
        read.elapsed
    );
    served
        .until_health("server stopped", Status::Degraded, Status::Degraded)
        .await;
    let degraded = served.call("create_note", json!({"title": "no"})).await;
    assert_degraded(&degraded, "a write while the server is down");
    let info = served.call("server_info", json!({})).await;
    assert!(!info.is_error(), "{}", info.value);

    cluster.restart();
    served
        .until_health("server back", Status::Healthy, Status::Healthy)
        .await;
    pg::until("a read after the restart", WAIT, async || {
        !served.call("list_notes", json!({})).await.is_error()
    })
    .await;
    let created = served.call("create_note", json!({"title": "after"})).await;
    assert!(!created.is_error(), "{}", created.value);
    assert_eq!(served.titles().await, ["before", "after"]);

    let log = log.text();
    // The operator reads the real cause: refused, or, when the breaker opened before the
    // server finished stopping (a loaded machine), PostgreSQL's own "shutting down".
    assert!(
        log.contains("Connection refused") || log.contains("the database system is shutting down"),
        "{log}"
    );
    assert!(!log.contains(PASSWORD), "the password reached the log");
}

//! The notes server on a real full filesystem: nothing acknowledged is lost.
//!
//! Each test mounts a small `tmpfs` of its own, puts the store's files there (the SQLite
//! database; PostgreSQL's write-ahead log, where commits fail; PostgreSQL's tables, in a
//! tablespace, where statements fail), fills it with a filler file, and drives writes
//! through the server in-process (`SecureServer::call`, the guarded path of `tools/call`).
//! It then reopens the store (restarting PostgreSQL after its `PANIC`) and checks:
//!
//! - every write answered with success is in the store after the restart;
//! - no write answered with an error is, apart from a lost answer (the database
//!   committed, then failed before it could say so), which is counted and printed;
//! - the first write that did not commit was answered `unavailable`, audited as an error,
//!   and counted by the write breaker at once: writes degrade at that write, not after
//!   the health probes (which these tests never start).
//!
//! Mounting needs root: elsewhere, or where `mount` fails, each test prints `SKIP: ...`
//! and passes, unless `CI` is set, where it fails. The filesystem is unmounted and its
//! directory removed on drop, a failing test included.

use std::collections::BTreeMap;
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use notes_server::settings::Settings;
use notes_server::store::postgres::Database;
use notes_server::store::{Archive, Store};
use notes_server::tools::Notes;
use secure_tool::breaker::State;
use secure_tool::health::{HealthMonitor, ServicePath, Status};
use secure_tool::{Principal, SecureServer};
use secure_tool_tests::support::pg;
use serde_json::{Value, json};

/// A size-limited `tmpfs`, unmounted and removed on drop.
struct SmallFs {
    dir: PathBuf,
}

impl SmallFs {
    /// Mounts a `tmpfs` of `bytes` on a new directory, or says why it cannot and returns
    /// `None` (panics instead under `CI`).
    /// Gives the filesystem to the `postgres` user, as which the test clusters run (we
    /// are root, or the mount would have failed).
    fn give_to_postgres(&self) {
        let chowned = Command::new("chown")
            .arg("postgres:postgres")
            .arg(self.path())
            .status();
        assert!(
            chowned.is_ok_and(|s| s.success()),
            "cannot give the tmpfs to postgres"
        );
    }

    fn mount(name: &str, bytes: u64) -> Option<SmallFs> {
        let skip = |why: String| {
            let message = format!("cannot mount a small tmpfs for the full-disk test: {why}");
            if std::env::var_os("CI").is_some() {
                panic!("{message} (CI is set: this test must run there)");
            }
            eprintln!("SKIP: {message}");
            None
        };
        // `/proc/self` belongs to the process's effective user.
        if fs::metadata("/proc/self").map(|m| m.uid()).ok() != Some(0) {
            return skip("not root".to_owned());
        }
        let dir =
            std::env::temp_dir().join(format!("notes-disk-full-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        if let Err(error) = fs::create_dir(&dir) {
            return skip(format!("cannot create {}: {error}", dir.display()));
        }
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={bytes},mode=0755"))
            .arg("tmpfs")
            .arg(&dir)
            .stdin(Stdio::null())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(SmallFs { dir }),
            Ok(output) => {
                let _ = fs::remove_dir(&dir);
                skip(format!(
                    "`mount -t tmpfs` failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ))
            }
            Err(error) => {
                let _ = fs::remove_dir(&dir);
                skip(format!("cannot run mount: {error}"))
            }
        }
    }

    fn path(&self) -> &Path {
        &self.dir
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("filler")
    }

    /// Fills the filesystem to its last byte with a filler file; returns its size.
    fn fill(&self) -> u64 {
        let mut file = fs::File::create(self.filler()).expect("cannot create the filler");
        let chunk = vec![0x5a_u8; 64 * 1024];
        let mut written = 0_u64;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(error) if error.kind() == ErrorKind::StorageFull => break,
                Err(error) => panic!("writing the filler failed: {error}"),
            }
        }
        // What is left for one byte more, if anything, is not worth a page.
        assert!(
            file.write(b"x").is_err(),
            "the filesystem is not full after {written} bytes"
        );
        written
    }

    /// Removes the filler.
    fn free(&self) {
        fs::remove_file(self.filler()).expect("cannot remove the filler");
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds it (a process of a failed test): detach it now, the
            // kernel frees it when the last user goes.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
        let _ = fs::remove_dir(&self.dir);
    }
}

/// The server's audit trail, to check how each write was recorded.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    /// Collects this thread's events (the tests run on a current-thread runtime, where
    /// every call and its audit event run).
    fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (log, guard)
    }

    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Log {
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

/// The settings of these tests: the first failure opens the write breaker, which stays
/// open for the rest of the test; the probes are never started.
fn settings() -> Settings {
    Settings {
        busy_timeout: Duration::from_millis(200),
        breaker_failures: 1,
        breaker_open: Duration::from_secs(3600),
        breaker_max_open: Duration::from_secs(3600),
        connect_timeout: Duration::from_secs(2),
        statement_timeout: Duration::from_secs(5),
        ..Settings::default()
    }
}

struct Served {
    server: SecureServer<Notes>,
    monitor: HealthMonitor,
}

fn serve(store: Store, heartbeat: notes_server::store::Heartbeat) -> Served {
    let settings = settings();
    let notes = Notes::new(store, Archive::in_memory().unwrap(), None, &settings);
    // Built but never started: only the write breaker can degrade writes here.
    let monitor = notes.health_monitor(heartbeat, &settings);
    let server = SecureServer::builder(notes).health(monitor.clone()).build();
    Served { server, monitor }
}

/// How a write was answered.
#[derive(Clone, Debug, PartialEq)]
enum Answer {
    /// Success, with the note.
    Done(i64),
    /// An error of this category.
    Failed(String),
    /// `degraded`: refused without running.
    Degraded,
}

impl Served {
    async fn call(&self, tool: &str, arguments: Value) -> Answer {
        let caller = Principal::new("ada")
            .with_scopes(["notes:read", "notes:write"])
            .with_roles(["admin"]);
        let result = self
            .server
            // `delete_note` asks the user first; this test stands for the user.
            .call_confirmed(tool, arguments.as_object().cloned(), caller)
            .await
            .expect("a tool call is answered with a result");
        let Some(facts) = secure_tool::sanitize::error_facts(&result) else {
            let value = result.structured_content.unwrap_or_default();
            return Answer::Done(value["id"].as_i64().expect("a note has an id"));
        };
        if facts["degraded"] == true {
            return Answer::Degraded;
        }
        Answer::Failed(facts["category"].as_str().unwrap_or("?").to_owned())
    }

    /// The write breaker's failures so far.
    fn write_failures(&self) -> u64 {
        self.server
            .state()
            .write_dependency()
            .breaker()
            .snapshot()
            .failures
    }

    fn writes(&self) -> (State, Status) {
        (
            self.server.state().write_dependency().breaker().state(),
            self.monitor.status(ServicePath::Writes),
        )
    }
}

/// A note's body of `len` bytes that does not compress (PostgreSQL compresses long
/// values): letters from a xorshift sequence seeded by `seed`.
fn body(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

/// What the writes of a test were answered, by note title (creations) or id
/// (deletions), and what the first failed write did to the breaker.
#[derive(Default)]
struct Ledger {
    /// Creations answered with success: title → id.
    created: BTreeMap<String, i64>,
    /// Creations answered with an error: titles.
    create_failed: Vec<String>,
    /// Deletions answered with success: ids.
    deleted: Vec<i64>,
    /// Deletions answered with an error: ids.
    delete_failed: Vec<i64>,
    /// Writes answered `degraded`.
    degraded: usize,
    /// At each write answered with an error: its category, the breaker's failure count
    /// before and after it, and the breaker's state and write health after it.
    failures: Vec<(String, u64, u64, State, Status)>,
}

impl Ledger {
    /// Creates `count` notes of 4 KiB while the disk still has room: their ids.
    async fn create_before_full(&mut self, served: &Served, count: u64) -> Vec<i64> {
        let mut ids = Vec::new();
        for n in 0..count {
            let answer = self
                .create(served, format!("before-{n}"), body(n, 4096))
                .await;
            let Answer::Done(id) = answer else {
                panic!("{answer:?}")
            };
            ids.push(id);
        }
        ids
    }

    async fn create(&mut self, served: &Served, title: String, body: String) -> Answer {
        let before = served.write_failures();
        let answer = served
            .call("create_note", json!({"title": title, "body": body}))
            .await;
        match &answer {
            Answer::Done(id) => {
                self.created.insert(title, *id);
            }
            Answer::Failed(category) => {
                self.create_failed.push(title);
                self.failed(served, category, before);
            }
            Answer::Degraded => self.degraded += 1,
        }
        answer
    }

    async fn delete(&mut self, served: &Served, id: i64) -> Answer {
        let before = served.write_failures();
        let answer = served.call("delete_note", json!({"id": id})).await;
        match &answer {
            Answer::Done(deleted) => {
                assert_eq!(*deleted, id);
                self.deleted.push(id);
            }
            Answer::Failed(category) => {
                self.delete_failed.push(id);
                self.failed(served, category, before);
            }
            Answer::Degraded => self.degraded += 1,
        }
        answer
    }

    fn failed(&mut self, served: &Served, category: &str, before: u64) {
        let (state, health) = served.writes();
        self.failures.push((
            category.to_owned(),
            before,
            served.write_failures(),
            state,
            health,
        ));
    }

    /// Checks the store after the restart (`stored`: id → title), allowing `lost_answers`
    /// failed writes to have landed; returns how many did.
    fn check(&self, stored: &BTreeMap<i64, String>, lost_answers: usize) -> usize {
        let mut problems = Vec::new();
        for (title, id) in &self.created {
            if !self.deleted.contains(id) && stored.get(id) != Some(title) {
                problems.push(format!(
                    "note {id} ({title}) was acknowledged, and is not in the store"
                ));
            }
        }
        for id in &self.deleted {
            if stored.contains_key(id) {
                problems.push(format!(
                    "note {id} was acknowledged as deleted, and is still in the store"
                ));
            }
        }
        let mut landed = 0;
        for title in &self.create_failed {
            if stored.values().any(|stored| stored == title) {
                landed += 1;
            }
        }
        for id in &self.delete_failed {
            if !stored.contains_key(id) {
                landed += 1;
            }
        }
        if landed > lost_answers {
            problems.push(format!(
                "{landed} writes answered with an error happened anyway (at most \
                 {lost_answers} lost answer allowed)"
            ));
        }
        assert!(
            problems.is_empty(),
            "acknowledged writes lost or misreported:\n{}",
            problems.join("\n")
        );
        landed
    }

    /// Checks the first failed write: `unavailable`, counted by the write breaker at
    /// once, which opened and degraded writes; and audited as an error.
    fn check_first_failure(&self, log: &Log, tool: &str) {
        let Some((category, before, after, state, health)) = self.failures.first() else {
            panic!(
                "no write failed on a full disk ({} acknowledged): the failure of their \
                 commits was lost",
                self.created.len() + self.deleted.len()
            );
        };
        assert_eq!(category, "unavailable", "a write that did not commit");
        assert_eq!(
            (*before, *after),
            (0, 1),
            "the write breaker counts the first failed commit"
        );
        assert_eq!(
            (*state, *health),
            (State::Open, Status::Degraded),
            "writes degrade at the first failed commit"
        );
        let audited = log.lines().into_iter().any(|line| {
            line.contains("secure_tool::audit")
                && line.contains(&format!("tool=\"{tool}\""))
                && line.contains("outcome=\"error\"")
                && line.contains("category=\"unavailable\"")
        });
        assert!(audited, "the failed write is audited as an error");
    }
}

async fn sqlite_notes(path: &Path) -> BTreeMap<i64, String> {
    let (store, _heartbeat) = Store::open(path, Duration::from_millis(200))
        .expect("the database opens again after the disk filled");
    store
        .list()
        .await
        .expect("the notes can be read after the restart")
        .into_iter()
        .map(|note| (note.id, note.title))
        .collect()
}

/// The SQLite store on a full `tmpfs`: creations, then (after a restart) deletions, each
/// until the first write that cannot commit; then a last restart and the check.
#[tokio::test]
async fn sqlite_on_a_full_disk_acknowledges_only_what_it_committed() {
    const SIZE: u64 = 2 * 1024 * 1024;
    let Some(disk) = SmallFs::mount("sqlite", SIZE) else {
        return;
    };
    let (log, _guard) = Log::install();
    let db = disk.path().join("notes.db");
    let mut ledger = Ledger::default();

    // Creations: some while there is room, then until one fails on the full disk.
    let (store, heartbeat) = Store::open(&db, Duration::from_millis(200)).unwrap();
    let served = serve(store, heartbeat);
    for n in 0..8 {
        let answer = ledger
            .create(&served, format!("before-{n}"), body(n, 512))
            .await;
        assert!(matches!(answer, Answer::Done(_)), "{answer:?}");
    }
    let filler = disk.fill();
    for n in 0..20 {
        ledger
            .create(&served, format!("full-{n}"), body(100 + n, 512))
            .await;
    }
    drop(served);
    // Restart: what was acknowledged is there, what failed is not.
    ledger.check(&sqlite_notes(&db).await, 0);
    ledger.check_first_failure(&log, "create_note");

    // The disk still full: the health probe's heartbeat fails as the tools' writes do,
    // then deletions, until one fails.
    let (store, heartbeat) = Store::open(&db, Duration::from_millis(200))
        .expect("the database opens again on the full disk");
    let beat = heartbeat
        .beat()
        .await
        .expect_err("a heartbeat on the full disk");
    assert!(beat.is_unavailable(), "{beat:?}");
    let served = serve(store, heartbeat);
    let failures = ledger.failures.len();
    let acknowledged: Vec<i64> = ledger.created.values().copied().collect();
    for id in acknowledged {
        ledger.delete(&served, id).await;
    }
    drop(served);
    // Restart, and check what the store holds.
    let stored = sqlite_notes(&db).await;
    let landed = ledger.check(&stored, 0);
    assert!(
        ledger.failures.len() > failures,
        "no deletion failed on the full disk ({} acknowledged)",
        ledger.deleted.len()
    );
    let deletions = Ledger {
        failures: ledger.failures[failures..].to_vec(),
        ..Ledger::default()
    };
    deletions.check_first_failure(&log, "delete_note");
    eprintln!(
        "sqlite on a full {} KiB tmpfs (filler {} KiB): {} creations and {} deletions \
         acknowledged, {} + {} answered `unavailable` (the first of each counted by the \
         write breaker at once), {} answered `degraded`; after the restart: {} notes, \
         0 acknowledged writes lost, {landed} failed writes landed",
        SIZE / 1024,
        filler / 1024,
        ledger.created.len(),
        ledger.deleted.len(),
        ledger.create_failed.len(),
        ledger.delete_failed.len(),
        ledger.degraded,
        stored.len(),
    );
    drop(disk);
}

/// The PostgreSQL store with its cluster's write-ahead log on a full `tmpfs` (1 MiB WAL
/// segments, `synchronous_commit = on`: a commit is acknowledged once its WAL is
/// written): creations and deletions, alternating, until the first write that cannot
/// commit (the server cannot start a new WAL segment and stops every connection); then
/// the disk is freed, the cluster restarted, and the store checked.
#[tokio::test]
async fn postgres_with_its_wal_on_a_full_disk_acknowledges_only_what_it_committed() {
    const SIZE: u64 = 24 * 1024 * 1024;
    /// Writes tried on the full disk, at most: ~1 MiB of WAL per segment, ~4 KiB a note.
    const TRIES: u64 = 3000;
    let Some(disk) = SmallFs::mount("pg-wal", SIZE) else {
        return;
    };
    disk.give_to_postgres();
    let waldir = disk.path().join("pg_wal");
    let Some(cluster) =
        pg::Cluster::start_with(&["--waldir", waldir.to_str().unwrap(), "--wal-segsize", "1"])
    else {
        return;
    };
    cluster.durable_commits();
    // No spare WAL segments kept from initdb: once the disk is full, the next segment
    // the server needs is one it cannot create.
    cluster.sql("ALTER SYSTEM SET min_wal_size = '2MB'");
    cluster.sql("SELECT pg_reload_conf()");
    cluster.sql("CHECKPOINT");
    let (log, _guard) = Log::install();
    let database: Database = cluster.url("postgres", "unused").parse().unwrap();
    let timeouts = settings().postgres_timeouts();
    let mut ledger = Ledger::default();

    let (store, heartbeat) = Store::connect(&database, timeouts).await.unwrap();
    let served = serve(store, heartbeat);
    let mut live = std::collections::VecDeque::from(ledger.create_before_full(&served, 8).await);
    let filler = disk.fill();
    let mut tries = 0;
    while ledger.failures.is_empty() && tries < TRIES {
        tries += 1;
        if tries % 3 == 0
            && let Some(id) = live.pop_front()
        {
            ledger.delete(&served, id).await;
        } else if let Answer::Done(id) = ledger
            .create(&served, format!("full-{tries}"), body(100 + tries, 4096))
            .await
        {
            live.push_back(id);
        }
    }
    let failed_tool = if ledger.delete_failed.is_empty() {
        "create_note"
    } else {
        "delete_note"
    };
    // The next writes are refused without running, once the breaker has opened.
    for n in 0..3 {
        ledger
            .create(&served, format!("after-{n}"), body(n, 16))
            .await;
    }
    drop(served);

    disk.free();
    cluster.restart_after_crash();
    let (store, _heartbeat) = Store::connect(&database, timeouts).await.unwrap();
    let stored: BTreeMap<i64, String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|note| (note.id, note.title))
        .collect();
    let landed = ledger.check(&stored, 1);
    ledger.check_first_failure(&log, failed_tool);
    assert_eq!(
        ledger.degraded, 3,
        "writes stay degraded after the first failure"
    );
    eprintln!(
        "postgres, WAL on a full {} KiB tmpfs (filler {} KiB): {tries} writes tried on the \
         full disk; {} creations and {} deletions acknowledged, the first failure \
         ({failed_tool}) answered `unavailable` and counted by the write breaker at once, \
         then {} answered `degraded`; after the restart: {} notes, 0 acknowledged writes \
         lost, {landed} failed writes landed (lost answers)",
        SIZE / 1024,
        filler / 1024,
        ledger.created.len(),
        ledger.deleted.len(),
        ledger.degraded,
        stored.len(),
    );
}

/// The PostgreSQL store with its tables in a tablespace on a full `tmpfs`: a creation that
/// needs a new page fails in its statement (`53100 disk_full`), and is `unavailable` like
/// a failed commit; deletions need no new space and go on. Then the store is reopened
/// and checked.
#[tokio::test]
async fn postgres_with_its_tables_on_a_full_disk_acknowledges_only_what_it_committed() {
    const SIZE: u64 = 4 * 1024 * 1024;
    const TRIES: u64 = 200;
    let Some(disk) = SmallFs::mount("pg-tablespace", SIZE) else {
        return;
    };
    disk.give_to_postgres();
    let Some(cluster) = pg::Cluster::start() else {
        return;
    };
    cluster.durable_commits();
    cluster.sql(&format!(
        "CREATE TABLESPACE small LOCATION '{}'",
        disk.path().display()
    ));
    cluster.sql(&format!(
        "ALTER DATABASE {} SET default_tablespace = small",
        pg::DATABASE
    ));
    let (log, _guard) = Log::install();
    let database: Database = cluster.url("postgres", "unused").parse().unwrap();
    let timeouts = settings().postgres_timeouts();
    let mut ledger = Ledger::default();

    // The store creates its tables in the tablespace.
    let (store, heartbeat) = Store::connect(&database, timeouts).await.unwrap();
    let served = serve(store, heartbeat);
    let mut live = ledger.create_before_full(&served, 8).await;
    let filler = disk.fill();
    let mut tries = 0;
    while ledger.failures.is_empty() && tries < TRIES {
        tries += 1;
        ledger
            .create(&served, format!("full-{tries}"), body(100 + tries, 4096))
            .await;
    }
    drop(served);

    // A new server on the full disk: deletions need no new page.
    let (store, heartbeat) = Store::connect(&database, timeouts).await.unwrap();
    let served = serve(store, heartbeat);
    for id in live.drain(..4) {
        let answer = ledger.delete(&served, id).await;
        assert_eq!(answer, Answer::Done(id), "a deletion on the full disk");
    }
    drop(served);

    let (store, _heartbeat) = Store::connect(&database, timeouts).await.unwrap();
    let stored: BTreeMap<i64, String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|note| (note.id, note.title))
        .collect();
    let landed = ledger.check(&stored, 0);
    ledger.check_first_failure(&log, "create_note");
    eprintln!(
        "postgres, tables on a full {} KiB tmpfs (filler {} KiB): {tries} creations tried \
         on the full disk, {} acknowledged in all, the first failure answered \
         `unavailable` (disk full) and counted by the write breaker at once, {} answered \
         `degraded`; {} deletions acknowledged on the full disk; after reopening: {} notes, \
         0 acknowledged writes lost, {landed} failed writes landed",
        SIZE / 1024,
        filler / 1024,
        ledger.created.len(),
        ledger.degraded,
        ledger.deleted.len(),
        stored.len(),
    );
}

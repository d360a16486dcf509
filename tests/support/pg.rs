//! A disposable PostgreSQL cluster for one test, from the distribution's packages.
//!
//! [`Cluster::start`] runs `initdb` and `pg_ctl start` (as the `postgres` user through
//! `runuser` when the test runs as root, which PostgreSQL refuses to be) on a data
//! directory under a fresh temporary directory, listening on `127.0.0.1` only, on a free
//! port, with its Unix socket in that directory too. It is stopped and removed when the
//! [`Cluster`] is dropped, a panicking test included. It also offers the faults the tests
//! need: [`Cluster::suspend`] (`SIGSTOP` to the postmaster and its children),
//! [`Cluster::stop`] and [`Cluster::restart`], and SQL as the superuser.
//!
//! Where PostgreSQL is not installed, [`Cluster::start`] prints `SKIP: ...` and returns
//! `None` (under `CI`, where `.ci/run` installs it, it panics instead: a skipped test
//! there would hide a missing install step). `PG_BIN` points at another `bin` directory.
//!
//! Used by `tests/postgres.rs` and `tests/load_faults.rs`, and by the example's
//! `examples/notes/tests/postgres_faults.rs` and `disk_full.rs`.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The database the tests use (created by [`Cluster::start`]).
pub const DATABASE: &str = "notes";

/// A running (or stopped, or suspended) PostgreSQL cluster, removed on drop.
pub struct Cluster {
    bin: PathBuf,
    /// The temporary directory: `data/`, the socket, `server.log`.
    root: PathBuf,
    port: u16,
    /// Run the server's binaries as `postgres` (we are root).
    as_postgres: bool,
    /// The processes stopped by [`Cluster::suspend`].
    suspended: Vec<u32>,
}

impl Cluster {
    /// Starts a fresh cluster with the database [`DATABASE`], or explains why not and
    /// returns `None`.
    pub fn start() -> Option<Cluster> {
        Self::start_with(&[])
    }

    /// [`Cluster::start`], with more arguments for `initdb` (e.g. `--waldir DIR` to keep
    /// the write-ahead log elsewhere, `--wal-segsize 1` for small WAL segments).
    pub fn start_with(initdb_args: &[&str]) -> Option<Cluster> {
        let Some(bin) = find_bin() else {
            let missing = match std::env::var_os("PG_BIN") {
                Some(dir) => format!(
                    "PG_BIN={} has no initdb, pg_ctl and psql",
                    Path::new(&dir).display()
                ),
                None => {
                    "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)".to_owned()
                }
            };
            let message = format!(
                "{missing}; install it with \
                 `apt-get install -y --no-install-recommends postgresql` to run this test"
            );
            if std::env::var_os("CI").is_some() {
                panic!("{message} (CI is set: .ci/run should have installed it)");
            }
            eprintln!("SKIP: {message}");
            return None;
        };
        let root = temp_root();
        let as_postgres = fs::metadata(&root).expect("the temporary directory").uid() == 0;
        if as_postgres {
            run(Command::new("chown").arg("postgres:postgres").arg(&root));
        }
        let mut cluster = Cluster {
            bin,
            root,
            port: 0,
            as_postgres,
            suspended: Vec::new(),
        };
        let started = Instant::now();
        cluster.pg(
            "initdb",
            &[
                "-D",
                "data",
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ]
            .iter()
            .chain(initdb_args)
            .copied()
            .collect::<Vec<_>>(),
        );
        // A cluster for tests: no durability, small, fast to start and stop.
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             shared_buffers = 16MB\nmax_connections = 30\nmax_wal_senders = 0\n\
             wal_level = minimal\nlog_min_messages = warning\n",
            cluster.root.display()
        );
        append(&cluster.root.join("data/postgresql.conf"), &conf);
        cluster.port = free_port();
        cluster.start_server();
        cluster.sql(&format!("CREATE DATABASE {DATABASE}"));
        eprintln!(
            "PostgreSQL cluster in {} on 127.0.0.1:{} (ready in {:?})",
            cluster.root.display(),
            cluster.port,
            started.elapsed()
        );
        Some(cluster)
    }

    /// The connection string of [`DATABASE`] as `user`, with a password (which trust
    /// authentication ignores: it is there to be kept out of logs).
    pub fn url(&self, user: &str, password: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `sql` on [`DATABASE`] as the superuser with `psql`, in a session that may
    /// write even while the server makes transactions read-only; panics if it fails.
    pub fn sql(&self, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-U", "postgres"])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(if sql.starts_with("CREATE DATABASE") {
                "postgres"
            } else {
                DATABASE
            })
            .arg("-c")
            .arg(sql)
            .env("PGOPTIONS", "-c default_transaction_read_only=off")
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .expect("cannot run psql");
        check(&output, &format!("psql -c {sql:?}"));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Makes every transaction read-only from now on (`default_transaction_read_only`,
    /// reloaded): writes fail with `SQLSTATE 25006`, reads go on.
    pub fn refuse_writes(&self) {
        self.sql("ALTER SYSTEM SET default_transaction_read_only = on");
        self.sql("SELECT pg_reload_conf()");
    }

    /// Undoes [`Cluster::refuse_writes`].
    pub fn accept_writes(&self) {
        self.sql("ALTER SYSTEM RESET default_transaction_read_only");
        self.sql("SELECT pg_reload_conf()");
    }

    /// Stops the postmaster and all its children with `SIGSTOP`: the server still
    /// accepts TCP connections (the kernel does) and answers nothing.
    pub fn suspend(&mut self) {
        assert!(self.suspended.is_empty(), "already suspended");
        let postmaster = self.postmaster_pid();
        let mut pids = vec![postmaster];
        pids.extend(children(postmaster));
        // The postmaster first, so that it starts no new child meanwhile.
        signal("STOP", &pids);
        // A child forked just before the postmaster stopped.
        let late: Vec<u32> = children(postmaster)
            .into_iter()
            .filter(|pid| !pids.contains(pid))
            .collect();
        signal("STOP", &late);
        pids.extend(late);
        self.suspended = pids;
    }

    /// Undoes [`Cluster::suspend`] (`SIGCONT`).
    pub fn resume(&mut self) {
        let pids = std::mem::take(&mut self.suspended);
        signal("CONT", &pids);
    }

    /// Kills the postmaster and every backend with `SIGKILL`, as a crash or the OOM
    /// killer would: connections drop, nothing is shut down cleanly. [`Cluster::restart`]
    /// then recovers from the write-ahead log.
    pub fn kill(&self) {
        let postmaster = self.postmaster_pid();
        // Stopped, the postmaster forks no new backend while its children are listed.
        signal("STOP", &[postmaster]);
        let backends = children(postmaster);
        signal("KILL", &[postmaster]);
        // A backend may have exited meanwhile: `kill` then fails for it alone.
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(backends.iter().map(u32::to_string))
            .stderr(Stdio::null())
            .status();
        // Signals are delivered asynchronously: the server cannot start again while one of
        // its processes still holds the shared memory.
        let deadline = Instant::now() + Duration::from_secs(10);
        // A zombie (state `Z`) holds nothing any more.
        let alive = |&pid: &u32| proc_stat(pid).is_some_and(|(state, _)| state != "Z");
        let mut pids = backends;
        pids.push(postmaster);
        while pids.iter().any(alive) {
            assert!(
                Instant::now() < deadline,
                "the cluster's processes outlived SIGKILL by 10 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // A killed process stays a zombie until its parent reaps it, and the postmaster's
        // parent is whoever adopted it: PostgreSQL would take the zombie's pid in its lock
        // files for a running server and refuse to start. The processes are gone: so are
        // their locks.
        for lock in [
            self.root.join("data/postmaster.pid"),
            self.root.join(format!(".s.PGSQL.{}.lock", self.port)),
        ] {
            let _ = fs::remove_file(lock);
        }
    }

    /// Makes commits durable against a killed server (`synchronous_commit = on`,
    /// reloaded): a commit is acknowledged once its WAL record is written to the
    /// operating system. (`fsync` stays off: a killed process does not lose what the
    /// kernel holds; a crash of the machine is another matter.)
    pub fn durable_commits(&self) {
        self.sql("ALTER SYSTEM SET synchronous_commit = on");
        self.sql("SELECT pg_reload_conf()");
        assert_eq!(self.sql("SHOW synchronous_commit"), "on");
    }

    /// `pg_ctl stop -m fast`: sessions are ended, connections refused.
    pub fn stop(&self) {
        self.pg("pg_ctl", &["-D", "data", "-m", "fast", "-w", "stop"]);
    }

    /// Starts the server again after [`Cluster::stop`] or [`Cluster::kill`], on the same
    /// port.
    pub fn restart(&self) {
        self.start_server();
    }

    /// Starts the server again after it stopped on its own, or while it restarts itself
    /// (a `PANIC`, such as a write-ahead log it cannot write): whatever still runs is
    /// stopped first.
    pub fn restart_after_crash(&self) {
        if self.root.join("data/postmaster.pid").exists() {
            let _ = self.pg_output("pg_ctl", &["-D", "data", "-m", "immediate", "-w", "stop"]);
        }
        self.start_server();
    }

    fn start_server(&self) {
        let port = self.port.to_string();
        self.pg_with_log(
            "pg_ctl",
            &[
                "-D",
                "data",
                "-l",
                "server.log",
                "-o",
                &format!("-p {port}"),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
    }

    fn postmaster_pid(&self) -> u32 {
        let pid = fs::read_to_string(self.root.join("data/postmaster.pid"))
            .expect("postmaster.pid: the server is not running");
        pid.lines()
            .next()
            .and_then(|line| line.trim().parse().ok())
            .expect("postmaster.pid starts with the postmaster's pid")
    }

    /// A command for one of the server's binaries, as `postgres` if we are root.
    fn server_command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        }
    }

    /// Runs one of the server's binaries in the cluster's directory, as `postgres` if
    /// we are root; panics with its output if it fails.
    fn pg(&self, program: &str, args: &[&str]) {
        let output = self.pg_output(program, args);
        check(&output, &format!("{program} {}", args.join(" ")));
    }

    /// [`Cluster::pg`] for a command that starts the server: its failure also shows the
    /// end of the server's log, which says why.
    fn pg_with_log(&self, program: &str, args: &[&str]) {
        let output = self.pg_output(program, args);
        if !output.status.success() {
            let log = fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            check(
                &output,
                &format!(
                    "{program} {} (the end of the server's log:\n{})\n",
                    args.join(" "),
                    tail.join("\n")
                ),
            );
        }
    }

    fn pg_output(&self, program: &str, args: &[&str]) -> Output {
        self.server_command(program)
            .args(args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| {
                panic!("cannot run {}: {error}", self.bin.join(program).display())
            })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.suspended.is_empty() {
            self.resume();
        }
        if self.root.join("data/postmaster.pid").exists() {
            let _ = self
                .server_command("pg_ctl")
                .args(["-D", "data", "-m", "immediate", "-w", "stop"])
                .current_dir(&self.root)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// `$PG_BIN`, or the newest `/usr/lib/postgresql/*/bin` with `initdb`, `pg_ctl` and `psql`.
fn find_bin() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "psql"]
            .iter()
            .all(|program| dir.join(program).is_file())
    };
    if let Some(dir) = std::env::var_os("PG_BIN") {
        let dir = PathBuf::from(dir);
        return complete(&dir).then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| complete(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// A new, empty directory under the system's temporary directory.
fn temp_root() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let root = std::env::temp_dir().join(format!(
        "secure-tool-pg-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&root)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", root.display()));
    root
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
    listener.local_addr().expect("a bound address").port()
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .unwrap_or_else(|error| panic!("cannot append to {}: {error}", path.display()));
}

/// The processes whose parent is `parent`, from `/proc`.
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            proc_stat(pid).and_then(|(_, ppid)| ppid.parse::<u32>().ok()) == Some(parent)
        })
        .collect()
}

/// The state and the parent's pid of process `pid`, from `/proc/PID/stat`
/// (`pid (comm) state ppid ...`, where the command may hold spaces and parentheses).
fn proc_stat(pid: u32) -> Option<(String, String)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
}

fn signal(name: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let mut command = Command::new("kill");
    command.arg(format!("-{name}"));
    command.args(pids.iter().map(u32::to_string));
    run(&mut command);
}

fn run(command: &mut Command) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    check(&output, &format!("{command:?}"));
}

fn check(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Polls `condition` until it holds, or panics after `within` naming `what`.
pub async fn until(what: &str, within: Duration, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Panics when one of `secrets` (the driver's words, SQL, the server's address, the
/// password) appears in what a client received.
///
/// Incident ids are masked first: they are random UUIDs, and a secret made of hex digits
/// (an SQLSTATE such as `25006`) would otherwise be found in one by chance.
pub fn assert_clean(client_text: &str, secrets: &[&str]) {
    let text = without_uuids(client_text);
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{secret:?} reached the client: {client_text}"
        );
    }
}

/// `text` with every UUID (8-4-4-4-12 hex digits) replaced by `<uuid>`.
fn without_uuids(text: &str) -> String {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    const LEN: usize = 36;
    let is_uuid = |candidate: &[u8]| {
        let mut at = 0;
        GROUPS.iter().enumerate().all(|(index, &len)| {
            let group = &candidate[at..at + len];
            at += len;
            let dash = index == GROUPS.len() - 1 || candidate[at] == b'-';
            at += 1;
            dash && group.iter().all(u8::is_ascii_hexdigit)
        })
    };
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    let mut at = 0;
    while at + LEN <= bytes.len() {
        if is_uuid(&bytes[at..at + LEN]) {
            out.push_str(&text[start..at]);
            out.push_str("<uuid>");
            at += LEN;
            start = at;
        } else {
            at += 1;
        }
    }
    out.push_str(&text[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_ids_are_masked_before_secrets_are_looked_for() {
        let answer = "incident 5c125006-a015-4e1c-b97c-49b0bad8a2cc, then 25006";
        assert_eq!(without_uuids(answer), "incident <uuid>, then 25006");
        assert_clean("incident 5c125006-a015-4e1c-b97c-49b0bad8a2cc", &["25006"]);
        assert_eq!(without_uuids("5c125006-a015"), "5c125006-a015");
    }

    #[test]
    #[should_panic(expected = "\"25006\" reached the client")]
    fn a_secret_outside_an_incident_id_is_found() {
        assert_clean(
            "SQLSTATE 25006 (incident 5c125006-a015-4e1c-b97c-49b0bad8a2cc)",
            &["25006"],
        );
    }
}

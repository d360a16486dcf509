//! The load of `e2e/load_with_faults.py` (the official MCP Python SDK, many sessions
//! calling tools without pause over streamable HTTP), read answer by answer by a test that
//! breaks things underneath: `load_faults.rs` (the database) and `replicas.rs` (a replica
//! behind a load balancer).
//!
//! A test divides the run into phases ([`Load::phase`]) and takes answers until what a
//! phase is there to show has been seen ([`Load::until`]), bounded: nothing waits by
//! sleeping. Each answer is a [`Record`]; each phase keeps a [`Tally`].

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http_server::Server;
use super::json_script::JsonScript;
use super::pg::Cluster;

/// One answered call, as the load script reports it.
#[derive(Debug)]
pub struct Record {
    /// The phase during which the answer arrived.
    pub phase: usize,
    pub tool: String,
    pub outcome: String,
    pub ms: f64,
    pub id: Option<i64>,
    pub title: Option<String>,
    pub detail: Option<String>,
    /// Why a read was made a second time, if it was.
    pub retried: Option<String>,
}

/// What one phase has seen so far.
#[derive(Default)]
pub struct Tally {
    pub calls: usize,
    pub ok_writes: usize,
    pub ok_reads: usize,
    pub degraded: usize,
    /// Reads answered with a result after the phase's first degraded write.
    pub ok_reads_while_degraded: usize,
    pub outcomes: BTreeMap<String, usize>,
    pub latencies: Vec<f64>,
    /// Sessions whose transport failed as a whole, reported and connected again by the
    /// script (their calls in flight unreported, none acknowledged): why, for each.
    pub sessions_lost: Vec<String>,
}

impl Tally {
    fn add(&mut self, record: &Record) {
        self.calls += 1;
        *self.outcomes.entry(record.outcome.clone()).or_default() += 1;
        self.latencies.push(record.ms);
        let write = record.tool == "create_note";
        match record.outcome.as_str() {
            "ok" if write => self.ok_writes += 1,
            "ok" => {
                self.ok_reads += 1;
                if self.degraded > 0 {
                    self.ok_reads_while_degraded += 1;
                }
            }
            "degraded" => self.degraded += 1,
            _ => {}
        }
    }

    /// The `q` quantile of the latencies, in milliseconds.
    pub fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_by(f64::total_cmp);
        let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(index).copied().unwrap_or(0.0)
    }
}

/// The load script, running against a server.
pub struct Load {
    script: JsonScript,
    records: Vec<Record>,
    phases: Vec<(String, Tally)>,
    started: Instant,
    /// The longest a phase may take to see what it waits for.
    limit: Duration,
}

impl Load {
    /// Starts `e2e/load_with_faults.py` against `server` with `env` added to its
    /// environment, and waits (at most `limit`) until its sessions are connected.
    pub fn start(server: &Server, env: &[(&str, &str)], limit: Duration) -> Load {
        let script = JsonScript::start("load", "load_with_faults.py", server, env);
        let mut load = Load {
            script,
            records: Vec::new(),
            phases: Vec::new(),
            started: Instant::now(),
            limit,
        };
        let ready = load.next("the load's sessions to connect");
        assert_eq!(ready["ready"], true, "the load script said {ready}");
        println!(
            "load: {} sessions, {} workers calling without pause",
            ready["sessions"], ready["workers"]
        );
        load
    }

    /// The script's next line; panics if none comes within the limit.
    fn next(&mut self, what: &str) -> Value {
        self.script.next(self.limit, what)
    }

    /// Starts a phase: the answers from now on count towards it.
    pub fn phase(&mut self, name: &str) {
        self.phases.push((name.to_owned(), Tally::default()));
    }

    /// The current phase's tally.
    pub fn tally(&self) -> &Tally {
        &self.phases.last().expect("a phase has begun").1
    }

    /// Takes answers until `enough` holds of the current phase's tally; panics if that
    /// takes longer than the limit.
    pub fn until(&mut self, what: &str, enough: impl Fn(&Tally) -> bool) {
        let began = Instant::now();
        loop {
            let (name, tally) = self.phases.last().expect("a phase has begun");
            if enough(tally) {
                break;
            }
            assert!(
                began.elapsed() < self.limit,
                "phase `{name}`: {what}: not within {:?}; seen {:?}",
                self.limit,
                tally.outcomes
            );
            let value = self.next(what);
            self.take(value);
        }
    }

    fn take(&mut self, value: Value) {
        let phase = self.phases.len() - 1;
        if value.get("session_lost").is_some() {
            let detail = value["detail"].as_str().unwrap_or_default().to_owned();
            self.phases[phase].1.sessions_lost.push(detail);
            return;
        }
        let text = |key: &str| value[key].as_str().map(str::to_owned);
        let record = Record {
            phase,
            tool: text("tool").unwrap_or_else(|| panic!("a record without a tool: {value}")),
            outcome: text("outcome").unwrap_or_default(),
            ms: value["ms"].as_f64().unwrap_or(f64::INFINITY),
            id: value["id"].as_i64(),
            title: text("title"),
            detail: text("detail"),
            retried: text("retried"),
        };
        self.phases[phase].1.add(&record);
        self.records.push(record);
    }

    /// Prints the current phase: its calls by outcome and latencies, then `more`.
    pub fn print_phase(&self, more: &str) {
        let (name, tally) = self.phases.last().expect("a phase has begun");
        let outcomes: Vec<String> = tally
            .outcomes
            .iter()
            .map(|(outcome, count)| format!("{outcome} {count}"))
            .collect();
        println!(
            "[{:>5.1} s] {name:<24} {:>5} calls ({}), p50 {:.1} ms, p99 {:.1} ms, max {:.1} \
             ms{more}",
            self.started.elapsed().as_secs_f64(),
            tally.calls,
            outcomes.join(", "),
            tally.quantile(0.5),
            tally.quantile(0.99),
            tally.quantile(1.0),
        );
        if !tally.sessions_lost.is_empty() {
            println!(
                "          {} sessions lost and connected again: {:?}",
                tally.sessions_lost.len(),
                tally.sessions_lost
            );
        }
    }

    /// Every session lost so far, with the phase it was lost in.
    pub fn sessions_lost(&self) -> Vec<(String, String)> {
        self.phases
            .iter()
            .flat_map(|(name, tally)| {
                tally
                    .sessions_lost
                    .iter()
                    .map(move |d| (name.clone(), d.clone()))
            })
            .collect()
    }

    /// Stops the load (closes its stdin), takes the answers of the calls in flight, and
    /// returns every answer.
    pub fn finish(mut self) -> Vec<Record> {
        self.phase("stopping");
        self.script.stop();
        let done = loop {
            let value = self.next("the load to stop");
            if value.get("done").is_some() {
                break value;
            }
            self.take(value);
        };
        let status = self.script.wait(self.limit);
        assert!(
            status.is_some_and(|status| status.success()),
            "the load script did not exit cleanly: {status:?}"
        );
        assert_eq!(
            done["calls"].as_u64(),
            Some(self.records.len() as u64),
            "the load script counted other calls than the answers it printed"
        );
        std::mem::take(&mut self.records)
    }
}

/// The notes whose `create_note` was acknowledged in `records`, checked against the store:
/// what is in the notes table (id → title, read with `psql`), the acknowledged writes, and
/// those of them missing from it or stored with another title.
pub struct Writes<'a> {
    pub stored: HashMap<i64, String>,
    pub acknowledged: Vec<(i64, &'a str)>,
    pub lost: Vec<(i64, &'a str)>,
}

impl<'a> Writes<'a> {
    /// Reads the notes table of `cluster` and compares it with `records`.
    pub fn check(records: &'a [Record], cluster: &Cluster) -> Self {
        let stored: HashMap<i64, String> = cluster
            .sql("SELECT id || '|' || title FROM notes")
            .lines()
            .filter_map(|line| {
                let (id, title) = line.split_once('|')?;
                Some((id.parse().ok()?, title.to_owned()))
            })
            .collect();
        let acknowledged: Vec<(i64, &str)> = records
            .iter()
            .filter(|record| record.tool == "create_note" && record.outcome == "ok")
            .filter_map(|record| Some((record.id?, record.title.as_deref()?)))
            .collect();
        let lost = acknowledged
            .iter()
            .filter(|(id, title)| stored.get(id).map(String::as_str) != Some(*title))
            .copied()
            .collect();
        Writes {
            stored,
            acknowledged,
            lost,
        }
    }

    /// Panics if any acknowledged write is lost, or none was acknowledged.
    pub fn assert_none_lost(&self) {
        assert!(
            self.lost.is_empty(),
            "{} acknowledged writes are not in the store, e.g. {:?}",
            self.lost.len(),
            &self.lost[..self.lost.len().min(10)]
        );
        assert!(!self.acknowledged.is_empty(), "no write was acknowledged");
    }
}

/// Panics, naming how many and the first ten, if any of `wrong` (calls answered as they
/// should not have been) exists.
pub fn assert_none_wrong(wrong: &[&Record]) {
    assert!(
        wrong.is_empty(),
        "{} calls were answered wrongly, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}

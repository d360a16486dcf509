//! `notes-server` as the resource server of a real OpenID provider (`support::oidc`:
//! panva's `oidc-provider` on loopback), driven by the official MCP SDKs with the
//! provider's own tokens. The server is started with `--issuer` and no `--jwks`: it
//! discovers the provider's metadata and fetches its keys itself.
//!
//! - [`python_sdk_with_the_providers_tokens_while_its_keys_rotate`]: the Python SDK
//!   (`e2e/http/oidc_client.py`) with tokens for the server's URL: notes:read lists and
//!   reads, notes:write creates, a token for another resource is refused. The provider
//!   then rotates its keys in place, [B, A]: a token signed by B works at once (the
//!   server fetches the key set for the unknown `kid`, sooner than its periodic refresh,
//!   as its log shows), and one signed by A still works; then [B]: once the server's
//!   periodic refresh has seen A go (its log is polled, bounded), a token signed by A is
//!   refused with 401 `invalid_token` and B's work.
//! - [`typescript_sdk_steps_up_with_client_credentials`]: the TypeScript SDK's
//!   client-credentials provider (`e2e/http/oidc_step_up.mjs`) starting with notes:read:
//!   create_note gets 403 `insufficient_scope`; the SDK alone asks for notes:read again
//!   and gives up (checked, see the script), so the script widens the provider's scope from
//!   the challenge and the SDK's own flow gets the new token and retries; delete_note (a
//!   role) gets the generic denial, no 403.
//!
//! Needs `node` and `npm` (for the provider, and the TypeScript SDK) and, for the first,
//! Python 3.10+ (the virtualenv of `python_client.rs`); without them the tests are skipped
//! with a message, except under `CI`, where they fail. Every wait is bounded. Each test
//! prints its figures (times, key-set fetches).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use secure_tool_tests::support;
use secure_tool_tests::support::http_server::Server;
use secure_tool_tests::support::oidc::{self, Provider, decode_unverified};
use serde_json::json;

/// How long one client script may run.
const CLIENT_RUN: Duration = Duration::from_secs(180);
/// How often the server fetches the provider's keys again, in seconds: short, so that a
/// key's removal is seen soon, and long enough to tell a refresh asked for by an unknown
/// `kid` from a periodic one.
const KEY_REFRESH_SECS: u64 = 8;
/// How long the server may take to log a key set it should have fetched.
const KEY_SET_SEEN: Duration = Duration::from_secs(3 * KEY_REFRESH_SECS + 10);
/// A refresh this much sooner than the period after the one before was not periodic.
const NOT_PERIODIC_MARGIN: Duration = Duration::from_secs(2);
/// What the server logs when its key set changed, and when a refresh found it unchanged
/// (at debug, which these tests turn on for `secure_tool::oauth`).
const FETCHED: &str = "fetched the issuer's key set";
const UNCHANGED: &str = "the issuer's key set is unchanged";
/// A resource other than the server.
const ELSEWHERE: &str = "http://127.0.0.1:9/mcp";

#[test]
fn python_sdk_with_the_providers_tokens_while_its_keys_rotate() {
    let Some(setup) = oidc::setup() else {
        return;
    };
    let Some(python) = python() else {
        return;
    };
    let keys = setup.keys(&["key-a", "key-b"]);
    let (a, b) = (&keys[0], &keys[1]);
    let mut provider = Provider::start(&setup, std::slice::from_ref(a));
    let issuer = provider.issuer();

    // Built first, so that the startup below is timed without cargo.
    support::build_notes_server();
    let started = Instant::now();
    let refresh = KEY_REFRESH_SECS.to_string();
    let mut server = Server::start_with_issuer(
        "oidc",
        &issuer,
        &[
            ("NOTES_OAUTH_KEY_REFRESH_SECS", refresh.as_str()),
            ("NOTES_LOG", "info,rmcp=warn,secure_tool::oauth=debug"),
        ],
    );
    let startup = started.elapsed();
    let url = server.url.clone();
    let first = refreshes(&server.log());
    assert!(
        first
            .first()
            .is_some_and(|r| r.kids == "key-a" && r.changed),
        "the server did not log the provider's key set [key-a] before listening:\n{}",
        server.log()
    );

    // Key A signs; each scope does what it allows; another audience is refused.
    let writer_a = provider.token(&url, "notes:write");
    let reader_a = provider.token(&url, "notes:read");
    let elsewhere = provider.token(ELSEWHERE, "notes:read notes:write");
    assert_eq!(decode_unverified(&writer_a).0["kid"], "key-a");
    assert_eq!(decode_unverified(&elsewhere).1["aud"], ELSEWHERE);
    let phase_one = run_python(
        &python,
        &mut server,
        &[
            ("notes:write token, key A", &writer_a, "write"),
            ("notes:read token, key A", &reader_a, "read"),
            ("token for another resource", &elsewhere, "invalid_token"),
        ],
    );

    // [B, A]: B signs. Right after a periodic refresh, so that the next one is a whole
    // period away: the fetch for B's unknown kid must come sooner.
    let periodic = next_refresh(&server, refreshes(&server.log()).len());
    provider.rotate(&[b.clone(), a.clone()]);
    let rotated = Instant::now();
    let writer_b = provider.token(&url, "notes:write");
    assert_eq!(decode_unverified(&writer_b).0["kid"], "key-b");
    let phase_two = run_python(
        &python,
        &mut server,
        &[
            ("notes:write token, key B (new)", &writer_b, "write"),
            (
                "notes:read token, key A (before the rotation)",
                &reader_a,
                "read",
            ),
        ],
    );
    let after_rotation = rotated.elapsed();
    let log = server.log();
    let all = refreshes(&log);
    let fetched_b = all
        .iter()
        .position(|r| r.kids == "key-b key-a" && r.changed)
        .unwrap_or_else(|| panic!("the server never logged the key set [key-b, key-a]:\n{log}"));
    let before = &all[fetched_b - 1];
    let gap = all[fetched_b].at.saturating_sub(before.at);
    assert!(
        gap + NOT_PERIODIC_MARGIN < Duration::from_secs(KEY_REFRESH_SECS),
        "the key set with B was fetched {gap:?} after the refresh before it (period \
         {KEY_REFRESH_SECS} s): the periodic refresh, not the unknown kid, fetched it:\n{log}"
    );
    assert!(
        all[fetched_b].at >= periodic,
        "the key set with B was fetched before the rotation's periodic mark:\n{log}"
    );

    // [B]: once a periodic refresh saw A go, A's tokens are refused, B's work.
    provider.rotate(std::slice::from_ref(b));
    let removed = Instant::now();
    let seen = wait_for_refresh(&server, |r| r.kids == "key-b" && r.changed);
    let removal_seen = removed.elapsed();
    let reader_b = provider.token(&url, "notes:read");
    let phase_three = run_python(
        &python,
        &mut server,
        &[
            (
                "notes:read token, key A (removed)",
                &reader_a,
                "invalid_token",
            ),
            (
                "notes:write token, key A (removed)",
                &writer_a,
                "invalid_token",
            ),
            ("notes:read token, key B", &reader_b, "read"),
            (
                "notes:write token, key B (before the removal)",
                &writer_b,
                "write",
            ),
        ],
    );

    server.stop();
    let log = server.log();
    for (what, token) in [
        ("writer A", &writer_a),
        ("reader A", &reader_a),
        ("writer B", &writer_b),
        ("reader B", &reader_b),
        ("elsewhere", &elsewhere),
    ] {
        let signature = token.rsplit('.').next().unwrap_or(token);
        assert!(
            !log.contains(signature),
            "the {what} token reached the server's log:\n{log}"
        );
    }
    assert!(
        log.contains("rejected a bearer token") && log.contains("InvalidAudience"),
        "the server did not log the refusal of the token for another resource:\n{log}"
    );
    let unknown_a = format!("no RS256 key has the token's kid Some(\"{}\")", a.kid);
    assert!(
        log.lines()
            .skip_while(|line| !line.ends_with(&format!("{FETCHED} kids={}", b.kid)))
            .any(|line| line.contains(&unknown_a)),
        "the server did not log the refusal of A's tokens for their unknown kid after A's \
         removal:\n{log}"
    );
    let all = refreshes(&log);
    let provider_log = provider.log();
    let jwks_served = provider_log.matches("request GET /jwks 200").count();
    let metadata_served = provider_log
        .matches("request GET /.well-known/oauth-authorization-server 200")
        .count();
    println!(
        "oidc, python: server up with discovered keys in {}; key set fetched {} times by the \
         server ({} changes: {}), the provider served /jwks {jwks_served} times and its RFC 8414 \
         metadata {metadata_served} times; the key set with B fetched for the unknown kid {} \
         after the periodic refresh before it (period {KEY_REFRESH_SECS} s); clients after \
         [B, A] done in {}; [B] seen by the server {} after the rotation (the refresh at {}); \
         client runs {} / {} / {}",
        ms(startup),
        all.len(),
        all.iter().filter(|r| r.changed).count(),
        all.iter()
            .filter(|r| r.changed)
            .map(|r| format!("[{}]", r.kids))
            .collect::<Vec<_>>()
            .join(" "),
        ms(gap),
        ms(after_rotation),
        ms(removal_seen),
        seen.stamp,
        ms(phase_one),
        ms(phase_two),
        ms(phase_three),
    );
    assert!(
        jwks_served >= all.len(),
        "the provider served /jwks {jwks_served} times, the server logged {} fetches",
        all.len()
    );
}

#[test]
fn typescript_sdk_steps_up_with_client_credentials() {
    let Some(node) = support::node::tools() else {
        return;
    };
    let dir = support::node::install_packages(&node);
    let Some(setup) = oidc::setup() else {
        return;
    };
    let keys = setup.keys(&["key-step-up"]);
    let provider = Provider::start(&setup, &keys);
    let issuer = provider.issuer();
    let mut server = Server::start_with_issuer("step-up", &issuer, &[]);

    let mut client = Command::new(&node.node);
    client
        .arg(dir.join("oidc_step_up.mjs"))
        .current_dir(&dir)
        .env("NOTES_OIDC_CLIENT_ID", oidc::CLIENT_ID)
        .env("NOTES_OIDC_CLIENT_SECRET", oidc::CLIENT_SECRET);
    let took = run_client(&mut server, "step-up", client, 7);

    server.stop();
    let log = server.log();
    let provider_log = provider.log();
    let tokens = provider_log.matches("request POST /token 200").count();
    // native: one token, one more after its 403; step-up: one token, one after its 403.
    assert_eq!(
        tokens, 4,
        "the provider issued {tokens} tokens, expected 4:\n{provider_log}"
    );
    // native: create_note, and again after its new token; step-up: create_note once.
    let step_ups = log
        .lines()
        .filter(|line| line.contains("asked the client to step up scope=notes:write"))
        .count();
    assert_eq!(
        step_ups, 3,
        "the server logged {step_ups} step-up challenges for notes:write, expected 3:\n{log}"
    );
    assert!(
        log.lines().any(|line| line.contains("secure_tool::audit")
            && line.contains("delete_note")
            && line.contains("deny")),
        "no audit event of the denied delete_note:\n{log}"
    );
    println!(
        "oidc, typescript step-up: {tokens} tokens issued by the provider, {step_ups} step-up \
         challenges (403) logged by the server, client run {}",
        ms(took)
    );
}

/// The virtualenv's interpreter, or `None` after saying why the test is skipped (under
/// `CI`, a missing Python fails it).
fn python() -> Option<PathBuf> {
    let host = std::env::var_os("NOTES_E2E_PYTHON").map_or_else(|| "python3".into(), PathBuf::from);
    if let Err(error) = Command::new(&host).arg("--version").output()
        && error.kind() == ErrorKind::NotFound
    {
        let message = format!(
            "`{}` was not found, and this test drives notes-server with the official MCP \
             Python SDK: {}",
            host.display(),
            support::INSTALL_PYTHON
        );
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPED: {message}");
        return None;
    }
    let requirements = support::workspace_root().join("tests/e2e/requirements.txt");
    Some(support::ensure_venv(
        &support::host_python(),
        &support::target_directory(),
        &requirements,
    ))
}

/// Runs `oidc_client.py` with `cases` (name, token, expectation); its run time.
fn run_python(python: &Path, server: &mut Server, cases: &[(&str, &String, &str)]) -> Duration {
    let cases: Vec<_> = cases
        .iter()
        .map(|(name, token, expect)| json!({"name": name, "token": token, "expect": expect}))
        .collect();
    let mut client = Command::new(python);
    client
        .arg(support::workspace_root().join("tests/e2e/http/oidc_client.py"))
        .env(
            "NOTES_OIDC_CASES",
            serde_json::to_string(&cases).expect("JSON"),
        )
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    run_client(server, "oidc", client, cases.len())
}

/// Runs `client` against `server` until it exits (bounded): it must pass at least
/// `min_checks` checks and end with `all checks passed`. Its run time.
fn run_client(server: &mut Server, name: &str, client: Command, min_checks: usize) -> Duration {
    server.run_client(name, client, min_checks, CLIENT_RUN).1
}

/// One refresh of the key set, as the server logged it.
struct Refresh {
    /// When, as a time since the Unix epoch (from the line's UTC timestamp).
    at: Duration,
    /// The line's timestamp, as logged.
    stamp: String,
    /// The kids, space separated.
    kids: String,
    /// Whether the set changed (logged at info) or not (at debug).
    changed: bool,
}

/// Every refresh of the key set in `log`, in order.
fn refreshes(log: &str) -> Vec<Refresh> {
    log.lines()
        .filter_map(|line| {
            let changed = line.contains(FETCHED);
            if !changed && !line.contains(UNCHANGED) {
                return None;
            }
            let stamp = line.split_whitespace().next()?.to_owned();
            let kids = line
                .split("kids=")
                .nth(1)?
                .trim()
                .trim_matches('"')
                .to_owned();
            Some(Refresh {
                at: timestamp(&stamp)?,
                stamp,
                kids,
                changed,
            })
        })
        .collect()
}

/// Waits (bounded) for a refresh after the first `count`; its time.
fn next_refresh(server: &Server, count: usize) -> Duration {
    let deadline = Instant::now() + KEY_SET_SEEN;
    loop {
        if let Some(refresh) = refreshes(&server.log()).into_iter().nth(count) {
            return refresh.at;
        }
        assert!(
            Instant::now() < deadline,
            "no periodic refresh of the key set within {KEY_SET_SEEN:?}:\n{}",
            server.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (bounded) for a refresh that `matches`.
fn wait_for_refresh(server: &Server, matches: impl Fn(&Refresh) -> bool) -> Refresh {
    let deadline = Instant::now() + KEY_SET_SEEN;
    loop {
        if let Some(refresh) = refreshes(&server.log())
            .into_iter()
            .find(|refresh| matches(refresh))
        {
            return refresh;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not log the expected key set within {KEY_SET_SEEN:?}:\n{}",
            server.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// `2026-12-03T01:36:40.559486Z` as a time since the Unix epoch.
fn timestamp(stamp: &str) -> Option<Duration> {
    let stamp = stamp.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut date = date.split('-').map(|part| part.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut hms = hms.split(':').map(|part| part.parse::<u64>().ok());
    let (hour, minute, second) = (hms.next()??, hms.next()??, hms.next()??);
    let nanos: u32 = format!("{fraction:0<9}").get(..9)?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    let at = Duration::new(seconds, nanos);
    // Sanity: within a day of this machine's clock.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    (now.abs_diff(at) < Duration::from_secs(86_400)).then_some(at)
}

fn ms(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

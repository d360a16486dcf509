//! The command line of `notes-server`: the example notes service, served over stdio, or
//! over streamable HTTP behind OAuth bearer tokens with `--http ADDR` (`src/http.rs`).
//!
//! ```text
//! notes-server [--db PATH | --database-url URL] [OPTIONS]
//! notes-server --http ADDR --issuer URL [OPTIONS]
//! notes-server --print-manifest
//! ```
//!
//! Every setting is a flag, with a variable as its fallback (`--database-url` and
//! `DATABASE_URL`, `--breaker-failures` and `NOTES_BREAKER_FAILURES`...): the flags are
//! declared, and their `--help` written, in `src/cli/flags.rs`, [`Settings`],
//! [`ConnectionLimits`](crate::connections::ConnectionLimits) and `src/http.rs`.
//!
//! The store is an embedded SQLite file (`--db`, default `notes.db`) unless a PostgreSQL
//! connection string is given (`--database-url`, or `DATABASE_URL`). `--print-manifest`
//! prints the tool manifest (every tool's schemas and security posture, as JSON) and
//! exits, touching no database.
//!
//! The caller over stdio is whoever started the server; its identity comes from the
//! command line: `--subject` (default `local-user`), `--scopes` (comma-separated, default
//! `notes:read,notes:write`), `--roles` (comma-separated, default none). Logs, including
//! the audit trail, go to stderr, each line cut at 8 KiB; `--log` filters them (default
//! `info,rmcp=warn`: rmcp logs client data whole at INFO; e.g.
//! `--log secure_tool::audit=info,warn`).
//!
//! The store's reads and writes each have a circuit breaker; a health monitor probes
//! both (the write probe is a one-row heartbeat) and degrades the server to read-only
//! while writes fail. Their timings are [`Settings`].
//!
//! Each note is also the resource `notes://{id}`, which callers who may read it can
//! subscribe to: once the server is built, [`updates::notify_subscribers`] starts the task
//! that tells them when `delete_note` deletes it.

mod flags;
pub(crate) mod values;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::error::ErrorKind;
use hyper::Uri;
use secure_tool::Principal;
use secure_tool::cedar::CedarPolicies;
use secure_tool::health::HealthMonitor;
use secure_tool::rate::Rate;
use secure_tool::server::ToolLists;
use secure_tool::{SecureServer, SecureServerBuilder};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use crate::http::{self, HttpConfig};
use crate::logging;
use crate::operations;
use crate::policy::RemotePolicy;
use crate::settings::Settings;
use crate::store::postgres::{Database, InvalidDatabaseUrl};
use crate::store::{Archive, Heartbeat, Store, StoreError};
use crate::telemetry::Telemetry;
use crate::tools::Notes;
use crate::updates;

#[cfg(test)]
pub(crate) use flags::{in_a_child_process, parse_without_env};

/// Where the notes are kept.
enum Backend {
    Sqlite(PathBuf),
    Postgres(Box<Database>),
}

/// The command line, checked.
struct Options {
    backend: Backend,
    archive: PathBuf,
    backup_dir: Option<PathBuf>,
    print_manifest: bool,
    tool_lists: ToolLists,
    /// The server's limit over every call of a caller, if any.
    rate_limit: Option<Rate>,
    /// Where the operations endpoints are served, if anywhere.
    metrics: Option<std::net::SocketAddr>,
    /// Where the calls' spans are exported (OTLP/HTTP), if anywhere.
    otlp_endpoint: Option<String>,
    log: Targets,
    settings: Settings,
    /// The policy service `delete_note` asks, if any.
    policy: Option<Uri>,
    /// The Cedar policy file that decides `delete_note` instead, if any.
    cedar_policies: Option<PathBuf>,
    /// `None`: serve stdio, as `principal`.
    http: Option<HttpConfig>,
    principal: Principal,
}

/// Why the server does not start from its command line.
enum Refusal {
    /// `--help`, or a bad flag or value: clap prints it (the help to stdout, an error to
    /// stderr with the usage).
    Clap(clap::Error),
    /// A setting that cannot work: the message alone.
    Invalid(String),
}

impl From<clap::Error> for Refusal {
    fn from(error: clap::Error) -> Self {
        Refusal::Clap(error)
    }
}

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Refusal::Invalid(message)
    }
}

impl Options {
    /// The options `args` (the program's name first) and the environment give.
    fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, Refusal> {
        let parsed = flags::parse(args)?;
        Self::check(parsed, std::env::var(http::HMAC_SECRET_VAR).ok())
    }

    /// The options of the command line `parsed`, checked, with `hmac_secret` (the value of
    /// [`http::HMAC_SECRET_VAR`]).
    fn check(parsed: flags::Parsed, hmac_secret: Option<String>) -> Result<Self, Refusal> {
        let flags::Parsed { cli, given } = parsed;
        let given = |id: &str| given.contains(id);
        // An empty variable counts as unset, as it always has.
        let database_url = cli
            .database_url
            .filter(|url| !url.trim().is_empty())
            .map(|url| {
                let source = if given("database_url") {
                    "--database-url"
                } else {
                    "DATABASE_URL"
                };
                (source, url)
            });
        let backend = match database_url {
            Some((source, _)) if given("db") => {
                let message = format!(
                    "--db (SQLite) and {source} (PostgreSQL) choose different stores: give one"
                );
                return Err(flags::command()
                    .error(ErrorKind::ArgumentConflict, message)
                    .into());
            }
            None => Backend::Sqlite(cli.db),
            Some((source, url)) => Backend::Postgres(Box::new(
                url.parse()
                    .map_err(|error: InvalidDatabaseUrl| format!("{source}: {error}"))?,
            )),
        };
        let policy_source = if given("policy_url") {
            "--policy-url"
        } else {
            crate::policy::POLICY_URL_VAR
        };
        let policy = RemotePolicy::endpoint(cli.policy_url.as_deref(), policy_source)?;
        // An empty variable counts as unset.
        let cedar_policies = cli
            .cedar_policies
            .filter(|path| !path.as_os_str().is_empty());
        if cedar_policies.is_some() && policy.is_some() {
            let cedar = if given("cedar_policies") {
                "--cedar-policies"
            } else {
                crate::cedar::CEDAR_POLICIES_VAR
            };
            let message = format!("{cedar} and {policy_source} both decide delete_note: give one");
            return Err(flags::command()
                .error(ErrorKind::ArgumentConflict, message)
                .into());
        }
        let http = cli.http.resolve(given, hmac_secret)?;
        if http.is_some() {
            // Over HTTP each request's token names its caller.
            let caller = ["subject", "scopes", "roles"];
            if let Some(flag) = caller.iter().find(|id| given(id)) {
                return Err(format!("--{flag} only applies over stdio, without --http").into());
            }
        }
        let principal = Principal::new(cli.caller.subject)
            .with_scopes(list(&cli.caller.scopes))
            .with_roles(list(cli.caller.roles.as_deref().unwrap_or_default()));
        Ok(Options {
            backend,
            archive: cli.archive,
            backup_dir: cli.backup_dir.filter(|dir| !dir.as_os_str().is_empty()),
            print_manifest: cli.print_manifest,
            tool_lists: match cli.tool_lists {
                flags::ToolListing::All => ToolLists::All,
                flags::ToolListing::PerCaller => ToolLists::PerCaller,
            },
            rate_limit: cli.rate_limit,
            metrics: cli.metrics,
            otlp_endpoint: cli.otlp_endpoint,
            log: cli.log,
            settings: cli.settings,
            policy,
            cedar_policies,
            http,
            principal,
        })
    }
}

/// The items of a comma-separated list, trimmed, empty ones skipped.
fn list(items: &str) -> Vec<String> {
    items
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Opens the store on its backend, and the archive.
async fn open(
    backend: &Backend,
    archive: &Path,
    settings: &Settings,
) -> Result<(Store, Heartbeat, Archive), StoreError> {
    let (store, heartbeat) = match backend {
        Backend::Sqlite(path) => Store::open(path, settings.busy_timeout)?,
        Backend::Postgres(database) => {
            Store::connect(database, settings.postgres_timeouts()).await?
        }
    };
    let archive = Archive::open(archive, settings.busy_timeout)?;
    Ok((store, heartbeat, archive))
}

/// The server as it is served: the tools, write degradation by `monitor`, every output
/// checked against its schema, and the tool lists `--tool-lists` asks for.
fn secure_server(
    notes: Notes,
    monitor: HealthMonitor,
    lists: ToolLists,
    rate_limit: Option<Rate>,
) -> SecureServerBuilder<Notes> {
    let builder = SecureServer::builder(notes)
        .health(monitor)
        .check_outputs(true)
        .tool_lists(lists);
    match rate_limit {
        Some(rate) => builder.rate_limit(rate),
        None => builder,
    }
}

/// `builder` with the Cedar policies of `path`, if any, checked against its tools; the
/// policies, to reload.
fn with_cedar(
    builder: SecureServerBuilder<Notes>,
    path: Option<&Path>,
    store: &Store,
) -> Result<(SecureServerBuilder<Notes>, Option<CedarPolicies>), String> {
    let Some(path) = path else {
        return Ok((builder, None));
    };
    let policies = crate::cedar::load(path, store.clone())?;
    let builder = builder
        .cedar(policies.clone())
        .map_err(|error| error.to_string())?;
    tracing::info!(
        file = %path.display(),
        digest = %policies.digest(),
        "delete_note is decided by Cedar policies"
    );
    Ok((builder, Some(policies)))
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Prints the manifest of the server that `options` configure. The tools and their
/// posture do not depend on the backend: an empty store in memory stands in for it.
/// Serves the operations endpoints (`--metrics ADDR`), with `server`'s series, if asked
/// to; the exit code when the address cannot be bound.
async fn serve_operations(
    addr: Option<std::net::SocketAddr>,
    monitor: &HealthMonitor,
    server: &SecureServer<Notes>,
) -> Result<(), ExitCode> {
    let Some(addr) = addr else {
        return Ok(());
    };
    let mut registry = secure_tool::metrics::prometheus_client::registry::Registry::default();
    server.register_metrics(&mut registry);
    operations::serve(addr, monitor.clone(), registry)
        .await
        .map_err(|message| {
            eprintln!("notes-server: {message}");
            ExitCode::FAILURE
        })
}

fn print_manifest(
    options: Options,
    customize: impl FnOnce(SecureServerBuilder<Notes>) -> SecureServerBuilder<Notes>,
) -> ExitCode {
    let opened = Store::in_memory().and_then(|opened| Ok((opened, Archive::in_memory()?)));
    let ((store, heartbeat), archive) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("notes-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    let settings = &options.settings;
    let store_for_cedar = store.clone();
    let notes = Notes::new(store, archive, options.backup_dir, settings);
    let monitor = notes.health_monitor(heartbeat, settings);
    let server = customize(secure_server(
        notes,
        monitor,
        options.tool_lists,
        options.rate_limit,
    ));
    let server = match with_cedar(server, options.cedar_policies.as_deref(), &store_for_cedar) {
        Ok((server, _)) => server.build(),
        Err(message) => {
            eprintln!("notes-server: {message}");
            return ExitCode::from(2);
        }
    };
    let manifest = server.manifest().to_json();
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(manifest.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("notes-server: cannot print the manifest: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `notes-server` as its arguments and environment ask: prints the help or the
/// manifest, or serves the tools over stdio, or over HTTP until a signal stops it.
///
/// `customize` gets the server's builder before it is built: a program that serves
/// these tools with more of its own (a server-wide policy, another authorization
/// deadline) adds it there; `notes-server` itself passes the builder through.
pub async fn run(
    customize: impl FnOnce(SecureServerBuilder<Notes>) -> SecureServerBuilder<Notes>,
) -> ExitCode {
    let mut options = match Options::parse(std::env::args_os()) {
        Ok(options) => options,
        Err(Refusal::Clap(error)) => {
            // The help to stdout (exit code 0), an error to stderr (2).
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
        Err(Refusal::Invalid(message)) => {
            eprintln!("notes-server: {message}");
            return ExitCode::from(2);
        }
    };
    let configured = RemotePolicy::configure(options.policy.take())
        .and_then(|()| crate::cedar::decide_deletes_with_cedar(options.cedar_policies.is_some()));
    if let Err(message) = configured {
        eprintln!("notes-server: {message}");
        return ExitCode::FAILURE;
    }
    // Client data is never logged whole by default, and no line is longer than
    // `logging::MAX_LINE`: see `logging::default_filter` for why rmcp is at WARN.
    // The calls' spans are for the exporter: a log line does not carry their fields.
    let filter = std::mem::take(&mut options.log).with_target(
        secure_tool::audit::SPAN_TARGET,
        tracing_subscriber::filter::LevelFilter::OFF,
    );
    let (_telemetry, spans) = match options.otlp_endpoint.as_deref().map(Telemetry::export_to) {
        None => (None, None),
        Some(Ok((telemetry, layer))) => (Some(telemetry), Some(layer)),
        Some(Err(message)) => {
            eprintln!("notes-server: {message}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(logging::BoundedStderr)
                .with_ansi(false)
                .with_filter(filter),
        )
        .with(spans)
        .init();

    if options.print_manifest {
        return print_manifest(options, customize);
    }
    let opened = open(&options.backend, &options.archive, &options.settings).await;
    let (store, heartbeat, archive) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            // The cause too (refused, timed out...): the server is named by host, port
            // and database only.
            eprintln!(
                "notes-server: {}",
                secure_tool::sanitize::error_chain(&error)
            );
            return ExitCode::FAILURE;
        }
    };
    let database = match &options.backend {
        Backend::Sqlite(path) => path.display().to_string(),
        // Host, port and database: never the user or the password.
        Backend::Postgres(database) => database.target().to_owned(),
    };
    let backend = store.backend();
    let settings = options.settings;
    let store_for_cedar = store.clone();
    let notes = Notes::new(store, archive, options.backup_dir, &settings);
    let monitor = notes.health_monitor(heartbeat, &settings);
    // The probes run until this guard is dropped, when the server stops.
    let _probes = monitor.start();
    let server = customize(secure_server(
        notes,
        monitor.clone(),
        options.tool_lists,
        options.rate_limit,
    ));
    let (server, cedar) =
        match with_cedar(server, options.cedar_policies.as_deref(), &store_for_cedar) {
            Ok(built) => built,
            Err(message) => {
                eprintln!("notes-server: {message}");
                return ExitCode::from(2);
            }
        };
    // Until the server stops: `SIGHUP` reads the policy file again.
    let _reload = match cedar.map(crate::cedar::reload_on_hangup).transpose() {
        Ok(task) => task.map(AbortOnDrop),
        Err(error) => {
            eprintln!("notes-server: cannot listen for SIGHUP: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(http) = options.http {
        // No local principal: every HTTP request brings its own, from its bearer token.
        tracing::info!(
            backend,
            %database,
            archive = %options.archive.display(),
            ?settings,
            "notes-server starting on HTTP"
        );
        let server = server.build();
        if let Err(code) = serve_operations(options.metrics, &monitor, &server).await {
            return code;
        }
        // Until the server stops: subscribers of a note are told when it is deleted.
        let _updates = updates::notify_subscribers(&server);
        return match http::serve(server, http).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("notes-server: {message}");
                ExitCode::FAILURE
            }
        };
    }
    let principal = options.principal;
    tracing::info!(
        backend,
        %database,
        archive = %options.archive.display(),
        %principal,
        ?settings,
        "notes-server starting on stdio"
    );
    let server = server.local_principal(principal).build();
    if let Err(code) = serve_operations(options.metrics, &monitor, &server).await {
        return code;
    }
    let _updates = updates::notify_subscribers(&server);
    let running = match server.serve_stdio().await {
        Ok(running) => running,
        Err(error) => {
            tracing::error!(%error, "MCP handshake failed");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = running.waiting().await {
        tracing::error!(%error, "server stopped with an error");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> Result<Options, String> {
        let parsed = parse_without_env(args).map_err(|error| error.to_string())?;
        Options::check(parsed, None).map_err(|refusal| match refusal {
            Refusal::Clap(error) => error.to_string(),
            Refusal::Invalid(message) => message,
        })
    }

    #[test]
    fn sqlite_is_the_default_store_and_postgres_is_chosen_by_url() {
        let sqlite = options(&["--database-url", " "]).unwrap();
        assert!(
            matches!(&sqlite.backend, Backend::Sqlite(path) if path == Path::new("notes.db")),
            "an empty URL is none"
        );
        let postgres = options(&["--database-url", "postgres://ada@127.0.0.1:5432/notes"]);
        assert!(matches!(postgres.unwrap().backend, Backend::Postgres(_)));
        let error = options(&["--db", "x.db", "--database-url", "postgres://ada@h/notes"])
            .err()
            .unwrap();
        assert!(
            error.contains(
                "--db (SQLite) and --database-url (PostgreSQL) choose different stores: give one"
            ),
            "{error}"
        );
        let error = options(&["--database-url", "postgres://ada:secret@h:notaport/notes"])
            .err()
            .unwrap();
        assert!(
            error.starts_with("--database-url: not a PostgreSQL connection string"),
            "{error}"
        );
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn the_caller_over_stdio_comes_from_its_flags() {
        let local = options(&[]).unwrap().principal;
        assert_eq!(local.subject(), Some("local-user"));
        assert_eq!(
            local.scopes().collect::<Vec<_>>(),
            ["notes:read", "notes:write"]
        );
        assert_eq!(local.roles().count(), 0);
        let ada = options(&[
            "--subject",
            "ada",
            "--scopes",
            "",
            "--roles",
            " admin, ,audit ",
        ])
        .unwrap()
        .principal;
        assert_eq!(ada.subject(), Some("ada"));
        assert_eq!(ada.scopes().count(), 0);
        assert_eq!(ada.roles().collect::<Vec<_>>(), ["admin", "audit"]);
    }

    #[test]
    fn the_caller_flags_do_not_apply_over_http() {
        let http = [
            "--http",
            "127.0.0.1:0",
            "--issuer",
            "https://auth.example.com",
        ];
        assert!(options(&http).unwrap().http.is_some());
        let error = options(&[&http[..], &["--roles", "admin"]].concat())
            .err()
            .unwrap();
        assert_eq!(error, "--roles only applies over stdio, without --http");
    }

    #[test]
    fn a_policy_service_is_an_http_url_and_an_empty_one_is_none() {
        assert_eq!(options(&["--policy-url", ""]).unwrap().policy, None);
        let policy = options(&["--policy-url", "http://127.0.0.1:8181/notes"]).unwrap();
        assert_eq!(
            policy.policy.unwrap().to_string(),
            "http://127.0.0.1:8181/notes"
        );
        let error = options(&["--policy-url", "https://policy.example.com"])
            .err()
            .unwrap();
        assert!(
            error.starts_with(
                "--policy-url \"https://policy.example.com\" is not usable: expected an \
                 http:// URL"
            ),
            "{error}"
        );
    }

    #[test]
    fn an_empty_backup_dir_is_none() {
        assert_eq!(options(&["--backup-dir", ""]).unwrap().backup_dir, None);
        assert_eq!(
            options(&["--backup-dir", "backups"]).unwrap().backup_dir,
            Some(PathBuf::from("backups"))
        );
    }
}

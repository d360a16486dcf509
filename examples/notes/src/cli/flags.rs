//! The flags of `notes-server`, its `--help`, and how the command line is parsed.
//!
//! Every setting is a flag, and every variable that configures the server is the
//! fallback of one: a flag given on the command line wins over its variable. The one
//! exception is `NOTES_OAUTH_HMAC_SECRET`, a secret, which is never a flag so that it does
//! not show in `ps`.
//!
//! The help is written wrapped (each flag's documentation is its `--help` text, as it
//! shows there), within 80 columns; it names each flag's variable, never its value.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::builder::StyledStr;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgAction, Args, Command, CommandFactory, FromArgMatches, Parser, ValueEnum};
use secure_tool::rate::Rate;
use tracing_subscriber::filter::Targets;

use crate::cli::values::path;
use crate::http::{self, HttpFlags};
use crate::settings::Settings;

/// The usage lines, one a mode.
const USAGE: &str = "notes-server [--db PATH | --database-url URL] [OPTIONS]
       notes-server --http ADDR --issuer URL [OPTIONS]
       notes-server --print-manifest";

/// What `--help` says before the options.
const LONG_ABOUT: &str = "\
Serves the notes MCP tools over stdio, or over streamable HTTP with --http.

Over stdio, the caller is whoever started the server: its identity is
--subject, --scopes and --roles. Over HTTP, every request brings its own
caller, from its OAuth bearer token. Logs, including the audit trail, go to
stderr, each line cut at 8 KiB.";

/// What `--help` says after the options.
const AFTER_LONG_HELP: &str = "\
Limits:
  create_note refuses a title over 200 characters and a body over 16384
  characters (invalid_input, naming the field); list_notes answers pages of
  at most 50 notes and 256 KiB of text, with next_cursor for the next page;
  backup_notes holds 100 notes in memory at a time. Over stdio, a line longer
  than 16 MiB or nested deeper than 127 levels is answered with a JSON-RPC
  error for its id, when it has one.

Degraded mode:
  While the write breaker is open, or the write probe failed 3 times in a
  row, write tools answer a structured `degraded` error naming the read
  tools, `tools/list` marks them, and clients get
  notifications/tools/list_changed; 2 good probes restore writes.";

/// The command line of `notes-server`. Each field's documentation is its `--help` text,
/// wrapped as it shows there.
#[derive(Debug, Parser)]
#[command(
    name = "notes-server",
    about = "Serves the notes MCP tools over stdio, or over streamable HTTP with --http.",
    long_about = LONG_ABOUT,
    override_usage = USAGE,
    after_long_help = after_long_help(),
    disable_help_flag = true
)]
pub(crate) struct Cli {
    /// The SQLite database file, in WAL mode (created if missing).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "notes.db",
        verbatim_doc_comment
    )]
    pub(crate) db: PathBuf,
    /// Use PostgreSQL instead of SQLite, e.g.
    /// postgres://user:password@127.0.0.1:5432/notes
    ///
    /// The tables are created if missing; no TLS (a loopback or Unix-socket
    /// server). An empty value is ignored.
    #[arg(long, value_name = "URL", env = "DATABASE_URL", verbatim_doc_comment)]
    pub(crate) database_url: Option<String>,
    /// The SQLite archive of old notes, read by notes_overview (created if
    /// missing).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "notes-archive.db",
        verbatim_doc_comment
    )]
    pub(crate) archive: PathBuf,
    /// Where backup_notes writes notes-backup.jsonl.
    ///
    /// Without it, backup_notes answers that backups are not configured. An
    /// empty value is ignored.
    #[arg(
        long,
        value_name = "DIR",
        env = "NOTES_BACKUP_DIR",
        value_parser = path(),
        verbatim_doc_comment
    )]
    pub(crate) backup_dir: Option<PathBuf>,
    /// Print the tool manifest (each tool's schemas, mode, policy, breaker
    /// and deadline, as JSON) and exit, touching no database.
    #[arg(long, verbatim_doc_comment)]
    pub(crate) print_manifest: bool,
    /// Which tools `tools/list` shows each caller.
    ///
    /// With per-caller, a tool hidden from a caller is answered as a missing
    /// one.
    #[arg(
        long,
        value_name = "WHICH",
        env = "NOTES_TOOL_LISTS",
        value_enum,
        default_value_t = ToolListing::All,
        verbatim_doc_comment
    )]
    pub(crate) tool_lists: ToolListing,
    /// Serve the operations endpoints at http://ADDR, e.g. 127.0.0.1:9090:
    /// /livez (200 while the process answers) and /readyz (200 while reads
    /// work, writes degraded included; 503 while reads are degraded; the body
    /// is the state of both paths) and /metrics (Prometheus series: calls by
    /// tool and outcome, errors, denials by cause, latencies, rate-limited
    /// calls, breakers, bulkheads, degraded paths; no caller or argument in
    /// them). No authentication: bind it where only the orchestrator and the
    /// scraper reach. Prints `notes-server: operations on
    /// http://IP:PORT` to stderr once bound (port 0 picks a free port).
    #[arg(
        long,
        value_name = "ADDR",
        env = "NOTES_METRICS_ADDR",
        value_parser = http::address,
        verbatim_doc_comment
    )]
    pub(crate) metrics: Option<std::net::SocketAddr>,
    /// Export each call's span over OpenTelemetry (OTLP/HTTP, protobuf)
    /// to this collector URL, e.g. http://127.0.0.1:4318/v1/traces.
    ///
    /// A span per tool call, resource read, prompt get and completion,
    /// named `tools/call get_note` and so on, with the outcome, the error
    /// category and the incident id the caller was given; never the
    /// caller or the arguments. Sent in batches; the last ones when the
    /// server stops.
    #[arg(
        long,
        value_name = "URL",
        env = "NOTES_OTLP_ENDPOINT",
        verbatim_doc_comment
    )]
    pub(crate) otlp_endpoint: Option<String>,
    /// How often each caller may call, over all its tool calls, resource
    /// reads and prompt gets, e.g. 600/min or 20/s burst 100.
    ///
    /// A call over it is answered rate_limited (retryable, with the seconds
    /// to wait) and does not run. Tools keep their own limits too
    /// (backup_notes: 6/min). Default: none but the tools' own.
    #[arg(
        long,
        value_name = "RATE",
        env = "NOTES_RATE_LIMIT",
        value_parser = rate,
        verbatim_doc_comment
    )]
    pub(crate) rate_limit: Option<Rate>,
    /// The log filter for stderr, e.g. secure_tool::audit=info,warn.
    ///
    /// rmcp logs client data whole at info: hence its default at warn. Lines
    /// are cut at 8 KiB whatever the filter.
    #[arg(
        long,
        value_name = "FILTER",
        env = "NOTES_LOG",
        default_value = "info,rmcp=warn",
        value_parser = log_filter,
        verbatim_doc_comment
    )]
    pub(crate) log: Targets,
    /// An http:// policy service that may allow delete_note to non-admins.
    ///
    /// It gets POST {subject, scopes, roles, tool, mode} and answers
    /// {"decision": "allow"|"deny"}; anything else, or no answer within 2 s,
    /// denies. Default: none, only admins delete. An empty value is ignored.
    #[arg(long, value_name = "URL", env = crate::policy::POLICY_URL_VAR, verbatim_doc_comment)]
    pub(crate) policy_url: Option<String>,
    /// A Cedar policy file that decides delete_note instead.
    ///
    /// Checked against the tools at startup (a policy that names no tool
    /// or attribute, or does not type-check, stops the server, naming the
    /// line); read again on SIGHUP, where a bad file is refused and the
    /// policies in force stay. Not with --policy-url.
    #[arg(long, value_name = "FILE", env = crate::cedar::CEDAR_POLICIES_VAR, verbatim_doc_comment)]
    pub(crate) cedar_policies: Option<PathBuf>,
    /// Print this help.
    // `-h` prints the whole help too, as it always has: the flags' details are most of
    // what the help says.
    #[arg(short, long, action = ArgAction::HelpLong)]
    help: Option<bool>,
    #[command(flatten)]
    pub(crate) caller: Caller,
    #[command(flatten)]
    pub(crate) settings: Settings,
    #[command(flatten)]
    pub(crate) http: HttpFlags,
}

/// The caller over stdio. Each field's documentation is its `--help` text.
#[derive(Debug, Args)]
#[command(next_help_heading = "Caller over stdio (over HTTP, each request's token names its own)")]
pub(crate) struct Caller {
    /// The caller's subject.
    #[arg(
        long,
        value_name = "NAME",
        env = "NOTES_SUBJECT",
        default_value = "local-user",
        verbatim_doc_comment
    )]
    pub(crate) subject: String,
    /// Its scopes, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        env = "NOTES_SCOPES",
        default_value = "notes:read,notes:write",
        verbatim_doc_comment
    )]
    pub(crate) scopes: String,
    /// Its roles, comma-separated (default: none).
    #[arg(long, value_name = "LIST", env = "NOTES_ROLES", verbatim_doc_comment)]
    pub(crate) roles: Option<String>,
}

/// Which tools `tools/list` shows each caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ToolListing {
    /// Every tool to every caller.
    All,
    /// Each caller lists the tools its scopes and roles allow.
    PerCaller,
}

/// A rate, as `secure_tool::rate::Rate` reads it (`600/min`, `20/s burst 100`).
fn rate(text: &str) -> Result<Rate, String> {
    text.parse()
        .map_err(|error: secure_tool::rate::RateError| error.to_string())
}

fn log_filter(filter: &str) -> Result<Targets, String> {
    filter
        .parse()
        .map_err(|error| format!("{error}: expected targets and levels, e.g. info,rmcp=warn"))
}

fn after_long_help() -> String {
    format!("{AFTER_LONG_HELP}\n\n{}", http::HELP)
}

/// The command line parsed: the flags' values, and which flags were given on it (the
/// others come from their variables, or are their defaults).
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) cli: Cli,
    pub(crate) given: Given,
}

/// The flags given on the command line, by id (their fields' names).
#[derive(Debug)]
pub(crate) struct Given {
    given: Vec<String>,
    /// Every flag's id: asking for another is a mistake.
    ids: Vec<String>,
}

impl Given {
    /// Whether the flag with this id was on the command line.
    pub(crate) fn contains(&self, id: &str) -> bool {
        debug_assert!(
            self.ids.iter().any(|known| known == id),
            "no flag has the id {id:?}"
        );
        self.given.iter().any(|given| given == id)
    }
}

/// The command, as `--help` shows it: each flag's variable named, never its value (a
/// variable may hold a password, as `DATABASE_URL` does).
pub(crate) fn command() -> Command {
    Cli::command().mut_args(|arg| arg.hide_env_values(true))
}

/// Parses `args` (the program's name first), each flag's variable as its fallback.
///
/// # Errors
///
/// Clap's: `--help`, an unknown flag, a value that does not parse (naming its flag, and
/// its variable when the value came from there).
pub(crate) fn parse<T: Into<OsString>>(
    args: impl IntoIterator<Item = T>,
) -> Result<Parsed, clap::Error> {
    parse_with(command(), args.into_iter().map(Into::into).collect())
}

fn parse_with(mut command: Command, args: Vec<OsString>) -> Result<Parsed, clap::Error> {
    let matches = command
        .try_get_matches_from_mut(&args)
        .map_err(|error| name_the_variable(error, &command, &args))?;
    let cli = Cli::from_arg_matches(&matches)?;
    let ids: Vec<String> = command
        .get_arguments()
        .map(|arg| arg.get_id().as_str().to_owned())
        .collect();
    let given = ids
        .iter()
        .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
        .cloned()
        .collect();
    Ok(Parsed {
        cli,
        given: Given { given, ids },
    })
}

/// `error`, with a tip naming the variable its bad value came from, if it did: clap
/// names the flag alone.
fn name_the_variable(mut error: clap::Error, command: &Command, args: &[OsString]) -> clap::Error {
    if !matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return error;
    }
    // `--probe-interval-ms <MS>`
    let Some(ContextValue::String(invalid)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    let Some(flag) = invalid.split(' ').next().and_then(|f| f.strip_prefix("--")) else {
        return error;
    };
    let Some(variable) = command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(flag))
        .and_then(clap::Arg::get_env)
    else {
        return error;
    };
    let flag = format!("--{flag}");
    let with_value = format!("{flag}=");
    let on_command_line = args.iter().skip(1).any(|arg| {
        arg.to_str()
            .is_some_and(|arg| arg == flag || arg.starts_with(&with_value))
    });
    if on_command_line {
        return error;
    }
    let tip = format!(
        "the value comes from {}: correct it there, or give {flag}",
        variable.to_string_lossy()
    );
    let mut tips = match error.get(ContextKind::Suggested) {
        Some(ContextValue::StyledStrs(tips)) => tips.clone(),
        _ => Vec::new(),
    };
    tips.push(StyledStr::from(tip));
    error.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
    error
}

/// [`parse`] with none of the variables: clap reads them when it builds the command,
/// and a test cannot set its own (`set_var` is unsafe, and tests run side by side).
#[cfg(test)]
pub(crate) fn parse_without_env(args: &[&str]) -> Result<Parsed, clap::Error> {
    let args = std::iter::once("notes-server").chain(args.iter().copied());
    parse_with(
        command().mut_args(|arg| arg.env(None)),
        args.map(OsString::from).collect(),
    )
}

/// The variables the command reads, and the secret it does not take as a flag.
#[cfg(test)]
fn variables() -> Vec<String> {
    command()
        .get_arguments()
        .filter_map(clap::Arg::get_env)
        .map(|name| name.to_string_lossy().into_owned())
        .chain([http::HMAC_SECRET_VAR.to_owned()])
        .collect()
}

/// Runs the test `name` of `module` (its `module_path!()`) again, in a child process of
/// this test binary whose environment holds `env` and none of the caller's variables
/// that configure the server; `true` in the child, where the test goes on, `false` in
/// the parent once the child has passed.
///
/// For a test of what the environment, or a process-wide setting, does: clap reads the
/// variables when it builds the command, and a test cannot set its own (`set_var` is
/// unsafe, and tests run side by side).
#[cfg(test)]
pub(crate) fn in_a_child_process(module: &str, name: &str, env: &[(&str, &str)]) -> bool {
    const CHILD: &str = "CLI_TEST_IN_CHILD";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let module = module.split_once("::").map_or("", |(_, path)| path);
    let test = format!("{module}::{name}");
    let mut child = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    for variable in variables() {
        child.env_remove(variable);
    }
    let output = child
        .args([test.as_str(), "--exact", "--nocapture"])
        .env(CHILD, "1")
        .envs(env.iter().copied())
        .output()
        .expect("cannot run the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{test}, with {env:?}, in its child process ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn help_lists_every_flag_and_variable_and_fits_80_columns() {
        let help = command().render_long_help().to_string();
        for arg in command().get_arguments() {
            let flag = match (arg.get_long(), arg.get_short()) {
                (Some(long), _) => format!("--{long}"),
                (None, Some(short)) => format!("-{short}"),
                (None, None) => panic!("{} has no flag", arg.get_id()),
            };
            assert!(help.contains(&flag), "--help lists {flag}:\n{help}");
            assert!(
                arg.get_help().is_some(),
                "{flag} says what it does in --help"
            );
        }
        for variable in variables() {
            assert!(help.contains(&variable), "--help names {variable}:\n{help}");
        }
        for line in help.lines() {
            assert!(
                line.chars().count() <= 80,
                "longer than 80 columns: {line:?}"
            );
        }
        // The help's defaults are the defaults the code has.
        assert!(help.contains("[default: 1000]"), "{help}");
        let [short, long] = ["-h", "--help"].map(|flag| {
            let printed = parse_without_env(&[flag]).unwrap_err();
            assert_eq!(printed.kind(), ErrorKind::DisplayHelp, "{flag}");
            printed.to_string()
        });
        assert_eq!(short, long, "-h prints the whole help too");
        assert!(short.contains("Degraded mode:"), "{short}");
    }

    #[test]
    fn the_defaults_are_the_codes() {
        let cli = parse_without_env(&[]).unwrap().cli;
        assert_eq!(cli.settings, Settings::default());
        assert_eq!(cli.log, crate::logging::default_filter());
        assert_eq!(cli.tool_lists, ToolListing::All);
        assert_eq!(cli.db, PathBuf::from("notes.db"));
        assert_eq!(cli.caller.scopes, "notes:read,notes:write");
    }

    #[test]
    fn a_bad_value_is_refused_naming_its_flag() {
        for (args, expected) in [
            (
                ["--http-max-connections", "lots"],
                "invalid value 'lots' for '--http-max-connections <N>': \
                 expected a whole number above zero",
            ),
            (
                ["--probe-timeout-ms", "2s"],
                "invalid value '2s' for '--probe-timeout-ms <MS>'",
            ),
            (
                ["--http", "localhost"],
                "invalid value 'localhost' for '--http <ADDR>': expected IP:PORT",
            ),
            (
                ["--max-token-lifetime", "1h"],
                "invalid value '1h' for '--max-token-lifetime <SECONDS>'",
            ),
            (
                ["--algorithms", "RS256,none"],
                "invalid value 'RS256,none' for '--algorithms <LIST>'",
            ),
            (
                ["--log", "info,rmcp=loud"],
                "invalid value 'info,rmcp=loud' for '--log <FILTER>'",
            ),
            (
                ["--tool-lists", "per_caller"],
                "invalid value 'per_caller' for '--tool-lists <WHICH>'",
            ),
            (
                ["--rate-limit", "30/fortnight"],
                "invalid value '30/fortnight' for '--rate-limit <RATE>': a rate's unit is `s`, \
                 `min` or `h`",
            ),
        ] {
            let error = parse_without_env(&args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
            let error = error.to_string();
            assert!(error.contains(expected), "{args:?}: {error}");
            assert!(!error.contains("comes from"), "{args:?}: {error}");
        }
        let error = parse_without_env(&["--breaker-faillures", "3"]).unwrap_err();
        assert!(
            error.to_string().contains("--breaker-failures"),
            "a misspelt flag gets a suggestion: {error}"
        );
        let help = parse_without_env(&["--help"]).unwrap_err();
        assert_eq!((help.kind(), help.exit_code()), (ErrorKind::DisplayHelp, 0));
    }

    #[test]
    fn a_rate_limit_is_read_as_the_runtime_reads_rates() {
        let parsed = parse_without_env(&["--rate-limit", "20/s burst 100"]).unwrap();
        assert_eq!(
            parsed.cli.rate_limit,
            Some(Rate::per_second(20).with_burst(100))
        );
        let parsed = parse_without_env(&[]).unwrap();
        assert_eq!(
            parsed.cli.rate_limit, None,
            "no limit but the tools' own by default"
        );
    }

    #[test]
    fn flags_given_are_told_from_defaults() {
        let parsed = parse_without_env(&["--db", "x.db", "--scopes", "notes:read"]).unwrap();
        assert!(parsed.given.contains("db") && parsed.given.contains("scopes"));
        assert!(!parsed.given.contains("archive") && !parsed.given.contains("breaker_failures"));
    }

    #[test]
    #[should_panic = "no flag has the id \"data_base_url\""]
    #[cfg(debug_assertions)]
    fn asking_for_a_flag_that_is_not_one_is_a_mistake() {
        parse_without_env(&[])
            .unwrap()
            .given
            .contains("data_base_url");
    }

    #[test]
    fn a_variable_stands_in_for_its_flag() {
        if !in_a_child_process(
            module_path!(),
            "a_variable_stands_in_for_its_flag",
            &[
                ("NOTES_BREAKER_FAILURES", "7"),
                ("NOTES_TOOL_LISTS", "per-caller"),
                ("NOTES_SCOPES", "notes:read"),
                ("NOTES_HTTP_MAX_CONNECTIONS", " 64 "),
                (
                    "NOTES_OAUTH_ALLOWED_ORIGINS",
                    "https://a.example.com,http://b:5173",
                ),
                ("DATABASE_URL", "postgres://notes@127.0.0.1/notes"),
                // Empty: none, as if unset.
                ("NOTES_BACKUP_DIR", ""),
                ("NOTES_POLICY_URL", ""),
            ],
        ) {
            return;
        }
        let parsed = parse(["notes-server"]).unwrap();
        let cli = &parsed.cli;
        assert_eq!(cli.settings.breaker_failures, 7);
        assert_eq!(cli.tool_lists, ToolListing::PerCaller);
        assert_eq!(cli.caller.scopes, "notes:read");
        assert_eq!(cli.http.limits.max_connections, 64);
        assert_eq!(
            cli.database_url.as_deref(),
            Some("postgres://notes@127.0.0.1/notes")
        );
        assert!(
            format!("{:?}", cli.http).contains(r#"["https://a.example.com", "http://b:5173"]"#),
            "{:?}",
            cli.http
        );
        assert!(
            !parsed.given.contains("breaker_failures") && !parsed.given.contains("database_url"),
            "a variable is not a flag given"
        );
        let Ok(options) = crate::cli::Options::check(parsed, None) else {
            panic!("the options are refused");
        };
        assert!(matches!(options.backend, crate::cli::Backend::Postgres(_)));
        assert_eq!(
            options.backup_dir, None,
            "an empty variable counts as unset"
        );
        assert_eq!(options.policy, None, "an empty variable counts as unset");
    }

    #[test]
    fn a_flag_wins_over_its_variable() {
        if !in_a_child_process(
            module_path!(),
            "a_flag_wins_over_its_variable",
            &[
                ("NOTES_BREAKER_FAILURES", "7"),
                // Not even parsed: the flag stands in its place.
                ("NOTES_LOG", "info,rmcp=loud"),
                ("NOTES_SUBJECT", "from-the-environment"),
                ("NOTES_OAUTH_ALLOWED_ORIGINS", "https://ignored.example.com"),
            ],
        ) {
            return;
        }
        let parsed = parse([
            "notes-server",
            "--breaker-failures",
            "3",
            "--log=warn",
            "--subject",
            "ada",
            "--allowed-origin",
            "https://app.example.com",
        ])
        .unwrap();
        let http = format!("{:?}", parsed.cli.http);
        assert!(
            http.contains(r#"allowed_origins: ["https://app.example.com"]"#),
            "{http}"
        );
        assert_eq!(parsed.cli.settings.breaker_failures, 3);
        assert_eq!(parsed.cli.log, "warn".parse::<Targets>().unwrap());
        assert_eq!(parsed.cli.caller.subject, "ada");
        assert!(parsed.given.contains("breaker_failures") && parsed.given.contains("log"));
    }

    #[test]
    fn a_bad_variable_is_refused_naming_its_flag_and_itself() {
        if !in_a_child_process(
            module_path!(),
            "a_bad_variable_is_refused_naming_its_flag_and_itself",
            &[("NOTES_PROBE_TIMEOUT_MS", "soon")],
        ) {
            return;
        }
        let error = parse(["notes-server"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        let error = error.to_string();
        assert!(
            error.contains("invalid value 'soon' for '--probe-timeout-ms <MS>'"),
            "{error}"
        );
        assert!(
            error.contains(
                "the value comes from NOTES_PROBE_TIMEOUT_MS: correct it there, or give \
                 --probe-timeout-ms"
            ),
            "{error}"
        );
        // Given as a flag, the same value is the flag's fault.
        let error = parse(["notes-server", "--probe-timeout-ms", "soon"]).unwrap_err();
        assert!(!error.to_string().contains("comes from"), "{error}");
    }
}

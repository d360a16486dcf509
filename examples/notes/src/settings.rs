//! The resilience settings of the server: production defaults, each overridable by a flag
//! or its `NOTES_*` variable (the end-to-end test shortens them so that a fault and its
//! recovery take seconds, not minutes).

use std::time::Duration;

use clap::Args;

use crate::cli::values::{count, millis};
use crate::store::postgres::Timeouts;

/// How the server waits for, and gives up on, its databases: `--busy-timeout-ms` and the
/// other flags of the "Resilience" heading of `--help`, each with its `NOTES_*` variable as
/// fallback.
///
/// Each field's documentation is its `--help` text, wrapped as it shows there.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
#[command(next_help_heading = "Resilience (the store's breakers and health probes)")]
pub struct Settings {
    /// How long a statement waits for a lock held by another connection
    /// before it fails, in milliseconds.
    #[arg(
        long = "busy-timeout-ms",
        env = "NOTES_BUSY_TIMEOUT_MS",
        value_name = "MS",
        default_value = "1000",
        value_parser = millis,
        verbatim_doc_comment
    )]
    pub busy_timeout: Duration,
    /// Consecutive failures that open a database's breaker.
    #[arg(
        long = "breaker-failures",
        env = "NOTES_BREAKER_FAILURES",
        value_name = "N",
        default_value = "5",
        value_parser = count::<u32>,
        verbatim_doc_comment
    )]
    pub breaker_failures: u32,
    /// How long an opened breaker stays open the first time, in milliseconds.
    ///
    /// It doubles on each re-open, up to --breaker-max-open-ms.
    #[arg(
        long = "breaker-open-ms",
        env = "NOTES_BREAKER_OPEN_MS",
        value_name = "MS",
        default_value = "15000",
        value_parser = millis,
        verbatim_doc_comment
    )]
    pub breaker_open: Duration,
    /// The longest a breaker stays open, in milliseconds.
    #[arg(
        long = "breaker-max-open-ms",
        env = "NOTES_BREAKER_MAX_OPEN_MS",
        value_name = "MS",
        default_value = "300000",
        value_parser = millis,
        verbatim_doc_comment
    )]
    pub breaker_max_open: Duration,
    /// How often the health probes run, in milliseconds (+-20%).
    ///
    /// The write probe is a one-row heartbeat. While the write breaker is
    /// open, or the write probe failed 3 times in a row, the server is
    /// read-only; 2 good probes restore writes.
    #[arg(
        long = "probe-interval-ms",
        env = "NOTES_PROBE_INTERVAL_MS",
        value_name = "MS",
        default_value = "10000",
        value_parser = millis,
        verbatim_doc_comment
    )]
    pub probe_interval: Duration,
    /// The deadline of one health probe, in milliseconds.
    #[arg(
        long = "probe-timeout-ms",
        env = "NOTES_PROBE_TIMEOUT_MS",
        value_name = "MS",
        default_value = "2000",
        value_parser = millis,
        verbatim_doc_comment
    )]
    pub probe_timeout: Duration,
    /// PostgreSQL: the longest wait to connect, in milliseconds, the
    /// startup handshake included.
    #[arg(
        long = "connect-timeout-ms",
        env = "NOTES_CONNECT_TIMEOUT_MS",
        value_name = "MS",
        default_value = "3000",
        value_parser = millis,
        verbatim_doc_comment
    )]
    pub connect_timeout: Duration,
    /// PostgreSQL: the longest statement, in milliseconds, on the client
    /// and as the server's statement_timeout.
    #[arg(
        long = "statement-timeout-ms",
        env = "NOTES_STATEMENT_TIMEOUT_MS",
        value_name = "MS",
        default_value = "5000",
        value_parser = millis,
        verbatim_doc_comment
    )]
    pub statement_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(1),
            breaker_failures: 5,
            breaker_open: Duration::from_secs(15),
            breaker_max_open: Duration::from_secs(300),
            probe_interval: Duration::from_secs(10),
            probe_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

impl Settings {
    /// The timeouts of the PostgreSQL backend.
    pub fn postgres_timeouts(&self) -> Timeouts {
        Timeouts {
            connect: self.connect_timeout,
            statement: self.statement_timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_without_env;

    fn settings(args: &[&str]) -> Result<Settings, String> {
        parse_without_env(args)
            .map(|parsed| parsed.cli.settings)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn the_flags_default_to_the_defaults_and_override_them() {
        assert_eq!(settings(&[]).unwrap(), Settings::default());
        let settings =
            settings(&["--busy-timeout-ms", "250", "--breaker-failures", " 2 "]).unwrap();
        assert_eq!(settings.busy_timeout, Duration::from_millis(250));
        assert_eq!(settings.breaker_failures, 2);
        assert_eq!(settings.probe_interval, Duration::from_secs(10));
    }

    #[test]
    fn bad_values_are_refused_naming_the_flag() {
        let error = settings(&["--probe-interval-ms", "soon"]).unwrap_err();
        assert!(
            error.contains("invalid value 'soon' for '--probe-interval-ms <MS>'"),
            "{error}"
        );
        let error = settings(&["--breaker-open-ms", "0"]).unwrap_err();
        assert!(error.contains("above zero"), "{error}");
        let error = settings(&["--breaker-failures", "4294967296"]).unwrap_err();
        assert!(error.contains("'--breaker-failures <N>'"), "{error}");
    }
}

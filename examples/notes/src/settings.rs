//! The resilience settings of the server: production defaults, each overridable from the
//! environment (the end-to-end test shortens them so that a fault and its recovery take
//! seconds, not minutes).

use std::time::Duration;

use crate::store::postgres::Timeouts;

/// How the server waits for, and gives up on, its databases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How long a statement waits for a lock another connection holds
    /// (`NOTES_BUSY_TIMEOUT_MS`, default 1 s).
    pub busy_timeout: Duration,
    /// Consecutive failures that open a database's breaker (`NOTES_BREAKER_FAILURES`,
    /// default 5).
    pub breaker_failures: u32,
    /// How long an opened breaker stays open the first time (`NOTES_BREAKER_OPEN_MS`,
    /// default 15 s); it doubles on each re-open, up to `breaker_max_open`.
    pub breaker_open: Duration,
    /// The longest open period (`NOTES_BREAKER_MAX_OPEN_MS`, default 5 min).
    pub breaker_max_open: Duration,
    /// How often the health probes run (`NOTES_PROBE_INTERVAL_MS`, default 10 s, ±20 %).
    pub probe_interval: Duration,
    /// The deadline of one probe (`NOTES_PROBE_TIMEOUT_MS`, default 2 s).
    pub probe_timeout: Duration,
    /// PostgreSQL only: how long making a connection may take, the startup handshake
    /// included (`NOTES_CONNECT_TIMEOUT_MS`, default 3 s).
    pub connect_timeout: Duration,
    /// PostgreSQL only: how long one statement may take, on the client and as the
    /// server's `statement_timeout` (`NOTES_STATEMENT_TIMEOUT_MS`, default 5 s).
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
    /// The defaults, overridden by the `NOTES_*` variables that are set.
    ///
    /// # Errors
    ///
    /// A variable that is set but is not a whole number (or is zero where zero would
    /// mean "never").
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The defaults, overridden by what `lookup` finds.
    ///
    /// # Errors
    ///
    /// As [`Settings::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let defaults = Self::default();
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match lookup(name) {
                None => Ok(default),
                Some(text) => match text.trim().parse::<u64>() {
                    Ok(0) => Err(format!("{name} must be more than zero")),
                    Ok(n) => Ok(n),
                    Err(_) => Err(format!("{name} must be a whole number, not {text:?}")),
                },
            }
        };
        let millis = |name: &str, default: Duration| -> Result<Duration, String> {
            let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
            number(name, default).map(Duration::from_millis)
        };
        let breaker_failures = number(
            "NOTES_BREAKER_FAILURES",
            u64::from(defaults.breaker_failures),
        )?;
        Ok(Self {
            busy_timeout: millis("NOTES_BUSY_TIMEOUT_MS", defaults.busy_timeout)?,
            breaker_failures: u32::try_from(breaker_failures)
                .map_err(|_| "NOTES_BREAKER_FAILURES is too large".to_owned())?,
            breaker_open: millis("NOTES_BREAKER_OPEN_MS", defaults.breaker_open)?,
            breaker_max_open: millis("NOTES_BREAKER_MAX_OPEN_MS", defaults.breaker_max_open)?,
            probe_interval: millis("NOTES_PROBE_INTERVAL_MS", defaults.probe_interval)?,
            probe_timeout: millis("NOTES_PROBE_TIMEOUT_MS", defaults.probe_timeout)?,
            connect_timeout: millis("NOTES_CONNECT_TIMEOUT_MS", defaults.connect_timeout)?,
            statement_timeout: millis("NOTES_STATEMENT_TIMEOUT_MS", defaults.statement_timeout)?,
        })
    }

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

    #[test]
    fn unset_variables_keep_the_defaults_and_set_ones_override_them() {
        assert_eq!(
            Settings::from_lookup(|_| None).unwrap(),
            Settings::default()
        );
        let settings = Settings::from_lookup(|name| match name {
            "NOTES_BUSY_TIMEOUT_MS" => Some("250".into()),
            "NOTES_BREAKER_FAILURES" => Some(" 2 ".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(settings.busy_timeout, Duration::from_millis(250));
        assert_eq!(settings.breaker_failures, 2);
        assert_eq!(settings.probe_interval, Duration::from_secs(10));
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let error = Settings::from_lookup(|name| {
            (name == "NOTES_PROBE_INTERVAL_MS").then(|| "soon".to_owned())
        })
        .unwrap_err();
        assert!(error.contains("NOTES_PROBE_INTERVAL_MS"), "{error}");
        let error =
            Settings::from_lookup(|name| (name == "NOTES_BREAKER_OPEN_MS").then(|| "0".into()))
                .unwrap_err();
        assert!(error.contains("more than zero"), "{error}");
    }
}

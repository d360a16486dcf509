//! The parsers of the values the command line takes: durations in whole milliseconds or
//! seconds, counts, and paths. No number may be zero, which would mean "never" or
//! "none".
//!
//! Each is a clap value parser: a refused value is reported by clap with the flag it was
//! given to (`invalid value '0' for '--probe-interval-ms <MS>': ...`). Spaces around a
//! number are ignored, as a variable set by a script may carry them.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::builder::{OsStringValueParser, TypedValueParser};

/// A path, any bytes, empty included: an empty variable then counts as unset, where
/// clap's own path parser would refuse it.
pub(crate) fn path() -> impl TypedValueParser<Value = PathBuf> {
    OsStringValueParser::new().map(PathBuf::from)
}

/// A whole number of milliseconds above zero.
pub(crate) fn millis(text: &str) -> Result<Duration, String> {
    whole(text, "a whole number of milliseconds above zero, e.g. 2000").map(Duration::from_millis)
}

/// A whole number of seconds above zero.
pub(crate) fn seconds(text: &str) -> Result<Duration, String> {
    whole(text, "a whole number of seconds above zero, e.g. 3600").map(Duration::from_secs)
}

/// A count above zero.
pub(crate) fn count<T: FromStr + Default + PartialEq>(text: &str) -> Result<T, String> {
    match text.trim().parse::<T>() {
        Ok(n) if n != T::default() => Ok(n),
        _ => Err("expected a whole number above zero".to_owned()),
    }
}

fn whole(text: &str, expected: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected {expected}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_whole_and_above_zero() {
        assert_eq!(millis(" 250 "), Ok(Duration::from_millis(250)));
        assert_eq!(seconds("3600"), Ok(Duration::from_secs(3600)));
        assert_eq!(count::<u32>("7"), Ok(7));
        for bad in ["", "0", "-1", "1.5", "1s", "soon"] {
            assert!(millis(bad).is_err(), "{bad:?}");
            assert!(seconds(bad).is_err(), "{bad:?}");
            assert!(count::<usize>(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            millis("0").unwrap_err(),
            "expected a whole number of milliseconds above zero, e.g. 2000"
        );
        assert_eq!(
            count::<u32>("4294967296").unwrap_err(),
            "expected a whole number above zero",
            "too large for its type"
        );
    }
}

//! Rate limits: how often each caller may call a tool, and the server as a whole.
//!
//! The MCP specification says a server must rate-limit tool invocations. A tool declares
//! its own limit, per caller (`#[secure_tool(rate = "30/min", ...)]`, or
//! [`ToolSpec::with_rate`](crate::route::ToolSpec::with_rate)), and a server may set one
//! more over every call a caller makes
//! ([`SecureServerBuilder::rate_limit`](crate::SecureServerBuilder::rate_limit)). Each is
//! a generic cell rate algorithm ([governor]'s): `30/min` lets a caller make 30 calls at
//! once, then one more every 2 s as its bucket refills.
//!
//! A call over a limit is answered at once with the retryable `rate_limited` category and
//! the time after which a retry may succeed; it never runs, takes no slot and is never
//! counted by a dependency's circuit breaker. Callers are told apart by their subject;
//! every anonymous caller shares one bucket. The buckets of a limit are bounded
//! ([`MAX_TRACKED_CALLERS`]): a caller whose bucket is full again is forgotten when room is
//! needed, and when every tracked caller is still being limited a new caller is refused
//! too (fail closed), with one warning in the log.
//!
//! ```
//! use std::time::Duration;
//! use secure_tool::rate::Rate;
//!
//! let rate: Rate = "30/min".parse().unwrap();
//! assert_eq!(rate, Rate::per_minute(30));
//! assert_eq!(rate.interval(), Duration::from_secs(2));
//! assert_eq!(rate.to_string(), "30/min");
//!
//! let bursty: Rate = "10/s burst 50".parse().unwrap();
//! assert_eq!(bursty.burst(), 50);
//! assert!("30/fortnight".parse::<Rate>().is_err());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{Quota, RateLimiter};

use crate::authz::Principal;

/// How many callers one limit keeps a bucket for, at most.
///
/// ```
/// assert_eq!(secure_tool::rate::MAX_TRACKED_CALLERS, 65_536);
/// ```
pub const MAX_TRACKED_CALLERS: usize = 65_536;

/// A rate: `calls` per period, with bursts of up to `burst` calls (by default `calls`).
///
/// Written `"<calls>/<unit>"`, the unit `s` (`sec`, `second`), `min` (`m`, `minute`) or
/// `h` (`hour`), optionally followed by `burst <n>`: `"30/min"`, `"5/s burst 20"`.
///
/// ```
/// use secure_tool::rate::Rate;
///
/// assert_eq!(Rate::per_second(5).with_burst(20).to_string(), "5/s burst 20");
/// assert_eq!(Rate::per_hour(1000).calls(), 1000);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    calls: NonZeroU32,
    unit: Unit,
    burst: NonZeroU32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Unit {
    Second,
    Minute,
    Hour,
}

impl Unit {
    const fn seconds(self) -> u64 {
        match self {
            Unit::Second => 1,
            Unit::Minute => 60,
            Unit::Hour => 3_600,
        }
    }

    const fn as_str(self) -> &'static str {
        match self {
            Unit::Second => "s",
            Unit::Minute => "min",
            Unit::Hour => "h",
        }
    }
}

/// Why a rate's text was refused.
///
/// ```
/// use secure_tool::rate::{Rate, RateError};
///
/// assert_eq!(Rate::parse("0/min"), Err(RateError::Zero));
/// assert_eq!(
///     "30/fortnight".parse::<Rate>().unwrap_err().to_string(),
///     "a rate's unit is `s`, `min` or `h`, like `30/min`"
/// );
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RateError {
    /// The text does not start with a whole number of calls and `/`.
    NoCount,
    /// The number of calls, or of the burst, is zero.
    Zero,
    /// A number is larger than a rate can be (more than a million calls a second).
    TooLarge,
    /// The unit is not one of `s`, `min`, `h` (or their long names).
    Unit,
    /// Something follows the unit that is not `burst <n>`.
    Trailing,
}

impl RateError {
    /// What is wrong, in words.
    pub const fn message(self) -> &'static str {
        match self {
            RateError::NoCount => "a rate is a whole number of calls per unit, like `30/min`",
            RateError::Zero => "a rate of zero calls lets nothing through: remove the tool instead",
            RateError::TooLarge => "a rate is at most 1000000 calls a second, bursts included",
            RateError::Unit => "a rate's unit is `s`, `min` or `h`, like `30/min`",
            RateError::Trailing => {
                "after the unit only `burst <calls>` may follow, like `30/min burst 10`"
            }
        }
    }
}

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for RateError {}

/// The largest count of calls a rate or a burst may name.
const MAX_CALLS: u32 = 1_000_000;

impl Rate {
    /// `calls` a second.
    ///
    /// # Panics
    /// When `calls` is zero or more than a million (at compile time in a `const`).
    pub const fn per_second(calls: u32) -> Self {
        Self::of(calls, Unit::Second)
    }

    /// `calls` a minute.
    ///
    /// # Panics
    /// When `calls` is zero or more than a million.
    pub const fn per_minute(calls: u32) -> Self {
        Self::of(calls, Unit::Minute)
    }

    /// `calls` an hour.
    ///
    /// # Panics
    /// When `calls` is zero or more than a million.
    pub const fn per_hour(calls: u32) -> Self {
        Self::of(calls, Unit::Hour)
    }

    const fn of(calls: u32, unit: Unit) -> Self {
        match Self::checked(calls, unit, calls) {
            Ok(rate) => rate,
            Err(error) => panic!("{}", error.message()),
        }
    }

    const fn checked(calls: u32, unit: Unit, burst: u32) -> Result<Self, RateError> {
        let (Some(calls), Some(burst)) = (NonZeroU32::new(calls), NonZeroU32::new(burst)) else {
            return Err(RateError::Zero);
        };
        if calls.get() > MAX_CALLS || burst.get() > MAX_CALLS {
            return Err(RateError::TooLarge);
        }
        Ok(Self { calls, unit, burst })
    }

    /// This rate, letting bursts of up to `burst` calls through at once.
    ///
    /// ```
    /// use secure_tool::rate::Rate;
    ///
    /// assert_eq!(Rate::per_minute(30).with_burst(5).burst(), 5);
    /// ```
    ///
    /// # Panics
    /// When `burst` is zero or more than a million.
    pub const fn with_burst(self, burst: u32) -> Self {
        match Self::checked(self.calls.get(), self.unit, burst) {
            Ok(rate) => rate,
            Err(error) => panic!("{}", error.message()),
        }
    }

    /// Reads a rate's text (`"30/min"`, `"5/s burst 20"`). A `const fn`, so that a rate
    /// written in an attribute is checked when the crate compiles.
    ///
    /// ```
    /// use secure_tool::rate::{Rate, RateError};
    ///
    /// const LIMIT: Rate = match Rate::parse("120/h") {
    ///     Ok(rate) => rate,
    ///     Err(error) => panic!("{}", error.message()),
    /// };
    /// assert_eq!(LIMIT, Rate::per_hour(120));
    /// assert_eq!(Rate::parse("5 per second"), Err(RateError::NoCount));
    /// ```
    pub const fn parse(text: &str) -> Result<Self, RateError> {
        let bytes = text.as_bytes();
        let mut at = skip_spaces(bytes, 0);
        let Some((calls, next)) = number(bytes, at) else {
            return Err(if too_long(bytes, at) {
                RateError::TooLarge
            } else {
                RateError::NoCount
            });
        };
        at = skip_spaces(bytes, next);
        if at >= bytes.len() || bytes[at] != b'/' {
            return Err(RateError::NoCount);
        }
        at = skip_spaces(bytes, at + 1);
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_alphabetic() {
            at += 1;
        }
        let unit = match unit(bytes, start, at) {
            Some(unit) => unit,
            None => return Err(RateError::Unit),
        };
        at = skip_spaces(bytes, at);
        let mut burst = calls;
        if at < bytes.len() {
            let word = b"burst";
            let mut i = 0;
            while i < word.len() {
                if at + i >= bytes.len() || bytes[at + i] != word[i] {
                    return Err(RateError::Trailing);
                }
                i += 1;
            }
            let after = at + word.len();
            at = skip_spaces(bytes, after);
            if at == after {
                return Err(RateError::Trailing);
            }
            match number(bytes, at) {
                Some((n, next)) => {
                    burst = n;
                    at = skip_spaces(bytes, next);
                }
                None if too_long(bytes, at) => return Err(RateError::TooLarge),
                None => return Err(RateError::Trailing),
            }
            if at < bytes.len() {
                return Err(RateError::Trailing);
            }
        }
        Self::checked(calls, unit, burst)
    }

    /// The calls a period lets through, on average.
    pub const fn calls(&self) -> u32 {
        self.calls.get()
    }

    /// The period `calls` are counted over: a second, a minute or an hour.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secure_tool::rate::Rate;
    ///
    /// assert_eq!(Rate::per_hour(10).period(), Duration::from_secs(3600));
    /// ```
    pub const fn period(&self) -> Duration {
        Duration::from_secs(self.unit.seconds())
    }

    /// The most calls let through at once, from a full bucket.
    pub const fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// The time in which one call is given back: the period divided by the calls.
    pub const fn interval(&self) -> Duration {
        let nanos = self.unit.seconds() * 1_000_000_000 / self.calls.get() as u64;
        Duration::from_nanos(nanos)
    }

    fn quota(&self) -> Quota {
        // `interval` is at least a microsecond: MAX_CALLS bounds the calls a second.
        Quota::with_period(self.interval())
            .expect("a rate's interval is more than zero")
            .allow_burst(self.burst)
    }
}

const fn skip_spaces(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && bytes[at] == b' ' {
        at += 1;
    }
    at
}

/// A whole number at `at` up to [`MAX_CALLS`] and where it ends, or none.
const fn number(bytes: &[u8], mut at: usize) -> Option<(u32, usize)> {
    let start = at;
    let mut value: u32 = 0;
    while at < bytes.len() && bytes[at].is_ascii_digit() {
        value = match value.checked_mul(10) {
            Some(tens) => tens + (bytes[at] - b'0') as u32,
            None => return None,
        };
        if value > MAX_CALLS {
            return None;
        }
        at += 1;
    }
    if at == start { None } else { Some((value, at)) }
}

/// Whether the digits at `at` are a number, only too large.
const fn too_long(bytes: &[u8], at: usize) -> bool {
    at < bytes.len() && bytes[at].is_ascii_digit()
}

const fn unit(bytes: &[u8], start: usize, end: usize) -> Option<Unit> {
    const NAMES: [(&[u8], Unit); 8] = [
        (b"s", Unit::Second),
        (b"sec", Unit::Second),
        (b"second", Unit::Second),
        (b"m", Unit::Minute),
        (b"min", Unit::Minute),
        (b"minute", Unit::Minute),
        (b"h", Unit::Hour),
        (b"hour", Unit::Hour),
    ];
    let mut i = 0;
    while i < NAMES.len() {
        let (name, unit) = NAMES[i];
        if name.len() == end - start {
            let mut j = 0;
            while j < name.len() && name[j] == bytes[start + j] {
                j += 1;
            }
            if j == name.len() {
                return Some(unit);
            }
        }
        i += 1;
    }
    None
}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.calls, self.unit.as_str())?;
        if self.burst != self.calls {
            write!(f, " burst {}", self.burst)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rate({self})")
    }
}

/// Whose bucket a call takes from: its principal's subject, or the one bucket every
/// anonymous caller shares. Holds the principal itself (a reference count, no copy of the
/// subject), compared and hashed by subject only: the same subject with other scopes is
/// the same caller.
#[derive(Clone)]
struct Caller(Principal);

impl PartialEq for Caller {
    fn eq(&self, other: &Self) -> bool {
        self.0.subject() == other.0.subject()
    }
}

impl Eq for Caller {}

impl Hash for Caller {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.subject().hash(state);
    }
}

/// tokio's clock, as governor reads one: paused in tests, the monotonic clock otherwise.
#[derive(Clone)]
struct TokioClock {
    origin: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        self.origin.elapsed().into()
    }
}

/// Each caller's theoretical arrival time (governor's state), bounded in number: the
/// room check and the update of a caller's cell are one step under one lock.
struct Buckets {
    table: Mutex<Table>,
    capacity: usize,
    clock: TokioClock,
    /// The clock's reading when the limiter started, to which arrival times are relative
    /// (read just before governor reads its own: the same instant, or nanoseconds before,
    /// so that a bucket is at most that much early to be forgotten).
    start: Nanos,
    /// governor's tolerance: the interval times the burst less one.
    tolerance: Nanos,
    /// What the limit is of, for the log: a tool's name, or "the server".
    of: Arc<str>,
    /// Whether the warning of a full table was logged since it last had room.
    told_full: AtomicBool,
}

#[derive(Default)]
struct Table {
    /// Each tracked caller's theoretical arrival time.
    times: HashMap<Caller, Nanos>,
    /// While the table is full: its earliest arrival time, before which no caller can be
    /// forgotten. New callers are refused until then without looking at the table again,
    /// so that a full table costs one sweep per time a bucket refills, not one per call.
    reopens_at: Option<Nanos>,
}

impl Buckets {
    /// Room for a caller not in the table: there is some, if need be once the callers
    /// whose buckets are full again are forgotten (their state is that of a caller never
    /// seen); else the earliest arrival time in the table, when there will be.
    fn make_room(&self, table: &mut Table) -> Result<(), Nanos> {
        if table.times.len() < self.capacity {
            return Ok(());
        }
        let now = self.clock.now().saturating_sub(self.start);
        if let Some(at) = table.reopens_at
            && now < at
        {
            return Err(at);
        }
        let mut earliest: Option<Nanos> = None;
        table.times.retain(|_, arrival| {
            let limiting = *arrival > now;
            if limiting {
                earliest = Some(earliest.map_or(*arrival, |at| at.min(*arrival)));
            }
            limiting
        });
        if table.times.len() < self.capacity {
            table.reopens_at = None;
            return Ok(());
        }
        let at = earliest.unwrap_or(now);
        table.reopens_at = Some(at);
        Err(at)
    }

    fn told_full(&self) {
        if !self.told_full.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                limit = %self.of,
                callers = self.capacity,
                "rate limit: every tracked caller is being limited; new callers are refused \
                 until a bucket refills"
            );
        }
    }
}

/// The limiter's view of the table.
#[derive(Clone)]
struct Shared(Arc<Buckets>);

impl StateStore for Shared {
    type Key = Caller;

    fn measure_and_replace<T, F, E>(&self, key: &Caller, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let buckets = &*self.0;
        let mut table = buckets.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(arrival) = table.times.get_mut(key) {
            let (outcome, next) = f(Some(*arrival))?;
            *arrival = next;
            return Ok(outcome);
        }
        match buckets.make_room(&mut table) {
            Ok(()) => {
                let (outcome, next) = f(None)?;
                table.times.insert(key.clone(), next);
                if buckets.told_full.load(Ordering::Relaxed) {
                    // Told again the next time the table fills.
                    buckets.told_full.store(false, Ordering::Relaxed);
                }
                Ok(outcome)
            }
            Err(reopens_at) => {
                drop(table);
                buckets.told_full();
                // The new caller is measured as if its bucket were empty until the table
                // reopens: governor refuses it, and tells it to retry then. Nothing is
                // stored.
                let (outcome, _) = f(Some(reopens_at + buckets.tolerance))?;
                Ok(outcome)
            }
        }
    }
}

/// A call refused by a rate limit: when a retry may succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limited {
    pub(crate) retry_after: Duration,
}

/// One limit over the callers of a tool, or of the whole server.
pub(crate) struct Limiter {
    rate: Rate,
    buckets: Arc<Buckets>,
    limiter: RateLimiter<Caller, Shared, TokioClock, NoOpMiddleware<Nanos>>,
}

impl Limiter {
    /// A limit of `rate` per caller over the calls of `of`.
    pub(crate) fn new(rate: Rate, of: &str) -> Self {
        Self::with_capacity(rate, of, MAX_TRACKED_CALLERS)
    }

    fn with_capacity(rate: Rate, of: &str, capacity: usize) -> Self {
        let clock = TokioClock {
            origin: tokio::time::Instant::now(),
        };
        let interval = Nanos::from(rate.interval());
        let buckets = Arc::new(Buckets {
            table: Mutex::default(),
            capacity,
            start: clock.now(),
            clock: clock.clone(),
            tolerance: interval * u64::from(rate.burst() - 1),
            of: of.into(),
            told_full: AtomicBool::new(false),
        });
        let limiter = RateLimiter::new(rate.quota(), Shared(buckets.clone()), clock);
        Self {
            rate,
            buckets,
            limiter,
        }
    }

    /// The rate this limit lets through.
    pub(crate) fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes one call from `principal`'s bucket, or says when it may retry.
    pub(crate) fn check(&self, principal: &Principal) -> Result<(), Limited> {
        self.limiter
            .check_key(&Caller(principal.clone()))
            .map_err(|not_until| Limited {
                retry_after: not_until.wait_time_from(self.buckets.clock.now()),
            })
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("of", &self.buckets.of)
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;

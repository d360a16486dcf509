//! Bulkhead: a cap on the concurrent calls to one dependency, without a queue.
//!
//! A call that finds the bulkhead full is rejected at once with [`BulkheadFull`] instead of
//! waiting: a slow dependency cannot take every worker of the server with it. The slot is
//! returned when the [`BulkheadPermit`] is dropped, however the call ends.
//!
//! ```
//! use secure_tool::bulkhead::Bulkhead;
//!
//! let bulkhead = Bulkhead::new("search-api", 2);
//! let a = bulkhead.try_acquire().unwrap();
//! let _b = bulkhead.try_acquire().unwrap();
//! assert!(bulkhead.try_acquire().is_err());
//! drop(a);
//! assert!(bulkhead.try_acquire().is_ok());
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Default cap on concurrent calls per dependency.
///
/// ```
/// use secure_tool::bulkhead::{Bulkhead, DEFAULT_MAX_CONCURRENT};
///
/// assert_eq!(DEFAULT_MAX_CONCURRENT, 32);
/// assert_eq!(Bulkhead::with_default_limit("db").max_concurrent(), 32);
/// ```
pub const DEFAULT_MAX_CONCURRENT: usize = 32;

#[repr(align(64))]
struct Inner {
    in_flight: AtomicUsize,
    max: usize,
    rejected: AtomicU64,
    name: Arc<str>,
}

/// Caps concurrent calls to one dependency. Cheap to clone: clones share the same slots.
///
/// ```
/// use secure_tool::bulkhead::Bulkhead;
///
/// let bulkhead = Bulkhead::new("db", 1);
/// let shared = bulkhead.clone();
/// let permit = shared.try_acquire().unwrap();
/// assert_eq!(bulkhead.in_flight(), 1);
/// drop(permit);
/// assert_eq!(bulkhead.in_flight(), 0);
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    inner: Arc<Inner>,
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.inner.name)
            .field("max_concurrent", &self.inner.max)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl Bulkhead {
    /// A bulkhead named `name` admitting at most `max_concurrent` calls at a time
    /// (0 rejects every call).
    ///
    /// ```
    /// use secure_tool::bulkhead::Bulkhead;
    ///
    /// let bulkhead = Bulkhead::new(String::from("db"), 8);
    /// assert_eq!((bulkhead.name(), bulkhead.max_concurrent()), ("db", 8));
    /// ```
    pub fn new(name: impl Into<Arc<str>>, max_concurrent: usize) -> Self {
        Bulkhead {
            inner: Arc::new(Inner {
                in_flight: AtomicUsize::new(0),
                max: max_concurrent,
                rejected: AtomicU64::new(0),
                name: name.into(),
            }),
        }
    }

    /// A bulkhead with the default cap, [`DEFAULT_MAX_CONCURRENT`] (32).
    ///
    /// ```
    /// use secure_tool::bulkhead::Bulkhead;
    ///
    /// assert_eq!(Bulkhead::with_default_limit("db").max_concurrent(), 32);
    /// ```
    pub fn with_default_limit(name: impl Into<Arc<str>>) -> Self {
        Bulkhead::new(name, DEFAULT_MAX_CONCURRENT)
    }

    /// Takes a slot if one is free, without waiting. Allocation-free and lock-free; the
    /// slot is released when the permit is dropped.
    ///
    /// # Errors
    ///
    /// [`BulkheadFull`] when `max_concurrent` calls already hold a slot.
    ///
    /// ```
    /// use secure_tool::bulkhead::Bulkhead;
    ///
    /// let bulkhead = Bulkhead::new("db", 1);
    /// let permit = bulkhead.try_acquire().expect("a free slot");
    /// let full = bulkhead.try_acquire().unwrap_err();
    /// assert_eq!(full.max_concurrent, 1);
    /// drop(permit);
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        let inner = &*self.inner;
        let max = inner.max;
        match inner
            .in_flight
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
                if n < max { Some(n + 1) } else { None }
            }) {
            Ok(_) => Ok(BulkheadPermit { inner }),
            Err(_) => {
                inner.rejected.fetch_add(1, Ordering::Relaxed);
                Err(BulkheadFull {
                    max_concurrent: max,
                })
            }
        }
    }

    /// The bulkhead's name.
    ///
    /// ```
    /// use secure_tool::bulkhead::Bulkhead;
    ///
    /// assert_eq!(Bulkhead::new("db", 4).name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The cap on concurrent calls.
    ///
    /// ```
    /// use secure_tool::bulkhead::Bulkhead;
    ///
    /// assert_eq!(Bulkhead::new("db", 4).max_concurrent(), 4);
    /// ```
    pub fn max_concurrent(&self) -> usize {
        self.inner.max
    }

    /// Calls currently holding a slot.
    ///
    /// ```
    /// use secure_tool::bulkhead::Bulkhead;
    ///
    /// let bulkhead = Bulkhead::new("db", 4);
    /// let _p = bulkhead.try_acquire().unwrap();
    /// assert_eq!(bulkhead.in_flight(), 1);
    /// ```
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Acquire)
    }

    /// Free slots.
    ///
    /// ```
    /// use secure_tool::bulkhead::Bulkhead;
    ///
    /// let bulkhead = Bulkhead::new("db", 4);
    /// let _p = bulkhead.try_acquire().unwrap();
    /// assert_eq!(bulkhead.available(), 3);
    /// ```
    pub fn available(&self) -> usize {
        self.inner.max.saturating_sub(self.in_flight())
    }

    /// A point-in-time view of the bulkhead.
    ///
    /// ```
    /// use secure_tool::bulkhead::Bulkhead;
    ///
    /// let bulkhead = Bulkhead::new("db", 0);
    /// assert!(bulkhead.try_acquire().is_err());
    /// let s = bulkhead.snapshot();
    /// assert_eq!((s.in_flight, s.max_concurrent, s.rejected), (0, 0, 1));
    /// ```
    pub fn snapshot(&self) -> BulkheadSnapshot {
        BulkheadSnapshot {
            name: self.inner.name.clone(),
            max_concurrent: self.inner.max,
            in_flight: self.in_flight(),
            rejected: self.inner.rejected.load(Ordering::Relaxed),
        }
    }
}

/// A slot of a [`Bulkhead`], released on drop.
///
/// ```
/// use secure_tool::bulkhead::Bulkhead;
///
/// let bulkhead = Bulkhead::new("db", 1);
/// {
///     let _permit = bulkhead.try_acquire().unwrap();
///     assert_eq!(bulkhead.available(), 0);
/// }
/// assert_eq!(bulkhead.available(), 1);
/// ```
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct BulkheadPermit<'a> {
    inner: &'a Inner,
}

impl fmt::Debug for BulkheadPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("bulkhead", &self.inner.name)
            .finish()
    }
}

impl Drop for BulkheadPermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.inner.in_flight.fetch_sub(1, Ordering::Release);
    }
}

/// The bulkhead had no free slot. Its `Display` text is safe to show to a client.
///
/// ```
/// use secure_tool::bulkhead::Bulkhead;
///
/// let bulkhead = Bulkhead::new("db", 0);
/// let full = bulkhead.try_acquire().unwrap_err();
/// assert_eq!(full.to_string(), "too many concurrent calls to this dependency; try again later");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkheadFull {
    /// The cap that was reached.
    pub max_concurrent: usize,
}

impl fmt::Display for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("too many concurrent calls to this dependency; try again later")
    }
}

impl std::error::Error for BulkheadFull {}

/// A point-in-time view of a [`Bulkhead`].
///
/// ```
/// use secure_tool::bulkhead::Bulkhead;
///
/// let s = Bulkhead::new("db", 3).snapshot();
/// assert_eq!(&*s.name, "db");
/// assert_eq!(s.max_concurrent, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkheadSnapshot {
    /// The bulkhead's name (its only metric label).
    pub name: Arc<str>,
    /// The cap on concurrent calls.
    pub max_concurrent: usize,
    /// Calls holding a slot.
    pub in_flight: usize,
    /// Calls rejected since the bulkhead was built.
    pub rejected: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn debug_shows_the_name_the_cap_and_the_calls_in_flight() {
        let b = Bulkhead::new("dep", 2);
        let permit = b.try_acquire().unwrap();
        assert_eq!(
            format!("{b:?}"),
            r#"Bulkhead { name: "dep", max_concurrent: 2, in_flight: 1 }"#
        );
        assert_eq!(
            format!("{permit:?}"),
            r#"BulkheadPermit { bulkhead: "dep" }"#
        );
    }

    #[test]
    fn admits_exactly_max_and_releases_on_drop() {
        let b = Bulkhead::new("dep", 3);
        let permits: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
        assert_eq!(b.in_flight(), 3);
        assert_eq!(b.available(), 0);
        let full = b.try_acquire().unwrap_err();
        assert_eq!(full, BulkheadFull { max_concurrent: 3 });
        drop(permits);
        assert_eq!(b.in_flight(), 0);
        let again: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
        assert!(b.try_acquire().is_err());
        drop(again);
        let s = b.snapshot();
        assert_eq!((s.in_flight, s.max_concurrent, s.rejected), (0, 3, 2));
    }

    #[test]
    fn default_limit_and_zero() {
        let b = Bulkhead::with_default_limit("dep");
        let permits: Vec<_> = (0..DEFAULT_MAX_CONCURRENT)
            .map(|_| b.try_acquire().unwrap())
            .collect();
        assert!(b.try_acquire().is_err());
        drop(permits);
        let zero = Bulkhead::new("none", 0);
        assert!(zero.try_acquire().is_err());
        assert_eq!(zero.available(), 0);
    }

    #[test]
    fn clones_share_slots() {
        let a = Bulkhead::new("dep", 1);
        let b = a.clone();
        let p = a.try_acquire().unwrap();
        assert!(b.try_acquire().is_err());
        drop(p);
        assert!(b.try_acquire().is_ok());
    }

    #[test]
    fn concurrent_acquire_admits_exactly_max() {
        const THREADS: usize = 16;
        const MAX: usize = 5;
        for _round in 0..20 {
            let b = Bulkhead::new("dep", MAX);
            let start = Barrier::new(THREADS);
            let hold = Barrier::new(THREADS);
            let admitted: usize = std::thread::scope(|s| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            let p = b.try_acquire();
                            let ok = p.is_ok();
                            hold.wait(); // every thread has tried while the others still hold
                            drop(p);
                            usize::from(ok)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            assert_eq!(admitted, MAX);
            assert_eq!(b.in_flight(), 0);
            assert_eq!(b.snapshot().rejected, (THREADS - MAX) as u64);
        }
    }

    #[test]
    fn error_is_std_error_with_safe_text() {
        let e: Box<dyn std::error::Error> = Box::new(BulkheadFull { max_concurrent: 7 });
        assert!(!e.to_string().contains('7'));
    }
}

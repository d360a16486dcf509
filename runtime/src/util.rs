//! Small helpers that several modules of the crate share.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// splitmix64: a cheap, well-mixed 64-bit hash, for the jitter of the breakers' open
/// periods and of the health probes.
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The message of a caught panic payload: the `&str` or `String` it was raised with, or
/// a placeholder for any other payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Drops what `drop` drops (a handler's or a policy's future, a caller's value) with a
/// panic in its `Drop` caught and logged: user code dropped by the guard (past a deadline,
/// after a panic, when a call is cancelled) must not take the request's task down with it,
/// which would leave the request unanswered and unaudited.
pub(crate) fn drop_caught(what: &str, drop: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(drop)) {
        tracing::error!(
            target: "secure_tool::guard",
            what,
            panic = %LogSafe::new(&panic_message(&*panic), 2048),
            "a panic while dropping user code was caught"
        );
    }
}

/// How many of something each caller holds (by subject; every anonymous caller
/// together), so that none holds more than its share: a place is taken with
/// [`PerCaller::take`] and given back when its [`CallerSlot`] is dropped.
#[derive(Default)]
pub(crate) struct PerCaller(Arc<Mutex<HashMap<Arc<str>, usize>>>);

/// A caller's place in a [`PerCaller`]: given back when dropped.
pub(crate) struct CallerSlot {
    counts: Arc<Mutex<HashMap<Arc<str>, usize>>>,
    who: Arc<str>,
}

impl PerCaller {
    /// A place for `principal`, unless it holds `max` already.
    pub(crate) fn take(
        &self,
        principal: &crate::authz::Principal,
        max: usize,
    ) -> Option<CallerSlot> {
        let who: Arc<str> = Arc::from(principal.subject().unwrap_or(""));
        let mut counts = crate::server::lock(&self.0);
        let count = counts.entry(Arc::clone(&who)).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(CallerSlot {
            counts: Arc::clone(&self.0),
            who,
        })
    }
}

impl Drop for CallerSlot {
    fn drop(&mut self) {
        let mut counts = crate::server::lock(&self.counts);
        if let Some(count) = counts.get_mut(&self.who) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.who);
            }
        }
    }
}

/// Text from outside (a token's subject, an argument's name, an error's message) as one
/// log field may hold it: a backslash, control characters (newlines, escapes), the
/// Unicode line and paragraph separators and the bidirectional controls are written
/// escaped (`\n`, `\u{1b}`), and the text is cut after `limit` characters with `…`. No
/// value can then end a log line, start a forged one, restyle a terminal or reorder what
/// a reader sees, whatever subscriber writes the log.
///
/// It wraps any `Display` and escapes as it writes: nothing is formatted, and nothing
/// allocated, unless the event is written.
#[derive(Clone, Copy)]
pub(crate) struct LogSafe<T> {
    value: T,
    limit: usize,
}

impl<T: std::fmt::Display> LogSafe<T> {
    /// `value`, cut after `limit` characters.
    pub(crate) fn new(value: T, limit: usize) -> Self {
        Self { value, limit }
    }
}

/// Whether `c` must be escaped in a log field.
fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(c,
            '\u{2028}' | '\u{2029}'             // line and paragraph separators
            | '\u{200e}' | '\u{200f}'           // left-to-right and right-to-left marks
            | '\u{202a}'..='\u{202e}'           // embeddings and overrides
            | '\u{2066}'..='\u{2069}'           // isolates
            | '\u{feff}'                        // byte order mark
        )
}

/// Writes into a formatter, escaping and counting characters.
struct Escaper<'a, 'b> {
    out: &'a mut std::fmt::Formatter<'b>,
    left: usize,
    cut: bool,
}

impl std::fmt::Write for Escaper<'_, '_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        for c in text.chars() {
            if self.left == 0 {
                self.cut = true;
                return Ok(());
            }
            self.left -= 1;
            match c {
                '\\' => self.out.write_str("\\\\")?,
                '\n' => self.out.write_str("\\n")?,
                '\r' => self.out.write_str("\\r")?,
                '\t' => self.out.write_str("\\t")?,
                c if needs_escape(c) => write!(self.out, "{}", c.escape_unicode())?,
                c => self.out.write_char(c)?,
            }
        }
        Ok(())
    }
}

impl<T: std::fmt::Display> std::fmt::Display for LogSafe<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        let mut escaper = Escaper {
            out: f,
            left: self.limit,
            cut: false,
        };
        write!(escaper, "{}", self.value)?;
        if escaper.cut {
            escaper.out.write_char('…')?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::LogSafe;

    #[test]
    fn outside_text_cannot_break_or_restyle_a_log_line() {
        let forged =
            "ada\n2026-12-02T10:00:00Z INFO secure_tool::audit: tool=drop decision=\"allow\"";
        let written = LogSafe::new(forged, 256).to_string();
        assert!(!written.contains('\n'), "{written}");
        assert!(written.starts_with("ada\\n2026-12-02"), "{written}");

        for hostile in [
            "\r",
            "\u{1b}[2J",
            "\u{85}",
            "\u{2028}",
            "\u{2029}",
            "\u{202e}",
            "\u{2066}",
            "\0",
            "\u{7f}",
        ] {
            let written = LogSafe::new(hostile, 256).to_string();
            assert!(
                written
                    .chars()
                    .all(|c| !c.is_control() && !super::needs_escape(c) || c == '\\'),
                "{hostile:?} written as {written:?}"
            );
            assert!(
                written.starts_with('\\'),
                "{hostile:?} written as {written:?}"
            );
        }
        // A literal backslash is doubled, so that `\n` in the log always means an escape.
        assert_eq!(LogSafe::new(r"a\nb", 256).to_string(), r"a\\nb");
        assert_eq!(
            LogSafe::new("plain text, é", 256).to_string(),
            "plain text, é"
        );
    }

    #[test]
    fn outside_text_is_cut_at_its_limit() {
        assert_eq!(LogSafe::new("abcdef", 3).to_string(), "abc…");
        assert_eq!(LogSafe::new("abc", 3).to_string(), "abc");
        assert_eq!(LogSafe::new("ééééé", 2).to_string(), "éé…");
    }
}

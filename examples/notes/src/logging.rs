//! The server's log: stderr, one event per line, what it says by default, and how long a
//! line may be.
//!
//! A log shares its disk with the store, on many machines: a client whose every request
//! makes the log grow by more than it sent can fill that disk. So no line carries client
//! data whole at the levels enabled by default ([`default_filter`]), and every line is cut
//! at [`MAX_LINE`] bytes, whatever the filter ([`BoundedStderr`]).

use std::io::{self, Write};

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;

/// The longest log line written, in bytes, its end of line included. A longer event is
/// cut and says so: `… [N bytes cut]`.
pub const MAX_LINE: usize = 8 * 1024;

/// Room kept at the end of a cut line for its marker.
const MARKER_ROOM: usize = 48;

/// The filter when `NOTES_LOG` is not set: everything at INFO, except rmcp at WARN.
///
/// Why rmcp is turned down: rmcp 3.11 logs client data whole at INFO. `rmcp::service`
/// logs each client's `initialize` parameters ("Service initialized as server", with the
/// whole `clientInfo` and `capabilities`: a 3.2 MiB request became a 17.8 MiB line),
/// every notification a client sends ("received notification", with its parameters) and
/// the reason a client gives when it cancels a request ("cancelled"). At DEBUG,
/// `rmcp::transport::async_rw` logs every line it cannot parse, whole. What rmcp says at
/// WARN and above are failures of its own and refusals, a few of which quote what the
/// client sent (a bad `Host` or `Origin` header, over HTTP an `initialize` whose
/// `protocolVersion` does not match its header): those are rare, one per refused
/// request, and [`BoundedStderr`] cuts them at [`MAX_LINE`].
///
/// The server's own lines carry the shape of a call's arguments, never their values
/// (names cut at 64 characters, at most 32 of them), and the principal's name.
pub fn default_filter() -> Targets {
    Targets::new()
        .with_default(Level::INFO)
        .with_target("rmcp", Level::WARN)
}

/// Writes each event to stderr, cut at [`MAX_LINE`] bytes: the `MakeWriter` of the
/// server's log.
#[derive(Clone, Copy, Debug, Default)]
pub struct BoundedStderr;

impl<'a> MakeWriter<'a> for BoundedStderr {
    type Writer = BoundedLine<io::StderrLock<'static>>;

    fn make_writer(&'a self) -> Self::Writer {
        // Locked for the whole event, its marker included: lines of concurrent events
        // do not interleave.
        BoundedLine::new(io::stderr().lock(), MAX_LINE)
    }
}

/// The writer of one log event: passes on its first bytes, up to `limit` with the
/// marker, and drops the rest; when dropped, ends a cut event with `… [N bytes cut]` and
/// a new line.
pub struct BoundedLine<W: Write> {
    inner: W,
    /// Bytes of the event that may be passed on, the marker's room kept aside.
    room: usize,
    /// Bytes dropped.
    cut: usize,
}

impl<W: Write> BoundedLine<W> {
    /// A writer of one event into `inner`, of at most `limit` bytes.
    pub fn new(inner: W, limit: usize) -> Self {
        Self {
            inner,
            room: limit.saturating_sub(MARKER_ROOM),
            cut: 0,
        }
    }
}

impl<W: Write> Write for BoundedLine<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.cut == 0 && buf.len() <= self.room {
            self.inner.write_all(buf)?;
            self.room -= buf.len();
            return Ok(buf.len());
        }
        // Cut on a character boundary: the log stays UTF-8.
        let mut take = self.room.min(buf.len());
        while take > 0 && take < buf.len() && (buf[take] & 0b1100_0000) == 0b1000_0000 {
            take -= 1;
        }
        self.inner.write_all(&buf[..take])?;
        self.room -= take;
        self.cut += buf.len() - take;
        // Everything was taken care of: what is cut is counted.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Drop for BoundedLine<W> {
    fn drop(&mut self) {
        if self.cut > 0 {
            // The cut part held the event's end of line.
            let _ = writeln!(self.inner, "… [{} bytes cut]", self.cut);
            let _ = self.inner.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(limit: usize, writes: &[&str]) -> String {
        let mut out = Vec::new();
        {
            let mut line = BoundedLine::new(&mut out, limit);
            for text in writes {
                line.write_all(text.as_bytes()).unwrap();
            }
        }
        String::from_utf8(out).expect("the log stays UTF-8")
    }

    #[test]
    fn a_line_within_the_limit_is_written_whole() {
        let line = format!("{}\n", "a".repeat(MAX_LINE - MARKER_ROOM - 1));
        assert_eq!(written(MAX_LINE, &[&line]), line);
    }

    #[test]
    fn a_longer_line_is_cut_says_so_and_ends_its_line() {
        let huge = format!("INFO peer_info={}\n", "é".repeat(3 << 20));
        let out = written(MAX_LINE, &["2026 ", &huge]);
        assert!(out.len() <= MAX_LINE, "{} bytes", out.len());
        assert!(out.starts_with("2026 INFO peer_info=é"));
        let cut = 5 + huge.len() - (out.find('…').unwrap());
        assert!(out.ends_with(&format!("… [{cut} bytes cut]\n")), "{out:?}");
        assert_eq!(out.lines().count(), 1);
    }
}

//! A log that the crate's own tests can read: a `tracing` subscriber writing, without
//! colours, into a buffer shared by every clone.

use std::io;
use std::sync::{Arc, Mutex};

/// Makes `subscriber` this thread's default until the guard is dropped, so that it sees
/// every event of this thread, whatever other tests do on theirs.
///
/// `tracing` callsites cache, process-wide, whether any subscriber wants their events; a
/// callsite first reached on another test's thread, with no subscriber there, could cache
/// "nobody" while this default was being set, and this thread's events would be lost (the
/// breaker's transition test lost its `INFO` events about once in thirty runs under
/// `cargo test`'s threads). A global subscriber that wants every callsite (and drops every
/// event) is installed first: no callsite can then cache "nobody".
pub(crate) fn set_default(
    subscriber: impl tracing::Subscriber + Send + Sync + 'static,
) -> tracing::subscriber::DefaultGuard {
    static EVERY_CALLSITE_WANTED: std::sync::Once = std::sync::Once::new();
    EVERY_CALLSITE_WANTED.call_once(|| {
        // Fails only if a global subscriber was set before: then it decides.
        let _ = tracing::subscriber::set_global_default(WantsEverything);
    });
    tracing::subscriber::set_default(subscriber)
}

/// Wants every callsite at every level, and drops every event: the global subscriber of
/// the crate's tests (see [`set_default`]).
struct WantsEverything;

impl tracing::Subscriber for WantsEverything {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::always()
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// What was logged while a subscriber of this log was the default.
#[derive(Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    /// A subscriber recording every event at `DEBUG` and above into this log, outside of
    /// the calls' spans (which would prefix each line with their fields).
    pub(crate) fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        use tracing_subscriber::layer::SubscriberExt as _;

        let no_spans = tracing_subscriber::filter::Targets::new()
            .with_default(tracing::Level::DEBUG)
            .with_target(
                crate::audit::SPAN_TARGET,
                tracing::level_filters::LevelFilter::OFF,
            );
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish()
            .with(no_spans)
    }

    /// A subscriber recording the calls' spans as they close, with their fields, into this
    /// log.
    pub(crate) fn span_subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        use tracing_subscriber::layer::SubscriberExt as _;

        let spans_only = tracing_subscriber::filter::Targets::new()
            .with_target(crate::audit::SPAN_TARGET, tracing::Level::INFO);
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_ansi(false)
            .finish()
            .with(spans_only)
    }

    /// Everything logged so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl tracing_subscriber::fmt::MakeWriter<'_> for Log {
    type Writer = Log;

    fn make_writer(&self) -> Log {
        self.clone()
    }
}

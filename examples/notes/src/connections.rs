//! The HTTP server's connections, bounded: how long a client may take to send a request's
//! head and body, how long a kept-alive connection may sit idle, and how many connections
//! are open at once. Without these a few hundred half-open connections (no token needed)
//! held the server's file descriptors for ever and blocked every legitimate request.
//!
//! - **Header read timeout** ([`ConnectionLimits::header_read`]): hyper's, from the moment
//!   the connection is ready for a request to the end of its head. It also bounds an idle
//!   kept-alive connection: after a response, the wait for the next request's head is on
//!   the same clock, so an idle connection is closed when it runs out.
//! - **Body read timeout** ([`ConnectionLimits::body_read`]): from the request's head to
//!   the end of its body ([`DeadlineBody`]); past it, reading the body fails, the request
//!   is answered with an error and the connection closed.
//! - **Connection cap** ([`ConnectionLimits::max_connections`]): a semaphore around
//!   accepted connections; a connection over the cap is closed at once, never held.
//!
//! A response being streamed (an MCP event stream) is not bounded by these: only what the
//! client sends is.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use clap::Args;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::cli::values::{count, millis};

/// The bounds of the HTTP server's connections: `--http-header-timeout-ms`,
/// `--http-body-timeout-ms` and `--http-max-connections`, each with its `NOTES_HTTP_*`
/// variable as fallback.
///
/// Each field's documentation is its `--help` text, wrapped as it shows there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Args)]
#[command(
    next_help_heading = "HTTP slow clients (behind a reverse proxy, set these at the proxy too)"
)]
pub struct ConnectionLimits {
    /// The longest a client may take to send a request's head, and the
    /// longest a kept-alive connection waits idle for its next request, in
    /// milliseconds; then the connection is closed.
    #[arg(
        long = "http-header-timeout-ms",
        env = "NOTES_HTTP_HEADER_TIMEOUT_MS",
        value_name = "MS",
        default_value = "10000",
        value_parser = millis,
        verbatim_doc_comment
    )]
    pub header_read: Duration,
    /// The longest a client may take to send a request's body, from its
    /// head, in milliseconds; then the request fails and the connection is
    /// closed.
    #[arg(
        long = "http-body-timeout-ms",
        env = "NOTES_HTTP_BODY_TIMEOUT_MS",
        value_name = "MS",
        default_value = "30000",
        value_parser = millis,
        verbatim_doc_comment
    )]
    pub body_read: Duration,
    /// The most connections open at once; one more is closed at once.
    ///
    /// Keep it under the process's file descriptor limit.
    #[arg(
        long = "http-max-connections",
        env = "NOTES_HTTP_MAX_CONNECTIONS",
        value_name = "N",
        default_value = "512",
        value_parser = count::<usize>,
        verbatim_doc_comment
    )]
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            max_connections: 512,
        }
    }
}

/// The error of a body that was not received within its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within {0:?}")]
pub struct BodyTimedOut(Duration);

/// A request body that fails once its deadline has passed before its end.
pub struct DeadlineBody<B> {
    inner: B,
    deadline: Instant,
    limit: Duration,
    /// Made on the first wait, so that a request whose body is already there (or empty)
    /// costs no timer.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<B> DeadlineBody<B> {
    /// `inner`, which must end within `limit` from now.
    pub fn new(inner: B, limit: Duration) -> Self {
        Self {
            inner,
            deadline: Instant::now() + limit,
            limit,
            sleep: None,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The connection cap: a permit per open connection.
#[derive(Clone)]
pub struct ConnectionCap {
    permits: Arc<tokio::sync::Semaphore>,
    max: usize,
}

impl ConnectionCap {
    /// A cap of `max` connections.
    pub fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(max)),
            max,
        }
    }

    /// A permit for one more connection, held until the connection ends; `None` when
    /// `max` are open.
    pub fn admit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.permits).try_acquire_owned().ok()
    }

    /// How many connections are open.
    pub fn open(&self) -> usize {
        self.max - self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    fn limits(args: &[&str]) -> Result<ConnectionLimits, String> {
        crate::cli::parse_without_env(args)
            .map(|parsed| parsed.cli.http.limits)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn the_limits_have_defaults_and_refuse_nonsense() {
        assert_eq!(limits(&[]).unwrap(), ConnectionLimits::default());
        let set = limits(&[
            "--http-header-timeout-ms",
            "250",
            "--http-max-connections",
            "7",
        ])
        .unwrap();
        assert_eq!(set.header_read, Duration::from_millis(250));
        assert_eq!(set.max_connections, 7);
        let zero = limits(&["--http-body-timeout-ms", "0"]).unwrap_err();
        assert!(
            zero.contains("invalid value '0' for '--http-body-timeout-ms <MS>'"),
            "{zero}"
        );
    }

    /// A body that sends one frame, then nothing more, never ending.
    struct Stalled(bool);

    impl Body for Stalled {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if std::mem::replace(&mut self.0, true) {
                Poll::Pending
            } else {
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"part")))))
            }
        }
    }

    #[tokio::test]
    async fn a_body_not_received_in_time_fails_and_one_received_in_time_does_not() {
        let limit = Duration::from_millis(50);
        let started = Instant::now();
        let error = DeadlineBody::new(Stalled(false), limit)
            .collect()
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("not received within 50ms"),
            "{error}"
        );
        assert!(started.elapsed() >= limit);

        let whole = DeadlineBody::new(
            http_body_util::Full::new(Bytes::from_static(b"all")),
            Duration::from_secs(5),
        );
        let whole = whole.collect().await.unwrap().to_bytes();
        assert_eq!(&whole[..], b"all");
    }

    #[test]
    fn the_cap_admits_up_to_its_size() {
        let cap = ConnectionCap::new(2);
        let (first, second) = (cap.admit().unwrap(), cap.admit().unwrap());
        assert!(cap.admit().is_none());
        assert_eq!(cap.open(), 2);
        drop(first);
        assert!(cap.admit().is_some());
        drop(second);
    }
}

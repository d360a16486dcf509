//! MCP over standard input and output (newline-delimited JSON-RPC) with every request
//! answered: [`StdioTransport`], which [`SecureServer::serve_stdio`] uses.
//!
//! rmcp's own line transport drops, unanswered, a message it cannot parse: one nested
//! deeper than serde_json's recursion limit, one longer than its 16 MiB line limit, or one
//! that is not JSON. A client that sent it as a request waits for its answer for ever (the
//! official Python SDK does). This transport keeps the same limits, bounds its memory the
//! same way, and reads each line once more, without recursion and in constant memory, for
//! its top-level `"id"` and `"method"`: a request the server cannot take is answered with a
//! JSON-RPC error for its id, naming the limit, never echoing what it carried:
//!
//! | the line | the answer |
//! |---|---|
//! | longer than [`DEFAULT_MAX_MESSAGE_BYTES`] (or [`StdioTransport::max_message_bytes`]) | `-32600` invalid request |
//! | nesting arrays and objects deeper than [`MAX_NESTING`] levels | `-32600` invalid request |
//! | not JSON | `-32700` parse error |
//! | JSON, but not a message of the protocol | `-32600` invalid request |
//!
//! Where no id can be read (it is not a request, its id is not a plain number or a string
//! of at most [`MAX_ID_BYTES`] bytes, it comes after a line that does not start as a JSON
//! object), the line is dropped, the session goes on, and a warning (target
//! `secure_tool::stdio`) says why, with the line's length and nothing of its content. A
//! notification (a `"method"` without an `"id"`) is never answered, as JSON-RPC requires;
//! one that rmcp would ignore as non-standard is ignored too.
//!
//! A client that writes requests and does not read their answers is slowed down: while
//! [`MAX_UNWRITTEN`] messages wait to be written, no more input is read (its writes block
//! once the pipe is full), so the answers waiting are bounded, and none is lost once it
//! reads again.
//!
//! [`SecureServer::serve_stdio`]: crate::SecureServer::serve_stdio

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ErrorData, RequestId};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// The longest line (one JSON-RPC message, its newline included) read by default: 16 MiB,
/// rmcp's own line limit.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The deepest nesting of arrays and objects accepted in a message: 127 levels, the most
/// serde_json parses (its recursion limit is 128).
pub const MAX_NESTING: usize = 127;

/// The longest request id (its JSON text, the quotes of a string included) that is read
/// from a line the server cannot take, to answer it.
pub const MAX_ID_BYTES: usize = 128;

/// The most messages written to the output and not yet taken by the client: past it, no
/// more input is read until the client takes some (a client that writes requests and
/// never reads their answers is slowed down, never buffered for without end).
pub const MAX_UNWRITTEN: usize = 64;

/// A line buffer that grew past this is given back after its line.
const KEEP_BUFFER: usize = 64 * 1024;

/// The UTF-8 byte order mark, which JSON parsers may ignore (RFC 8259 §8.1), as rmcp does.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A newline-delimited JSON-RPC transport for an MCP server that answers every request it
/// cannot take (see the [module](self)). Serve a server on it with
/// [`SecureServer::serve_trusted`](crate::SecureServer::serve_trusted) (the peer of
/// [`StdioTransport::stdio`] is the local caller) or rmcp's `serve`.
///
/// ```
/// use secure_tool::stdio::StdioTransport;
/// use secure_tool::rmcp::transport::Transport;
/// use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (server_io, client_io) = tokio::io::duplex(4096);
/// let (server_read, server_write) = tokio::io::split(server_io);
/// let mut transport = StdioTransport::new(server_read, server_write).max_message_bytes(1024);
/// let (client_read, mut client_write) = tokio::io::split(client_io);
///
/// // A request too long for the transport, its id at the end, then a good one.
/// let padding = "x".repeat(2000);
/// let line = format!(
///     "{{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{{\"name\":\"{padding}\"}},\"id\":7}}\n"
/// );
/// client_write.write_all(line.as_bytes()).await.unwrap();
/// client_write
///     .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}\n")
///     .await
///     .unwrap();
///
/// // The good one reaches the server; the long one was answered for its id.
/// let received = transport.receive().await.unwrap();
/// assert!(matches!(received, secure_tool::rmcp::model::JsonRpcMessage::Request(_)));
/// let mut answer = String::new();
/// BufReader::new(client_read).read_line(&mut answer).await.unwrap();
/// let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
/// assert_eq!(answer["id"], 7);
/// assert_eq!(answer["error"]["code"], -32600);
/// assert!(!answer.to_string().contains("xxxx"), "nothing of the request is echoed");
/// # }
/// ```
pub struct StdioTransport<R, W> {
    read: BufReader<R>,
    /// The line being read, while it fits.
    line: Vec<u8>,
    /// Set once the line being read is longer than `max_bytes`: it is read to its end
    /// (for its id) but not kept.
    oversized: bool,
    /// The shallow reading of the line being read.
    scan: Scan,
    max_bytes: usize,
    write: Arc<Mutex<Option<W>>>,
    /// A place for each message being written ([`MAX_UNWRITTEN`]).
    unwritten: Arc<tokio::sync::Semaphore>,
}

impl StdioTransport<tokio::io::Stdin, tokio::io::Stdout> {
    /// The transport on this process's standard input and output.
    ///
    /// ```no_run
    /// # async fn run(server: secure_tool::SecureServer<impl secure_tool::rmcp::ServerHandler>)
    /// # -> Result<(), Box<dyn std::error::Error>> {
    /// use secure_tool::stdio::StdioTransport;
    ///
    /// // What `server.serve_stdio()` does.
    /// server.serve_trusted(StdioTransport::stdio()).await?.waiting().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn stdio() -> Self {
        Self::new(tokio::io::stdin(), tokio::io::stdout())
    }
}

impl<R, W> StdioTransport<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    /// The transport reading messages from `read` and writing them to `write`, one per
    /// line.
    ///
    /// ```
    /// let (server_io, _client_io) = tokio::io::duplex(4096);
    /// let (read, write) = tokio::io::split(server_io);
    /// let _transport = secure_tool::stdio::StdioTransport::new(read, write);
    /// ```
    pub fn new(read: R, write: W) -> Self {
        Self {
            read: BufReader::new(read),
            line: Vec::new(),
            oversized: false,
            scan: Scan::default(),
            max_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            write: Arc::new(Mutex::new(Some(write))),
            unwritten: Arc::new(tokio::sync::Semaphore::new(MAX_UNWRITTEN)),
        }
    }

    /// Lines longer than `max_bytes` (their newline included) are not parsed: requests
    /// among them are answered `-32600`. Default: [`DEFAULT_MAX_MESSAGE_BYTES`].
    ///
    /// ```
    /// let (server_io, _client_io) = tokio::io::duplex(4096);
    /// let (read, write) = tokio::io::split(server_io);
    /// let _transport =
    ///     secure_tool::stdio::StdioTransport::new(read, write).max_message_bytes(1024 * 1024);
    /// ```
    #[must_use]
    pub fn max_message_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes.max(1);
        self
    }

    /// Reads one line, feeding every byte of it to the scan, keeping it only while it is
    /// within the limit. Cancellation-safe: what was read stays in `self`, and the next
    /// call goes on with the same line.
    async fn read_line(&mut self) -> LineRead {
        loop {
            let (consumed, ended) = {
                let available = match self.read.fill_buf().await {
                    Ok(available) => available,
                    Err(error) => return LineRead::Failed(error),
                };
                if available.is_empty() {
                    return LineRead::Eof;
                }
                let newline = available.iter().position(|byte| *byte == b'\n');
                let take = newline.map_or(available.len(), |at| at + 1);
                let chunk = &available[..take];
                self.scan.feed(chunk);
                if !self.oversized {
                    if self.line.len().saturating_add(take) > self.max_bytes {
                        self.oversized = true;
                        self.line = Vec::new();
                    } else {
                        self.line.extend_from_slice(chunk);
                    }
                }
                (take, newline.is_some())
            };
            self.read.consume(consumed);
            if ended {
                let scanned = std::mem::take(&mut self.scan).finish();
                return if std::mem::take(&mut self.oversized) {
                    LineRead::Oversized(scanned)
                } else {
                    LineRead::Line(scanned)
                };
            }
        }
    }

    /// Parses the line read, or says why it cannot be taken.
    fn parse(&self, scanned: &Scanned) -> Result<Option<RxJsonRpcMessage<RoleServer>>, Refusal> {
        let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = line.strip_prefix(UTF8_BOM).unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        if scanned.depth > MAX_NESTING {
            return Err(Refusal::TooDeep);
        }
        match serde_json::from_slice(line) {
            Ok(message) => Ok(Some(message)),
            Err(error) => match error.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof
                    if error.to_string().starts_with("recursion limit exceeded") =>
                {
                    Err(Refusal::TooDeep)
                }
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    Err(Refusal::NotJson)
                }
                serde_json::error::Category::Data | serde_json::error::Category::Io => {
                    Err(Refusal::NotAMessage)
                }
            },
        }
    }

    /// Answers a line that could not be taken, if it is a request whose id was read; logs
    /// why otherwise.
    fn refuse(&mut self, refusal: Refusal, scanned: Scanned, bytes: usize) {
        let reason = refusal.reason(self.max_bytes);
        match (scanned.method, scanned.id) {
            (true, Some(id)) => {
                tracing::warn!(
                    target: "secure_tool::stdio",
                    bytes,
                    reason = %reason,
                    "refused an incoming request: answered with a JSON-RPC error for its id"
                );
                let answer =
                    TxJsonRpcMessage::<RoleServer>::error(refusal.error(&reason), Some(id));
                // Written whole on its own task, so that a cancelled `receive` cannot cut it.
                let sent = self.send(answer);
                tokio::spawn(async move {
                    if let Err(error) = sent.await {
                        tracing::warn!(target: "secure_tool::stdio", %error, "could not write an error answer");
                    }
                });
            }
            (true, None) if scanned.id_given => tracing::warn!(
                target: "secure_tool::stdio",
                bytes,
                reason = %reason,
                "dropped an incoming request: its id is not a number or a string of at most \
                 128 bytes, so it cannot be answered"
            ),
            (true, None) => tracing::warn!(
                target: "secure_tool::stdio",
                bytes,
                reason = %reason,
                "dropped an incoming notification (no id): notifications are not answered"
            ),
            (false, _) => tracing::warn!(
                target: "secure_tool::stdio",
                bytes,
                reason = %reason,
                "dropped an incoming line: no top-level \"method\" and \"id\" could be read from it, \
                 so it is not a request that can be answered"
            ),
        }
    }
}

/// What one bounded line read found.
enum LineRead {
    /// A whole line is in `line`.
    Line(Scanned),
    /// The line was longer than the limit; it was read to its end, not kept.
    Oversized(Scanned),
    Eof,
    Failed(std::io::Error),
}

/// Why a line cannot be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    TooLarge,
    TooDeep,
    NotJson,
    NotAMessage,
}

impl Refusal {
    /// What the client and the log are told: the limit, never the content.
    fn reason(self, max_bytes: usize) -> String {
        match self {
            Refusal::TooLarge => format!("the message is longer than {max_bytes} bytes"),
            Refusal::TooDeep => {
                format!("the message nests arrays and objects deeper than {MAX_NESTING} levels")
            }
            Refusal::NotJson => "the message is not valid JSON".to_owned(),
            Refusal::NotAMessage => "the message is not a valid MCP JSON-RPC message".to_owned(),
        }
    }

    fn error(self, reason: &str) -> ErrorData {
        match self {
            Refusal::NotJson => ErrorData::parse_error(format!("Parse error: {reason}"), None),
            Refusal::TooLarge | Refusal::TooDeep | Refusal::NotAMessage => {
                ErrorData::invalid_request(format!("Invalid request: {reason}"), None)
            }
        }
    }
}

impl<R, W> Transport<RoleServer> for StdioTransport<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    type Error = std::io::Error;

    fn name() -> Cow<'static, str> {
        Cow::Borrowed("secure_tool::stdio::StdioTransport")
    }

    fn send(
        &mut self,
        mut item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let write = Arc::clone(&self.write);
        let unwritten = Arc::clone(&self.unwritten);
        if let rmcp::model::JsonRpcMessage::Error(error) = &mut item {
            crate::echo::forget_requested(&mut error.error);
        }
        async move {
            // Held until the message is written: while `MAX_UNWRITTEN` are, no input is
            // read (see `receive`). The semaphore is never closed.
            let _place = unwritten.acquire_owned().await.ok();
            let mut bytes = serde_json::to_vec(&item)?;
            bytes.push(b'\n');
            let mut write = write.lock().await;
            let Some(write) = write.as_mut() else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the transport is closed",
                ));
            };
            write.write_all(&bytes).await?;
            write.flush().await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            // Back-pressure: nothing more is read while the client leaves `MAX_UNWRITTEN`
            // messages unread (each request read would add its answer to them).
            drop(self.unwritten.acquire().await);
            let (refusal, scanned, bytes) = match self.read_line().await {
                LineRead::Eof => return None,
                LineRead::Failed(error) => {
                    tracing::error!(target: "secure_tool::stdio", %error, "cannot read the input");
                    return None;
                }
                LineRead::Oversized(scanned) => {
                    let bytes = scanned.bytes;
                    (Refusal::TooLarge, scanned, bytes)
                }
                LineRead::Line(scanned) => {
                    let parsed = self.parse(&scanned);
                    let bytes = self.line.len();
                    self.line.clear();
                    if self.line.capacity() > KEEP_BUFFER {
                        self.line = Vec::new();
                    }
                    match parsed {
                        Ok(Some(message)) => return Some(message),
                        Ok(None) => continue,
                        // rmcp ignores notifications it does not know: so does this.
                        Err(Refusal::NotAMessage) if scanned.method && !scanned.id_given => {
                            continue;
                        }
                        Err(refusal) => (refusal, scanned, bytes),
                    }
                }
            };
            self.refuse(refusal, scanned, bytes);
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        let writer = self.write.lock().await.take();
        if let Some(mut writer) = writer {
            writer.shutdown().await?;
        }
        Ok(())
    }
}

/// What the shallow scan of a line found.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scanned {
    /// The request id, when the line is an object with one top-level `"id"` that is an
    /// integer or a string of at most [`MAX_ID_BYTES`] bytes.
    id: Option<RequestId>,
    /// Whether the line has a top-level `"id"` at all.
    id_given: bool,
    /// Whether the line has a top-level `"method"`.
    method: bool,
    /// The deepest nesting of arrays and objects.
    depth: usize,
    /// The line's length, its newline included.
    bytes: usize,
}

/// Where a top-level value of interest stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Expect {
    /// Before the first byte of the line that is not whitespace.
    #[default]
    Start,
    /// The line does not start with `{`: nothing more is read from it.
    NotAnObject,
    Key,
    Colon,
    Value,
    /// After a value, before `,` or `}`.
    Comma,
}

/// Which top-level key the value being read belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Field {
    #[default]
    Other,
    Id,
    Method,
}

/// The request id's text, as it is read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum IdText {
    #[default]
    Absent,
    Reading(Vec<u8>),
    Read(Vec<u8>),
    /// Not an integer or a short string, or given twice.
    Unusable,
}

/// A one-pass reading of a JSON line that keeps nothing but a few counters, flags and the
/// id's text (at most [`MAX_ID_BYTES`]): no recursion, constant memory whatever the line.
/// It does not validate the JSON; it only finds the top-level `"id"` and `"method"` of a
/// line that starts as an object, and the deepest nesting.
#[derive(Debug, Default)]
struct Scan {
    bytes: usize,
    depth: usize,
    max_depth: usize,
    in_string: bool,
    escaped: bool,
    expect: Expect,
    /// The top-level key being read (its first bytes: "method" is the longest of
    /// interest), and whether it was longer.
    key: [u8; 6],
    key_len: usize,
    key_long: bool,
    reading_key: bool,
    field: Field,
    id: IdText,
    id_given: bool,
    method: bool,
}

impl Scan {
    fn feed(&mut self, bytes: &[u8]) {
        self.bytes = self.bytes.saturating_add(bytes.len());
        for &byte in bytes {
            self.byte(byte);
        }
    }

    fn byte(&mut self, byte: u8) {
        if self.expect == Expect::NotAnObject && !self.in_string {
            // Only the nesting is followed.
            self.nest(byte);
            return;
        }
        if self.in_string {
            self.string_byte(byte);
            return;
        }
        if self.expect == Expect::Start {
            if byte.is_ascii_whitespace() || byte == 0xEF || byte == 0xBB || byte == 0xBF {
                return;
            }
            if byte != b'{' {
                self.expect = Expect::NotAnObject;
                self.nest(byte);
                return;
            }
        }
        let top = self.depth == 1;
        match byte {
            b'"' => {
                self.in_string = true;
                if top && self.expect == Expect::Key {
                    self.reading_key = true;
                    self.key_len = 0;
                    self.key_long = false;
                } else if top && self.expect == Expect::Value {
                    self.start_value(byte);
                }
            }
            b'{' | b'[' => {
                if top && self.expect == Expect::Value {
                    self.start_value(byte);
                    self.unusable_if_id();
                }
                self.depth = self.depth.saturating_add(1);
                self.max_depth = self.max_depth.max(self.depth);
                if self.depth == 1 {
                    self.expect = Expect::Key;
                }
            }
            b'}' | b']' => {
                if top {
                    self.end_value();
                }
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 1 {
                    self.expect = Expect::Comma;
                }
            }
            b':' if top && self.expect == Expect::Colon => self.expect = Expect::Value,
            b',' if top => {
                self.end_value();
                self.expect = Expect::Key;
            }
            _ if top && byte.is_ascii_whitespace() => self.end_value(),
            _ if byte.is_ascii_whitespace() => {}
            _ if top => {
                if self.expect == Expect::Value {
                    self.start_value(byte);
                } else if let IdText::Reading(text) = &mut self.id {
                    if text.len() < MAX_ID_BYTES {
                        text.push(byte);
                    } else {
                        self.id = IdText::Unusable;
                    }
                }
            }
            _ => {}
        }
    }

    /// A byte inside a string.
    fn string_byte(&mut self, byte: u8) {
        let closing = !self.escaped && byte == b'"';
        self.escaped = !self.escaped && byte == b'\\';
        if self.reading_key {
            if closing {
                self.in_string = false;
                self.reading_key = false;
                self.field = match (&self.key[..self.key_len], self.key_long) {
                    (b"id", false) => Field::Id,
                    (b"method", false) => Field::Method,
                    _ => Field::Other,
                };
                self.expect = Expect::Colon;
            } else if self.key_len < self.key.len() {
                self.key[self.key_len] = byte;
                self.key_len += 1;
            } else {
                self.key_long = true;
            }
            return;
        }
        if let IdText::Reading(text) = &mut self.id {
            if text.len() < MAX_ID_BYTES {
                text.push(byte);
            } else {
                self.id = IdText::Unusable;
            }
        }
        if closing {
            self.in_string = false;
            if self.depth == 1 {
                self.end_value();
            }
        }
    }

    /// The first byte of a top-level value.
    fn start_value(&mut self, byte: u8) {
        self.expect = Expect::Comma;
        match self.field {
            Field::Method => self.method = true,
            Field::Id => {
                self.id = if self.id_given {
                    IdText::Unusable
                } else {
                    IdText::Reading(vec![byte])
                };
                self.id_given = true;
            }
            Field::Other => {}
        }
    }

    fn unusable_if_id(&mut self) {
        if self.field == Field::Id {
            self.id = IdText::Unusable;
        }
    }

    /// The end of a top-level value (a delimiter after it).
    fn end_value(&mut self) {
        if let IdText::Reading(text) = &mut self.id {
            self.id = IdText::Read(std::mem::take(text));
        }
    }

    /// Follows the nesting only, outside strings.
    fn nest(&mut self, byte: u8) {
        if self.in_string {
            let closing = !self.escaped && byte == b'"';
            self.escaped = !self.escaped && byte == b'\\';
            if closing {
                self.in_string = false;
            }
            return;
        }
        match byte {
            b'"' => self.in_string = true,
            b'{' | b'[' => {
                self.depth = self.depth.saturating_add(1);
                self.max_depth = self.max_depth.max(self.depth);
            }
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
    }

    fn finish(mut self) -> Scanned {
        self.end_value();
        let id = match &self.id {
            IdText::Read(text) => serde_json::from_slice::<RequestId>(text).ok(),
            _ => None,
        };
        Scanned {
            id,
            id_given: self.id_given,
            method: self.method,
            depth: self.max_depth,
            bytes: self.bytes,
        }
    }
}

#[cfg(test)]
mod tests;

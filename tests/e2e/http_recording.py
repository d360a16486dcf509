"""Every byte an HTTP client received, recorded twice (helper of test_canaries_http.py).

* `RecordingProxy`: a TCP proxy (asyncio, standard library only) between the client and
  the server. Every byte the server sends is appended to its connection's record *before*
  it is forwarded, so the records are a superset of what the client received, raw: status
  lines, headers, chunk framing and bodies. `parse_responses` splits such a record into
  its HTTP/1.1 responses and removes the framing (chunked transfer coding, then any
  content coding), so that a string split across chunks is found in one piece.
* `RecordingTransport`: an httpx2 transport for the MCP SDK's streamable HTTP client that
  records each response as the client's transport got it (status, headers, and the body
  after the HTTP library removed the chunked framing), before the SDK reads it.

A response that cannot be decoded (an unknown content coding, a chunk size that does not
parse) is kept with its raw bytes and reported in `undecodable`, so that a scan never
silently skips what it could not read.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx2

PUMP_CHUNK = 64 * 1024
CLOSE_TIMEOUT_SECONDS = 10


@dataclass
class Received:
    """One HTTP response: its head (status line and headers) and its decoded body."""

    head: bytes
    status: int
    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)
    undecodable: str | None = None

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    def decoded(self) -> bytes:
        """The head and the body without its content codings (`undecodable` says if not)."""
        body = bytes(self.body)
        codings = [c.strip().lower() for value in self.header("content-encoding") for c in value.split(",")]
        for coding in reversed([c for c in codings if c and c != "identity"]):
            try:
                if coding in ("gzip", "x-gzip"):
                    body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
                elif coding == "deflate":
                    body = zlib.decompressobj(-zlib.MAX_WBITS if body[:1] != b"\x78" else zlib.MAX_WBITS).decompress(body)
                else:
                    raise ValueError(f"content coding {coding!r}")
            except (zlib.error, ValueError) as error:
                self.undecodable = f"{coding}: {error}"
                return self.head + bytes(self.body)
        return self.head + body


def _head(raw: bytes) -> tuple[int, list[tuple[str, str]]]:
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = []
    for line in filter(None, lines[1:]):
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return status, headers


def parse_responses(record: bytes) -> list[Received]:
    """The HTTP/1.1 responses of one connection's record, in order. A record cut short (the
    client closed a stream) keeps what arrived of its last response."""
    responses: list[Received] = []
    pos = 0
    while pos < len(record):
        end = record.find(b"\r\n\r\n", pos)
        head = record[pos:] if end < 0 else record[pos : end + 4]
        status, headers = _head(head)
        response = Received(head=head, status=status, headers=headers)
        responses.append(response)
        if end < 0:
            break
        pos = end + 4
        codings = ",".join(response.header("transfer-encoding")).lower()
        lengths = response.header("content-length")
        if 100 <= status < 200 or status in (204, 304):
            continue
        if "chunked" in codings:
            pos = _dechunk(record, pos, response)
        elif lengths and lengths[0].isdigit():
            length = int(lengths[0])
            response.body += record[pos : pos + length]
            pos += length
        else:
            response.body += record[pos:]
            pos = len(record)
    return responses


def _dechunk(record: bytes, pos: int, response: Received) -> int:
    """Appends the chunks from `pos` to the response's body; the position after them."""
    while pos < len(record):
        line_end = record.find(b"\r\n", pos)
        if line_end < 0:
            response.body += record[pos:]
            return len(record)
        size_field = record[pos:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            response.undecodable = f"chunk size {size_field[:20]!r}"
            response.body += record[pos:]
            return len(record)
        pos = line_end + 2
        if size == 0:
            trailers_end = record.find(b"\r\n", pos)
            while trailers_end > pos:
                # A trailer field: it is part of what the client received.
                response.body += b"\r\n" + record[pos:trailers_end]
                pos = trailers_end + 2
                trailers_end = record.find(b"\r\n", pos)
            return len(record) if trailers_end < 0 else trailers_end + 2
        response.body += record[pos : pos + size]
        pos += size + 2
    return pos


class RecordingProxy:
    """Forwards every connection to `upstream`, recording what the server sent on each."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.records: list[bytearray] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        """Listens on a free loopback port, and returns it."""
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        record = bytearray()
        self.records.append(record)
        self._writers.append(client_writer)
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        self._writers.append(server_writer)
        upstream = asyncio.create_task(self._pump(client_reader, server_writer, None))
        downstream = asyncio.create_task(self._pump(server_reader, client_writer, record))
        self._tasks.update((upstream, downstream))
        await asyncio.gather(upstream, downstream, return_exceptions=True)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bytearray | None) -> None:
        try:
            while data := await reader.read(PUMP_CHUNK):
                if record is not None:
                    record += data  # before the client can see it
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
        except OSError:
            writer.close()

    async def close(self) -> None:
        """Stops listening and closes every connection (bounded)."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=CLOSE_TIMEOUT_SECONDS)
        if self._server is not None:
            await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT_SECONDS)


class _TeeStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, response: Received) -> None:
        self.inner = inner
        self.response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            self.response.body += chunk
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class RecordingTransport(httpx2.AsyncBaseTransport):
    """httpx2's own transport, recording each response into `responses` as it is read."""

    def __init__(self, responses: list[Received]) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.responses = responses

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        got = await self.inner.handle_async_request(request)
        version = got.extensions.get("http_version", b"HTTP/1.1")
        reason = got.extensions.get("reason_phrase", b"")
        head = version + b" " + str(got.status_code).encode() + b" " + reason + b"\r\n"
        head += b"".join(name + b": " + value + b"\r\n" for name, value in got.headers.raw) + b"\r\n"
        response = Received(head=head, status=got.status_code, headers=_head(head)[1])
        self.responses.append(response)
        assert isinstance(got.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            status_code=got.status_code,
            headers=got.headers.raw,
            stream=_TeeStream(got.stream, response),
            extensions=got.extensions,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()

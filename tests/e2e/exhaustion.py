#!/usr/bin/env python3
"""Exhaustion for tests/exhaustion.rs: the attacks of issue 13 against notes-server over
streamable HTTP, on loopback, bounded in count and time, while a legitimate client keeps
calling through the official MCP Python SDK.

Phases, in order (the test reads the server's memory and log between them):

  warm-up           a small dose of every attack below, so that the server has done each
                    kind of work once (its allocator's arenas are grown)
  sessions          1,000 MCP sessions opened and closed through the SDK (16 at a time)
  large-initialize  100 `initialize` requests of 3 MiB each (clientInfo and capabilities
                    padded; 4 at a time), with a valid token; each handshake completed
                    (`notifications/initialized`), then the session deleted
  slow-connections  200 half-open connections (a request head never finished), held
                    until the server closes them
  largest-calls     64 concurrent `create_note` with the largest title and body allowed,
                    then 64 concurrent `list_notes` (pages of the largest size)

After each phase it prints one JSON line {"phase": name, ...figures} and waits for a line
on stdin before the next, so that the test measures a quiet server. Meanwhile, from the
first phase to the last, a legitimate client (its own session, the reader's token) calls
`list_notes` and `server_info` in turn, ten times a second; each call must be answered
within DEADLINE_SECONDS. The last line is {"legitimate": {...}}. Exit status 0 once every
phase ran, 1 if an attack did not go as planned (a session that did not open, an
initialize not answered...), 2 on a usage error.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

try:
    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
except ImportError as import_error:  # pragma: no cover - environment problem
    sys.exit(f"exhaustion: error: cannot import the MCP Python SDK 2.x ({import_error})")

# The deadline of the legitimate client's calls: the tools' own (10 s).
DEADLINE_SECONDS = 10.0
# How long the server may take to close the half-open connections: its header timeout
# (set by the test) and a margin.
SLOW_CLOSE_SECONDS = float(os.environ.get("EXHAUSTION_SLOW_CLOSE_SECONDS", "10"))
LARGE_INITIALIZE_BYTES = 3 * 1024 * 1024
MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 16 * 1024


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        print(f"exhaustion: error: {name} is not set (tests/exhaustion.rs sets it)", file=sys.stderr)
        sys.exit(2)
    return value


URL = env("NOTES_MCP_URL")
READER = env("NOTES_TOKEN_READER")
WRITER = env("NOTES_TOKEN_WRITER")
HOST, PORT = URL.removeprefix("http://").removesuffix("/mcp").rsplit(":", 1)


class Failed(Exception):
    """An attack that did not go as planned."""


def http_client(token: str, connections: int) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30.0),
        limits=httpx2.Limits(max_connections=connections),
    )


def report(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def wait_for_the_test() -> None:
    line = await anyio.to_thread.run_sync(sys.stdin.readline)
    if not line:
        raise Failed("stdin closed: the test stopped")


async def sessions(count: int, parallel: int) -> dict[str, Any]:
    """Opens and closes `count` sessions through the SDK, `parallel` at a time."""
    opened = 0
    limiter = anyio.CapacityLimiter(parallel)
    http = http_client(READER, parallel + 2)

    async def one() -> None:
        nonlocal opened
        async with limiter:
            async with Client(streamable_http_client(URL, http_client=http), read_timeout_seconds=30.0):
                opened += 1

    started = time.monotonic()
    async with http:
        async with anyio.create_task_group() as group:
            for _ in range(count):
                group.start_soon(one)
    if opened != count:
        raise Failed(f"{opened} of {count} sessions opened")
    return {"sessions": opened, "seconds": round(time.monotonic() - started, 2)}


async def large_initializes(count: int, parallel: int) -> dict[str, Any]:
    """`count` initialize requests of LARGE_INITIALIZE_BYTES each; every session deleted."""
    padding = "p" * (LARGE_INITIALIZE_BYTES // 2)
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {"experimental": {"padding": {"blob": padding}}},
                "clientInfo": {"name": "large", "version": "1", "title": padding},
            },
        }
    ).encode()
    statuses: dict[int, int] = {}
    notified: dict[int, int] = {}
    removed: dict[int, int] = {}
    limiter = anyio.CapacityLimiter(parallel)
    http = http_client(WRITER, parallel + 2)
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}

    async def one() -> None:
        async with limiter:
            response = await http.post(URL, content=body, headers=headers)
            await response.aread()
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            session = response.headers.get("mcp-session-id")
            if session:
                # The handshake completed, as a client would (the server registers the
                # session's peer then), and the session deleted.
                ids = {"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
                initialized = await http.post(
                    URL,
                    json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                    headers={**headers, **ids},
                )
                await initialized.aread()
                notified[initialized.status_code] = notified.get(initialized.status_code, 0) + 1
                deleted = await http.delete(URL, headers=ids)
                await deleted.aread()
                removed[deleted.status_code] = removed.get(deleted.status_code, 0) + 1

    async with http:
        async with anyio.create_task_group() as group:
            for _ in range(count):
                group.start_soon(one)
    if statuses.get(200) != count or notified.get(202) != count or removed.get(202) != count:
        raise Failed(f"answers by status: initialize {statuses}, initialized {notified}, delete {removed}")
    return {"initialize": count, "bytes_each": len(body), "statuses": statuses, "deleted": removed}


async def slow_connections(count: int) -> dict[str, Any]:
    """`count` half-open connections, held until the server closes each."""
    started = time.monotonic()
    streams = []
    for _ in range(count):
        stream = await anyio.connect_tcp(HOST, int(PORT))
        await stream.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applic")
        streams.append(stream)
    closed_after: list[float] = []

    async def until_closed(stream: Any) -> None:
        try:
            with anyio.fail_after(SLOW_CLOSE_SECONDS):
                while True:
                    try:
                        await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
                        closed_after.append(time.monotonic() - started)
                        return
        finally:
            await stream.aclose()

    try:
        async with anyio.create_task_group() as group:
            for stream in streams:
                group.start_soon(until_closed, stream)
    except* TimeoutError:
        raise Failed(f"{count - len(closed_after)} of {count} half-open connections still open after {SLOW_CLOSE_SECONDS} s")
    return {"connections": count, "all_closed_after_seconds": round(max(closed_after), 2)}


async def largest_calls(count: int) -> dict[str, Any]:
    """`count` concurrent create_note of the largest size allowed, then `count` concurrent
    list_notes, over 8 sessions."""
    title = "T" * MAX_TITLE_CHARS
    body = "\U0001d11e" * MAX_BODY_CHARS  # 4 bytes each: the largest body in bytes
    per_session = max(1, count // 8)
    answers: dict[str, dict[str, int]] = {"create_note": {}, "list_notes": {}}
    slowest = 0.0
    http = http_client(WRITER, per_session + 2)

    async def session(calls: int) -> None:
        nonlocal slowest
        async with Client(streamable_http_client(URL, http_client=http), read_timeout_seconds=30.0) as client:
            for tool, arguments in (("create_note", {"title": title, "body": body}), ("list_notes", {})):
                async def call() -> None:
                    nonlocal slowest
                    started = time.monotonic()
                    result = await client.call_tool(tool, arguments)
                    slowest = max(slowest, time.monotonic() - started)
                    key = "error" if result.is_error else "ok"
                    answers[tool][key] = answers[tool].get(key, 0) + 1

                async with anyio.create_task_group() as group:
                    for _ in range(calls):
                        group.start_soon(call)

    async with http:
        async with anyio.create_task_group() as group:
            for _ in range(count // per_session):
                group.start_soon(session, per_session)
    for tool, counts in answers.items():
        if counts.get("ok") != count:
            raise Failed(f"{tool}: {counts} of {count} calls")
    return {"calls": count, "answers": answers, "slowest_seconds": round(slowest, 3)}


class Legitimate:
    """The legitimate client's record."""

    def __init__(self) -> None:
        self.calls = 0
        self.failures: list[str] = []
        self.slowest = 0.0
        self.stop = anyio.Event()

    async def run(self, ready: anyio.Event) -> None:
        http = http_client(READER, 4)
        async with http:
            async with Client(streamable_http_client(URL, http_client=http), read_timeout_seconds=30.0) as client:
                ready.set()
                turn = 0
                while not self.stop.is_set():
                    turn += 1
                    tool = "list_notes" if turn % 2 else "server_info"
                    started = time.monotonic()
                    try:
                        with anyio.fail_after(DEADLINE_SECONDS):
                            result = await client.call_tool(tool, {})
                        if result.is_error:
                            self.failures.append(f"{tool}: an error result")
                    except TimeoutError:
                        self.failures.append(f"{tool}: no answer within {DEADLINE_SECONDS} s")
                    except Exception as error:  # noqa: BLE001 - every failure is a finding
                        self.failures.append(f"{tool}: {type(error).__name__}: {error}")
                    self.slowest = max(self.slowest, time.monotonic() - started)
                    self.calls += 1
                    # Ten calls a second: a client's pace, not a load; never idle long
                    # enough for the server's keep-alive timeout.
                    with anyio.move_on_after(0.1):
                        await self.stop.wait()


async def main() -> int:
    phases = [
        ("warm-up", lambda: warm_up()),
        ("sessions", lambda: sessions(1000, 16)),
        ("large-initialize", lambda: large_initializes(100, 4)),
        ("slow-connections", lambda: slow_connections(200)),
        ("largest-calls", lambda: largest_calls(64)),
    ]
    legitimate = Legitimate()
    status = 0
    async with anyio.create_task_group() as group:
        ready = anyio.Event()
        group.start_soon(legitimate.run, ready)
        with anyio.fail_after(30):
            await ready.wait()
        for name, phase in phases:
            started = time.monotonic()
            try:
                figures = await phase()
            except Failed as failure:
                report({"phase": name, "failed": str(failure)})
                status = 1
                break
            report({"phase": name, "seconds": round(time.monotonic() - started, 2), **figures})
            try:
                await wait_for_the_test()
            except Failed:
                status = 1
                break
        legitimate.stop.set()
    report(
        {
            "legitimate": {
                "calls": legitimate.calls,
                "failures": legitimate.failures[:20],
                "failed": len(legitimate.failures),
                "slowest_seconds": round(legitimate.slowest, 3),
            }
        }
    )
    return status


async def warm_up() -> dict[str, Any]:
    return {
        "sessions": (await sessions(50, 16))["sessions"],
        "initialize": (await large_initializes(8, 4))["initialize"],
        "connections": (await slow_connections(20))["connections"],
        "calls": (await largest_calls(64))["calls"],
    }


if __name__ == "__main__":
    sys.exit(anyio.run(main))

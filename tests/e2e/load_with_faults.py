#!/usr/bin/env python3
"""Load for tests/load_faults.rs: many concurrent tool calls through the official MCP
Python SDK over streamable HTTP, while the test breaks and restores the server's
PostgreSQL underneath.

Opens LOAD_SESSIONS sessions (default 4) with the writer's token (notes:read and
notes:write), and runs LOAD_WRITERS + LOAD_READERS workers on each (default 2 + 2),
every worker calling one tool after another, with no pause:

  * a writer calls `create_note` with a title no other call uses;
  * a reader calls `get_note` on a note whose creation was acknowledged (and checks
    it reads back the title it was created with), or `notes_overview`.

Every answer is one JSON line on stdout, as soon as it arrives:

  {"tool": ..., "ms": elapsed milliseconds, "outcome": "ok" | "degraded" | <error
   category> | "jsonrpc_error" | "transport_error", "title": ..., "id": ...,
   "detail": ..., "retried": ...}

`id` and `title` are those of an acknowledged note (a `create_note` answered "ok");
A session whose transport failed as a whole prints {"session_lost": index, "detail": ...}
and connects again. `title` alone is that of an unanswered or refused write; `detail` says what was wrong
with an answer that is not one the server should give (a mismatched read-back, an
exception); `retried` says why a read was made twice (LOAD_RETRY_READS=1). LOAD_MODE
chooses the protocol: "auto" (2026-07-28, stateless) or "legacy" (2025-11-25 sessions).
The test reads these lines while it injects faults, and decides from them
when a phase has seen enough.

The load stops when stdin is closed (the test's signal): the workers finish their
calls in flight, the sessions close, and a last line {"done": true, "calls": N} is
printed. Exit status 0 then; 2 on a usage error.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import traceback
from typing import Any

try:
    import anyio
    import httpx2
    from mcp import Client, MCPError
    from mcp.client.streamable_http import streamable_http_client
    from tool_results import error_facts
except ImportError as import_error:  # pragma: no cover - environment problem
    sys.exit(f"load: error: cannot import the MCP Python SDK 2.x ({import_error})")

# Above every deadline of the server's tools (10 s), so that the server, not the client,
# decides when a call has taken too long.
REQUEST_TIMEOUT_SECONDS = 30.0


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        print(f"load: error: {name} is not set (tests/load_faults.rs sets it)", file=sys.stderr)
        sys.exit(2)
    return value


URL = env("NOTES_MCP_URL")
TOKEN = env("NOTES_TOKEN_WRITER")
SESSIONS = int(env("LOAD_SESSIONS", "4"))
WRITERS = int(env("LOAD_WRITERS", "2"))
READERS = int(env("LOAD_READERS", "2"))
# How the client negotiates: "auto" (2026-07-28, stateless, the default) or "legacy" (the
# initialize handshake: a 2025-11-25 session, `Mcp-Session-Id`).
MODE = env("LOAD_MODE", "auto")
# With "1", a read (get_note, notes_overview: read-only tools) whose call failed in transit
# is made once more, as a host may retry a read; a write never is.
RETRY_READS = env("LOAD_RETRY_READS", "0") == "1"
READ_TOOLS = ("get_note", "notes_overview")


class Load:
    """What the workers share: the stop signal, and the acknowledged notes."""

    def __init__(self) -> None:
        self.stop = anyio.Event()
        self.acknowledged: list[tuple[int, str]] = []
        self.calls = 0
        self.rng = random.Random(0x5EC7)

    def report(self, record: dict[str, Any]) -> None:
        self.calls += 1
        sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def outcome(result: Any) -> str:
    """"ok", "degraded", or the error category of a tool's answer."""
    if not result.is_error:
        return "ok"
    facts = error_facts(result)
    if facts.get("degraded") is True:
        return "degraded"
    category = facts.get("category")
    return category if isinstance(category, str) else "unrecognised_error"


async def call(load: Load, client: Client, tool: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Calls `tool`, timing it; the record to report, and the result (None if the call
    raised)."""
    started = time.monotonic()
    record: dict[str, Any] = {"tool": tool}
    result = None
    attempts = 2 if RETRY_READS and tool in READ_TOOLS else 1
    for attempt in range(attempts):
        record.pop("detail", None)
        try:
            result = await client.call_tool(tool, arguments)
            record["outcome"] = outcome(result)
        except MCPError as error:
            record["outcome"] = "jsonrpc_error"
            record["detail"] = f"{error.error.code}: {error.error.message}"
        except Exception as error:  # noqa: BLE001 - every failure of the transport is a finding
            record["outcome"] = "transport_error"
            record["detail"] = f"{type(error).__name__}: {error}"
        if record["outcome"] not in ("jsonrpc_error", "transport_error") or attempt + 1 == attempts:
            break
        record["retried"] = record["detail"]
    record["ms"] = round((time.monotonic() - started) * 1000, 3)
    return record, result


async def writer(load: Load, client: Client, name: str) -> None:
    sequence = 0
    while not load.stop.is_set():
        sequence += 1
        title = f"load {name} #{sequence}"
        record, result = await call(load, client, "create_note", {"title": title, "body": name})
        record["title"] = title
        if record["outcome"] == "ok":
            note = result.structured_content or {}
            if note.get("title") != title or type(note.get("id")) is not int:
                record["detail"] = f"create_note acknowledged {note}, not the note {title!r}"
            else:
                record["id"] = note["id"]
                load.acknowledged.append((note["id"], title))
        load.report(record)


async def reader(load: Load, client: Client, name: str) -> None:
    turn = 0
    while not load.stop.is_set():
        turn += 1
        if turn % 2 == 0 and load.acknowledged:
            note_id, title = load.rng.choice(load.acknowledged)
            record, result = await call(load, client, "get_note", {"id": note_id})
            record["id"] = note_id
            if record["outcome"] == "ok":
                read = result.structured_content or {}
                if read.get("title") != title:
                    record["detail"] = f"note {note_id} was acknowledged as {title!r}, reads back {read}"
            elif record["outcome"] == "not_found":
                record["detail"] = f"note {note_id} ({title!r}) was acknowledged, then not found"
        else:
            record, result = await call(load, client, "notes_overview", {})
            if record["outcome"] == "ok" and type((result.structured_content or {}).get("notes")) is not int:
                record["detail"] = f"notes_overview answered {result.structured_content}"
        load.report(record)


async def session(load: Load, index: int, ready: anyio.abc.ObjectSendStream[int]) -> None:
    """Runs the session's workers; if the client's transport fails as a whole (the SDK's
    connection task raising, e.g. a server that died while answering), reports the lost
    session as `{"session_lost": index, "detail": ...}` and connects again, as a host
    would. The calls in flight then are not reported: none was acknowledged."""
    announced = False
    while not load.stop.is_set():
        try:
            http = httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=httpx2.Timeout(REQUEST_TIMEOUT_SECONDS),
                limits=httpx2.Limits(max_connections=WRITERS + READERS + 2),
            )
            async with http:
                client = Client(
                    streamable_http_client(URL, http_client=http),
                    read_timeout_seconds=REQUEST_TIMEOUT_SECONDS,
                    mode=MODE,
                )
                async with client:
                    if not announced:
                        announced = True
                        await ready.send(index)
                    async with anyio.create_task_group() as workers:
                        for worker in range(WRITERS):
                            workers.start_soon(writer, load, client, f"s{index}w{worker}")
                        for worker in range(READERS):
                            workers.start_soon(reader, load, client, f"s{index}r{worker}")
        except Exception as error:  # noqa: BLE001 - a lost session is reported, then replaced
            detail = f"{type(error).__name__}: {error}"
            leaves = getattr(error, "exceptions", None)
            while leaves:
                leaf = leaves[0]
                detail = f"{type(leaf).__name__}: {leaf}"
                leaves = getattr(leaf, "exceptions", None)
            sys.stdout.write(json.dumps({"session_lost": index, "detail": detail[:300]}) + "\n")
            sys.stdout.flush()


async def stop_when_stdin_closes(load: Load) -> None:
    await anyio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
    load.stop.set()


async def main() -> int:
    load = Load()
    send, receive = anyio.create_memory_object_stream[int](SESSIONS)
    async with anyio.create_task_group() as group:
        group.start_soon(stop_when_stdin_closes, load)
        async with anyio.create_task_group() as sessions:
            for index in range(SESSIONS):
                sessions.start_soon(session, load, index, send)
            for _ in range(SESSIONS):
                await receive.receive()
            print(json.dumps({"ready": True, "sessions": SESSIONS, "workers": SESSIONS * (WRITERS + READERS)}), flush=True)
        group.cancel_scope.cancel()
    print(json.dumps({"done": True, "calls": load.calls}), flush=True)
    return 0


if __name__ == "__main__":
    try:
        code = anyio.run(main)
    except BaseException:  # noqa: BLE001 - die now: the thread reading stdin would keep us alive
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.exit(code)

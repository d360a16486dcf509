#!/usr/bin/env python3
"""A run of the example `notes-server` that exercises every series of its metrics (and
makes every kind of call), with the official MCP Python SDK over stdio, for
tests/prometheus.rs and tests/telemetry.rs.

The server (NOTES_SERVER_BIN) is started with its operations listener on
NOTES_METRICS_ADDR, as a writer without the admin role (subject SUBJECT below). As hosts
do, the client lists the tools, resources and prompts first, then: lists and creates
notes (ok), gets a missing note (error: not_found), gets a note by an id of the wrong type
(invalid_arguments), deletes a note (denied: not an admin), backs up seven times in a row
(the seventh rate_limited: `rate = "6/min"`), reads a note as a resource, gets the prompt
and completes a note id. Then it prints `calls done` and keeps the session, and so the
server and its metrics, until a line comes on stdin (or 120 s pass).

Usage:
    NOTES_SERVER_BIN=target/debug/notes-server NOTES_METRICS_ADDR=127.0.0.1:9464 \
        python tests/e2e/metrics_run.py

Exit status 0 when every call answered as expected, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

try:
    import anyio
    from mcp import Client, MCPError, StdioServerParameters, stdio_client
    from mcp_types import ResourceTemplateReference
    from tool_results import error_facts
except ImportError as import_error:  # pragma: no cover - environment problem
    sys.exit(f"error: cannot import the MCP Python SDK 2.x ({import_error})")

# The caller's subject and a marked argument value: neither may appear in any series.
SUBJECT = "metrics-writer-9d2e"
MARK = "MARK-metrics-51f0"
TIMEOUT_SECONDS = 120.0


class CheckFailed(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise CheckFailed(what)
    print(f"ok: {what}", flush=True)


def category(result: Any) -> str | None:
    return error_facts(result).get("category") if result.is_error else None


async def exercise(client: Client) -> None:
    tools = sorted(tool.name for tool in (await client.list_tools()).tools)
    check({"create_note", "get_note", "backup_notes", "delete_note"} <= set(tools), f"tools listed ({tools})")
    await client.list_resource_templates()
    await client.list_prompts()

    check(category(await client.call_tool("list_notes", {})) is None, "list_notes: ok")
    created = await client.call_tool("create_note", {"title": f"{MARK} title", "body": MARK})
    check(category(created) is None, "create_note: ok")
    note_id = created.structured_content["id"]
    check(category(await client.call_tool("get_note", {"id": 987654321})) == "not_found", "get_note of a missing note: not_found")
    check(category(await client.call_tool("get_note", {"id": MARK})) == "invalid_input", "get_note with a string id: invalid_input")
    check(category(await client.call_tool("delete_note", {"id": note_id})) == "denied", "delete_note without the admin role: denied")
    for call in range(6):
        check(category(await client.call_tool("backup_notes", {})) != "rate_limited", f"backup {call + 1} of 6 runs")
    check(category(await client.call_tool("backup_notes", {})) == "rate_limited", "the 7th backup: rate_limited")

    read = await client.read_resource(f"notes://{note_id}")
    check(bool(read.contents), "the note read as a resource")
    got = await client.get_prompt("summarise_notes", {"purpose": MARK})
    check(bool(got.messages), "the prompt got")
    completed = await client.complete(ResourceTemplateReference(uri="notes://{id}"), {"name": "id", "value": str(note_id)[0]})
    check(str(note_id) in completed.completion.values, "a note id completed")
    try:
        await client.read_resource("notes://987654321")
        raise CheckFailed("a missing note's read: expected a JSON-RPC error")
    except MCPError:
        print("ok: a missing note's read is refused", flush=True)

    print("calls done", flush=True)
    # Keep the server up until the test has scraped it.
    with anyio.move_on_after(TIMEOUT_SECONDS):
        await anyio.to_thread.run_sync(sys.stdin.readline)


def failures(error: BaseException) -> list[CheckFailed]:
    """The failed checks inside `error`, however deep in exception groups."""
    if isinstance(error, CheckFailed):
        return [error]
    nested = getattr(error, "exceptions", None)
    if isinstance(nested, (list, tuple)):
        return [leaf for inner in nested for leaf in failures(inner)]
    return []


async def main() -> int:
    server = os.environ.get("NOTES_SERVER_BIN")
    if not server or not os.environ.get("NOTES_METRICS_ADDR"):
        print("NOTES_SERVER_BIN and NOTES_METRICS_ADDR must be set", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as workdir:
        env = dict(os.environ)
        env.update({
            "NOTES_SUBJECT": SUBJECT,
            "NOTES_SCOPES": "notes:read,notes:write",
            "NOTES_ROLES": "",
            "NOTES_LOG": "warn",
        })
        params = StdioServerParameters(
            command=server,
            args=["--db", str(Path(workdir) / "notes.db"), "--archive", str(Path(workdir) / "archive.db")],
            env=env,
            cwd=workdir,
        )
        try:
            with open(Path(workdir) / "server.log", "a", encoding="utf-8") as errlog:
                with anyio.fail_after(TIMEOUT_SECONDS * 2):
                    async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=30.0) as client:
                        await exercise(client)
        except BaseException as error:  # noqa: BLE001 - report the failed check inside groups
            found = failures(error)
            if not found:
                raise
            for failure in found:
                print(f"FAILED: {failure}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))

#!/usr/bin/env python3
"""End-to-end test of what crosses the boundary, with the official MCP Python SDK.

The example `notes-server` (NOTES_SERVER_BIN) is started over stdio with per-caller
tool lists (NOTES_TOOL_LISTS=per-caller) and a caller without the admin role. As hosts
do, the client lists the tools first, then calls them with arguments that break the
published input schema: an oversized title, an empty one, an id out of range, an id of
the wrong type, a cursor of the wrong pattern, an unknown field, a body over the size
limit. Each gets an error result naming the field and the constraint, and no marked
string the client sent comes back in any byte of the answer. Then `delete_note`, which
this caller may not see, is called, and so is a tool that does not exist: both get the
same JSON-RPC error, and neither repeats the name. Last, `backup_notes` (`rate = "6/min"`)
is called seven times in a row by a writer: the seventh is `rate_limited` with its
retry-after; a reader calling it gets only denials.

Usage:
    NOTES_SERVER_BIN=target/debug/notes-server python tests/e2e/test_boundary.py

Exit status 0 when every check passed, 1 otherwise. tests/python_client.rs runs it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

try:
    import anyio
    from mcp import Client, MCPError, StdioServerParameters, stdio_client
    from tool_results import error_facts
except ImportError as import_error:  # pragma: no cover - environment problem
    sys.exit(f"error: cannot import the MCP Python SDK 2.x ({import_error})")

MARK = "MARK-4c1d"
TIMEOUT_SECONDS = 60.0


class CheckFailed(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise CheckFailed(what)
    print(f"ok: {what}", flush=True)


def refused(result: Any, field: str, constraint: str, what: str) -> None:
    """`result` is an invalid-input error result naming `field` and `constraint`, and
    nothing the client marked."""
    wire = result.model_dump_json(by_alias=True)
    text = " ".join(block.text for block in result.content if getattr(block, "text", None))
    facts = error_facts(result)
    check(result.is_error is True, f"{what}: an error result")
    check(facts.get("category") == "invalid_input", f"{what}: invalid_input ({facts})")
    check(f"`{field}`" in text, f"{what}: names `{field}` ({text!r})")
    check(constraint in text, f"{what}: says {constraint!r} ({text!r})")
    check(MARK not in wire, f"{what}: the marked value is not echoed")


async def validation(client: Client) -> None:
    listed = await client.list_tools()
    names = sorted(tool.name for tool in listed.tools)
    check("create_note" in names and "get_note" in names, f"the caller's tools are listed ({names})")
    schemas = {tool.name: tool.input_schema for tool in listed.tools}
    check(schemas["create_note"]["properties"]["title"].get("maxLength") == 200, "the title's limit is published")

    long_title = MARK + "x" * 200
    refused(await client.call_tool("create_note", {"title": long_title}), "title", "at most 200 characters", "an oversized title")
    refused(await client.call_tool("create_note", {"title": ""}), "title", "at least 1 character", "an empty title")
    refused(await client.call_tool("get_note", {"id": 0}), "id", "at least 1", "an id out of range")
    refused(await client.call_tool("get_note", {"id": MARK}), "id", "integer", "an id of the wrong type")
    refused(await client.call_tool("list_notes", {"cursor": MARK}), "cursor", "pattern", "a cursor of the wrong pattern")
    unknown = await client.call_tool("create_note", {"title": "t", MARK: MARK})
    wire = unknown.model_dump_json(by_alias=True)
    check(unknown.is_error is True and error_facts(unknown).get("category") == "invalid_input", "an unknown field is refused")
    check(MARK not in wire, "the unknown field's name and value are not echoed")
    huge = MARK + "y" * (300 * 1024)
    refused(await client.call_tool("create_note", {"title": "t", "body": huge}), "body", "at most", "a body over the size limit")

    created = await client.call_tool("create_note", {"title": "a fine title", "body": "fine"})
    check(created.is_error is not True, "valid arguments still go through")


async def visibility(client: Client) -> None:
    """A reader (no notes:write) with per-caller lists: the write tools that only a scope
    guards are hidden, and calling one is calling a tool that does not exist."""
    listed = await client.list_tools()
    names = sorted(tool.name for tool in listed.tools)
    check("create_note" not in names and "backup_notes" not in names, f"write tools are hidden from a reader ({names})")
    check("get_note" in names, "the reader's tools are listed")
    # delete_note's policy has a custom part (the policy service) that could let anyone
    # in: it stays visible.
    check("delete_note" in names, "a tool whose policy has a custom part stays visible")

    outcomes: list[tuple[int, str]] = []
    for name in ("create_note", f"{MARK}_tool"):
        try:
            await client.call_tool(name, {"id": 1})
        except MCPError as error:
            check(name not in error.message and MARK not in error.message, f"{name}: the name is not repeated ({error.message!r})")
            outcomes.append((error.code, error.message))
        else:
            raise CheckFailed(f"{name}: expected a JSON-RPC error")
    check(outcomes[0] == outcomes[1], f"a hidden tool and a missing tool get the same answer ({outcomes})")


async def rate_limits(client: Client) -> None:
    """`backup_notes` is declared `rate = "6/min"`: a writer's seventh call in a row is
    answered at once `rate_limited`, retryable, with the time to wait."""
    listed = await client.list_tools()
    names = sorted(tool.name for tool in listed.tools)
    check("backup_notes" in names, f"the writer is listed backup_notes ({names})")
    for call in range(6):
        result = await client.call_tool("backup_notes", {})
        facts = error_facts(result) if result.is_error else {}
        check(facts.get("category") != "rate_limited", f"backup {call + 1} of 6 is not limited ({facts})")
    limited = await client.call_tool("backup_notes", {})
    facts = error_facts(limited)
    text = " ".join(block.text for block in limited.content if getattr(block, "text", None))
    check(limited.is_error is True and facts.get("category") == "rate_limited", f"the 7th backup is rate_limited ({facts})")
    check(facts.get("retryable") is True, "a rate-limited call is retryable")
    # One backup comes back every 10 s; the time since the first call is taken off (rounded up).
    wait = facts.get("retry_after_secs")
    check(isinstance(wait, int) and 1 <= wait <= 10, f"and says when: within one backup's 10 s ({facts})")
    check("Too many calls" in text, f"the model reads why ({text!r})")
    check(structured_absent(limited), "no structuredContent on the refusal")


def structured_absent(result: Any) -> bool:
    return getattr(result, "structured_content", None) is None


async def rate_limits_hidden_from_others(client: Client) -> None:
    """A reader without notes:write (tool lists for everyone), who may not back up: each of
    eight calls is denied, none is rate_limited."""
    await client.list_tools()
    for call in range(8):
        result = await client.call_tool("backup_notes", {})
        check(error_facts(result).get("category") == "denied", f"the reader's backup {call + 1}: denied, never limited")


def failures(error: BaseException) -> list[CheckFailed]:
    """The failed checks inside `error`, however deep in exception groups."""
    if isinstance(error, CheckFailed):
        return [error]
    nested = getattr(error, "exceptions", None)
    if isinstance(nested, (list, tuple)):
        return [leaf for inner in nested for leaf in failures(inner)]
    return []


async def session(server: str, workdir: str, scopes: str, scenario: Any, lists: str = "per-caller") -> None:
    """Runs `scenario` against a fresh server whose local caller has `scopes`."""
    env = dict(os.environ)
    env.update({
        "NOTES_TOOL_LISTS": lists,
        "NOTES_SCOPES": scopes,
        "NOTES_ROLES": "",
        "NOTES_LOG": "warn",
    })
    params = StdioServerParameters(
        command=server,
        args=["--db", str(Path(workdir) / "notes.db"), "--archive", str(Path(workdir) / "archive.db")],
        env=env,
        cwd=workdir,
    )
    with open(Path(workdir) / "server.log", "a", encoding="utf-8") as errlog:
        with anyio.fail_after(TIMEOUT_SECONDS):
            async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=30.0) as client:
                await scenario(client)


async def main() -> int:
    server = os.environ.get("NOTES_SERVER_BIN")
    if not server:
        print("NOTES_SERVER_BIN is not set", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as workdir:
        try:
            await session(server, workdir, "notes:read,notes:write", validation)
            await session(server, workdir, "notes:read", visibility)
            await session(server, workdir, "notes:read,notes:write", rate_limits)
            await session(server, workdir, "notes:read", rate_limits_hidden_from_others, lists="all")
        except BaseException as error:  # noqa: BLE001 - report the failed check inside groups
            found = failures(error)
            if not found:
                raise
            for failure in found:
                print(f"FAILED: {failure}", file=sys.stderr)
            return 1
    print("boundary: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))

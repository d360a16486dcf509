#!/usr/bin/env python3
"""End-to-end test: drive the example `notes-server` with the official MCP Python SDK.

The server binary is taken from the NOTES_SERVER_BIN environment variable and
spoken to over stdio with the SDK's `stdio_client` transport and the 2.x
`mcp.Client`. The whole scenario runs twice, on a fresh database each time:

  * "default": `Client(...)` with its default connect mode (`mode="auto"`:
    probe `server/discover`, fall back to the `initialize` handshake);
  * "legacy":  `Client(..., mode="legacy")`, the classic `initialize` handshake.

Every byte the server writes to stdout is recorded (stdout_tee.py sits between
the SDK and the server) and scanned for internal details: this test starts the
server with a backup directory that cannot exist (BACKUP_CANARY_DIR), so that
its `backup_notes` tool fails with them in its error chain; the server's stderr
(its log) is captured to a file and must contain the incident id together with
those details.

After those checks, in the same session, a real fault: this process takes the
SQLite write lock of the server's WAL database from its own connection
(`BEGIN IMMEDIATE`, held open) and the exclusive lock of the archive database.
The server's writes then fail with "database is locked" after its busy
timeout, its write breaker opens and writes degrade (write tools answer a
structured `degraded` result fast, `notifications/tools/list_changed` arrives,
`tools/list` marks the write tools), while reads go on and `notes_overview`
answers with a warning for the archive. Releasing the locks, the health probes
restore writes: another `list_changed`, writes succeed, and the breaker closes
(seen in the server's log). Short timings come from NOTES_* variables.

Usage:
    NOTES_SERVER_BIN=target/debug/notes-server python tests/e2e/test_notes_stdio.py [--mode default|legacy|both] [--keep]

Exit status 0 when every check passed, 1 on a failed check, 2 on a usage error.
Dependencies: tests/e2e/requirements.txt (mcp==2.x). tests/python_client.rs
runs this script from a managed virtualenv as part of `cargo test`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import sys
import time
import tempfile
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

try:
    import anyio
    from mcp import Client, MCPDeprecationWarning, MCPError, StdioServerParameters, stdio_client
    from mcp.client.subscriptions import ToolsListChanged
    from mcp.types import CallToolResult, ServerNotification, Tool
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
    from tool_results import ERROR_META_KEY, error_facts
except ImportError as import_error:  # pragma: no cover - environment problem
    sys.exit(
        f"error: cannot import the MCP Python SDK 2.x ({import_error}).\n"
        f"Install it with: python3 -m pip install -r {Path(__file__).with_name('requirements.txt')}"
    )

HERE = Path(__file__).resolve().parent
TEE_SCRIPT = HERE / "stdout_tee.py"

# Per-request timeout for the client, and an overall bound per scenario run.
REQUEST_TIMEOUT_SECONDS = 30.0
SCENARIO_TIMEOUT_SECONDS = 180.0

# An id no fresh database will hold.
MISSING_NOTE_ID = 987_654_321

# The server's resilience timings for this test (production defaults are in
# `notes-server --help`): short, so that the fault and the recovery take seconds.
# The breaker stays open for many probe intervals, so that the probes have
# degraded writes before its first half-open trial.
BUSY_TIMEOUT_MS = 300
RESILIENCE_ENV = {
    "NOTES_BUSY_TIMEOUT_MS": str(BUSY_TIMEOUT_MS),
    "NOTES_BREAKER_FAILURES": "2",
    "NOTES_BREAKER_OPEN_MS": "1000",
    "NOTES_BREAKER_MAX_OPEN_MS": "2000",
    "NOTES_PROBE_INTERVAL_MS": "100",
    "NOTES_PROBE_TIMEOUT_MS": "2000",
}
# How long to wait for an event the fault should cause.
FAULT_EVENT_TIMEOUT_SECONDS = 15.0
WRITE_BREAKER = "notes-store-writes"
WRITE_TOOLS = ("create_note", "delete_note", "backup_notes")
READ_TOOLS = ("get_note", "list_notes", "notes_overview")


@dataclass(frozen=True)
class ToolSpec:
    read_only: bool
    # True: must declare an outputSchema. None: may or may not.
    structured: bool | None


EXPECTED_TOOLS: dict[str, ToolSpec] = {
    "server_info": ToolSpec(read_only=True, structured=True),
    "list_notes": ToolSpec(read_only=True, structured=True),
    "get_note": ToolSpec(read_only=True, structured=True),
    "create_note": ToolSpec(read_only=False, structured=True),
    "delete_note": ToolSpec(read_only=False, structured=None),
    "backup_notes": ToolSpec(read_only=False, structured=None),
    "notes_overview": ToolSpec(read_only=True, structured=True),
    "link_note": ToolSpec(read_only=True, structured=False),
}

# The backup directory the server is given: it cannot exist, so `backup_notes`
# fails with it (and the statement it was backing up) in its error chain.
BACKUP_CANARY_DIR = "/nonexistent/notes-backups/secret-canary-dir"
# Internal details of that failure, and of the store's errors. None of them may
# ever reach the client. Matched case-insensitively, on the raw bytes and on
# every JSON-decoded string.
PLANTED_SECRETS = (
    "secret-canary-dir",
    "/nonexistent",
    "nonexistent/notes-backups",
    "SELECT id, title, body FROM notes",
    # What the store's errors say during the lock fault.
    "database is locked",
    "INSERT INTO notes",
    "heartbeat",
    "archived_notes",
    ".sqlite3",
)
# What the operator's log must still show next to the incident id.
PLANTED_LOG_MARKER = "secret-canary-dir"

ERROR_FIELDS: dict[str, type] = {
    "category": str,
    "message": str,
    "retryable": bool,
    "caller_fault": bool,
    "incident_id": str,
}

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class CheckFailed(AssertionError):
    """A check of the scenario failed; the message says what was expected."""


def expect(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def fail(message: str) -> NoReturn:
    raise CheckFailed(message)


def dump(value: Any, limit: int = 1500) -> str:
    """Compact JSON of an SDK model (by wire alias) or plain value, for messages."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(by_alias=True, mode="json", exclude_none=True)
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


@dataclass
class ToolError:
    """A sanitized tool error as the client received it."""

    category: str
    message: str
    retryable: bool
    caller_fault: bool
    incident_id: str
    text: str

    def fingerprint(self) -> tuple[str, str, bool, bool, str]:
        """Everything the caller sees, except the per-call incident id."""
        return (
            self.category,
            self.message,
            self.retryable,
            self.caller_fault,
            self.text.replace(self.incident_id, "<incident-id>"),
        )


@dataclass
class Report:
    mode: str
    workdir: Path
    passed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    protocol_version: str | None = None
    backup_incident_id: str | None = None
    server_exit_status: str = "unknown"

    @property
    def raw_log(self) -> Path:
        return self.workdir / "server-stdout.raw"

    @property
    def stderr_log(self) -> Path:
        return self.workdir / "server-stderr.log"

    @property
    def status_file(self) -> Path:
        return self.workdir / "server-exit-status"

    @property
    def db_path(self) -> Path:
        return self.workdir / "notes.sqlite3"

    @property
    def archive_path(self) -> Path:
        return self.workdir / "archive.sqlite3"

    def ok(self, description: str) -> None:
        self.passed.append(description)
        print(f"  [{self.mode}] ok   {description}", flush=True)

    def failed(self, message: str) -> None:
        self.failures.append(message)
        print(f"  [{self.mode}] FAIL {message}", flush=True)


# --------------------------------------------------------------------------
# Result helpers
# --------------------------------------------------------------------------


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", None) == "text")


def expect_success(result: CallToolResult, what: str) -> dict[str, Any]:
    expect(not result.is_error, f"{what}: expected success, got an error result: {dump(result)}")
    structured = result.structured_content
    expect(isinstance(structured, dict), f"{what}: expected structuredContent to be an object, got {dump(result)}")
    return structured


def expect_tool_error(result: CallToolResult, what: str, category: str | None = None) -> ToolError:
    """Check the sanitized-error shape: isError, no structuredContent (clients validate it
    against the output schema), the facts in `_meta`, the incident id in the text."""
    expect(result.is_error is True, f"{what}: expected an isError=true result, got {dump(result)}")
    expect(
        result.structured_content is None,
        f"{what}: an error result must not carry structuredContent, got {dump(result)}",
    )
    error = error_facts(result)
    expect(error, f"{what}: expected _meta[{ERROR_META_KEY!r}] {{...}}, got {dump(result)}")
    for key, expected_type in ERROR_FIELDS.items():
        value = error.get(key)
        # bool is an int subclass, but neither is the other here: compare types exactly.
        expect(
            type(value) is expected_type,
            f"{what}: _meta error.{key} should be a {expected_type.__name__}, got {value!r} in {dump(result)}",
        )
    incident_id = error["incident_id"].strip()
    expect(incident_id, f"{what}: _meta error.incident_id is empty: {dump(result)}")
    text = text_of(result)
    expect(text, f"{what}: error result has no text content: {dump(result)}")
    expect(
        error["message"] in text,
        f"{what}: text content should contain the safe message {error['message']!r}, got {text!r}",
    )
    expect(
        re.search(r"incident.{0,40}?" + re.escape(incident_id), text, re.IGNORECASE | re.DOTALL),
        f"{what}: text content should name the incident id ('incident ... {incident_id}'), got {text!r}",
    )
    tool_error = ToolError(
        category=error["category"],
        message=error["message"],
        retryable=error["retryable"],
        caller_fault=error["caller_fault"],
        incident_id=incident_id,
        text=text,
    )
    if category is not None:
        expect(
            tool_error.category == category,
            f"{what}: expected error category {category!r}, got {tool_error.category!r}: {dump(result)}",
        )
    return tool_error


def expect_note(value: Any, what: str) -> dict[str, Any]:
    expect(isinstance(value, dict), f"{what}: expected a note object, got {dump(value)}")
    expect(type(value.get("id")) is int, f"{what}: note.id should be an integer, got {dump(value)}")
    expect(isinstance(value.get("title"), str), f"{what}: note.title should be a string, got {dump(value)}")
    expect(isinstance(value.get("body"), str), f"{what}: note.body should be a string, got {dump(value)}")
    return value


def same_note(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(key) == b.get(key) for key in ("id", "title", "body"))


def names_field(text: str, field_name: str, incident_id: str) -> bool:
    """Whether `text` names `field_name` as a word, ignoring the 'incident id' boilerplate."""
    cleaned = text.replace(incident_id, " ")
    cleaned = re.sub(r"incident[\s_-]*id", " ", cleaned, flags=re.IGNORECASE)
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(field_name)}(?![A-Za-z0-9_])", cleaned) is not None


def leaked_secrets(text: str) -> list[str]:
    lowered = text.lower()
    return [secret for secret in PLANTED_SECRETS if secret.lower() in lowered]


def strings_in(value: Any) -> list[str]:
    """Every string (keys included) inside a decoded JSON value."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                found.append(str(key))
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)
    return found


# --------------------------------------------------------------------------
# The scenario, inside one MCP session
# --------------------------------------------------------------------------


async def list_all_tools(client: Client) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(50):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            return tools
    fail("tools/list: more than 50 pages, the cursor never ends")


def check_tool_listing(rep: Report, tools: list[Tool]) -> None:
    by_name = {tool.name: tool for tool in tools}
    missing = sorted(set(EXPECTED_TOOLS) - set(by_name))
    expect(not missing, f"tools/list is missing {missing}; it listed {sorted(by_name)}")
    for name, spec in EXPECTED_TOOLS.items():
        tool = by_name[name]
        schema = tool.input_schema
        expect(
            isinstance(schema, dict) and schema.get("type") == "object",
            f"tools/list: {name}.inputSchema should be a JSON Schema with type 'object', got {dump(schema)}",
        )
        annotations = tool.annotations
        expect(annotations is not None, f"tools/list: {name} has no annotations: {dump(tool)}")
        expect(
            annotations.read_only_hint is spec.read_only,
            f"tools/list: {name}.annotations.readOnlyHint should be {str(spec.read_only).lower()}, "
            f"got {dump(annotations)}",
        )
        if not spec.read_only:
            expect(
                annotations.destructive_hint is not None,
                f"tools/list: write tool {name} should set annotations.destructiveHint, got {dump(annotations)}",
            )
        output_schema = tool.output_schema
        if spec.structured:
            expect(output_schema is not None, f"tools/list: {name} returns structured data but has no outputSchema")
        if output_schema is not None:
            expect(
                isinstance(output_schema, dict) and output_schema.get("type") == "object",
                f"tools/list: {name}.outputSchema should have type 'object', got {dump(output_schema)}",
            )
    delete_annotations = by_name["delete_note"].annotations
    expect(
        delete_annotations is not None and delete_annotations.destructive_hint is True,
        f"tools/list: delete_note deletes data, so destructiveHint should be true, got {dump(delete_annotations)}",
    )
    for name, props in (("get_note", ("id",)), ("delete_note", ("id",)), ("create_note", ("title", "body"))):
        declared = by_name[name].input_schema.get("properties") or {}
        for prop in props:
            expect(prop in declared, f"tools/list: {name}.inputSchema should declare property {prop!r}: {dump(declared)}")
    extra = sorted(set(by_name) - set(EXPECTED_TOOLS))
    rep.ok(
        f"tools/list: all {len(EXPECTED_TOOLS)} tools present"
        + (f" (plus {extra})" if extra else "")
        + "; object inputSchemas, readOnly/destructive annotations, outputSchemas on structured tools"
    )


async def scenario(client: Client, rep: Report) -> None:
    rep.protocol_version = client.protocol_version
    handshake = "initialize handshake" if rep.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS else "server/discover"
    if rep.mode == "legacy":
        expect(
            rep.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS,
            f"mode='legacy' should negotiate a handshake-era version {HANDSHAKE_PROTOCOL_VERSIONS}, "
            f"got {rep.protocol_version!r}",
        )
    info = client.server_info
    if rep.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS and client.server_capabilities.logging is not None:
        # Handshake era: the (deprecated) logging/setLevel request governs log notifications.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.set_logging_level("debug")
    rep.ok(
        f"connected via {handshake}: protocol {rep.protocol_version}"
        + (f", server {info.name} {info.version}" if info is not None else "")
    )

    # -- tools/list -----------------------------------------------------------
    check_tool_listing(rep, await list_all_tools(client))

    # -- server_info (public) -------------------------------------------------
    info_result = expect_success(await client.call_tool("server_info", {}), "server_info")
    expect(
        isinstance(info_result.get("name"), str) and info_result["name"],
        f"server_info: structuredContent.name should be a non-empty string, got {dump(info_result)}",
    )
    expect(
        isinstance(info_result.get("version"), str) and info_result["version"],
        f"server_info: structuredContent.version should be a non-empty string, got {dump(info_result)}",
    )
    rep.ok(f"server_info -> {info_result['name']} {info_result['version']}")

    # -- create / get / list round trip ----------------------------------------
    drafts = [
        {"title": f"e2e note ({rep.mode})", "body": 'first body: "quotes", unicode \u00e9\u2713, <tags> & newline\nend'},
        {"title": "second note", "body": ""},
    ]
    created: list[dict[str, Any]] = []
    for draft in drafts:
        note = expect_note(
            expect_success(await client.call_tool("create_note", draft), f"create_note {draft['title']!r}"),
            "create_note",
        )
        expect(
            note["title"] == draft["title"] and note["body"] == draft["body"],
            f"create_note: returned note {dump(note)} does not match the input {dump(draft)}",
        )
        created.append(note)
    expect(created[0]["id"] != created[1]["id"], f"create_note: two notes got the same id: {dump(created)}")
    rep.ok(f"create_note x2 -> ids {[note['id'] for note in created]}")

    for note in created:
        fetched = expect_note(
            expect_success(await client.call_tool("get_note", {"id": note["id"]}), f"get_note {note['id']}"),
            "get_note",
        )
        expect(same_note(fetched, note), f"get_note {note['id']}: got {dump(fetched)}, created {dump(note)}")
    rep.ok("get_note round-trips both created notes")

    async def list_notes() -> list[dict[str, Any]]:
        # Every page, following `next_cursor` (bounded: this test creates few notes).
        everything: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {}
        for _ in range(100):
            listing = expect_success(await client.call_tool("list_notes", arguments), "list_notes")
            notes = listing.get("notes")
            expect(isinstance(notes, list), f"list_notes: structuredContent.notes should be a list, got {dump(listing)}")
            everything.extend(expect_note(note, "list_notes") for note in notes)
            cursor = listing.get("next_cursor")
            if cursor is None:
                return everything
            expect(isinstance(cursor, str), f"list_notes: next_cursor should be a string, got {dump(listing)}")
            arguments = {"cursor": cursor}
        raise AssertionError("list_notes: more than 100 pages")

    notes = await list_notes()
    for note in created:
        expect(
            any(same_note(listed, note) for listed in notes),
            f"list_notes: created note {dump(note)} is missing from {dump(notes)}",
        )
    rep.ok(f"list_notes contains the created notes ({len(notes)} notes)")

    # -- denials: one generic answer whatever the cause -------------------------
    denial_cases = [
        ("delete_note on an existing note", {"id": created[0]["id"]}),
        ("delete_note with malformed args", {"id": "not-a-number"}),
        ("delete_note on a nonexistent note", {"id": MISSING_NOTE_ID}),
        ("delete_note without arguments", {}),
    ]
    denials: list[tuple[str, ToolError]] = []
    for what, arguments in denial_cases:
        denial = expect_tool_error(await client.call_tool("delete_note", arguments), what, category="denied")
        denials.append((what, denial))
    first_what, first = denials[0]
    for what, denial in denials[1:]:
        expect(
            denial.fingerprint() == first.fingerprint(),
            f"denials must be indistinguishable: {what} gave {denial.fingerprint()!r} "
            f"but {first_what} gave {first.fingerprint()!r}",
        )
    rep.ok(f"delete_note denied identically in {len(denials)} cases (incl. malformed args): {first.message!r}")
    still_there = expect_note(
        expect_success(await client.call_tool("get_note", {"id": created[0]["id"]}), "get_note after denied delete"),
        "get_note",
    )
    expect(same_note(still_there, created[0]), f"note changed after a denied delete: {dump(still_there)}")
    rep.ok("the note survives the denied delete")

    # -- validation errors for an authorized caller -------------------------------
    bad_args = expect_tool_error(
        await client.call_tool("get_note", {"id": "not-a-number"}), "get_note with malformed args", "invalid_input"
    )
    expect(
        names_field(bad_args.text, "id", bad_args.incident_id),
        f"get_note with malformed args: the error text should name the field `id`, got {bad_args.text!r}",
    )
    rep.ok(f"get_note with malformed args -> invalid_input naming `id`: {bad_args.message!r}")

    not_found = expect_tool_error(
        await client.call_tool("get_note", {"id": MISSING_NOTE_ID}), "get_note on a missing id", "not_found"
    )
    rep.ok(f"get_note on a missing id -> not_found: {not_found.message!r}")

    empty_title = expect_tool_error(
        await client.call_tool("create_note", {"title": "", "body": "no title"}),
        "create_note with an empty title",
        "invalid_input",
    )
    expect(
        "title" in empty_title.message.lower(),
        f"create_note with an empty title: the message should mention the title, got {empty_title.message!r}",
    )
    after = await list_notes()
    expect(
        len(after) == len(notes) and not any(note["title"] == "" for note in after),
        f"create_note with an empty title must not create a note; list_notes now returns {dump(after)}",
    )
    rep.ok(f"create_note with an empty title -> invalid_input, nothing created: {empty_title.message!r}")

    # -- an internal failure is sanitized -------------------------------------------
    backup_result = await client.call_tool("backup_notes", {})
    backup = expect_tool_error(backup_result, "backup_notes")
    expect(backup.category != "denied", f"backup_notes: an authorized call must not be denied: {dump(backup_result)}")
    expect(
        backup.caller_fault is False,
        f"backup_notes: an internal I/O failure is not the caller's fault: {dump(backup_result)}",
    )
    leaks = leaked_secrets(dump(backup_result, limit=10**9))
    expect(not leaks, f"backup_notes: the result leaks internal details {leaks}: {dump(backup_result)}")
    rep.backup_incident_id = backup.incident_id
    rep.ok(f"backup_notes -> sanitized {backup.category!r} error, incident {backup.incident_id}: {backup.message!r}")

    # -- unknown tools stay protocol errors --------------------------------------------
    try:
        unexpected = await client.call_tool("no_such_tool_e2e", {})
    except MCPError as error:
        rep.ok(f"unknown tool -> JSON-RPC error {error.code}: {error.message!r}")
    else:
        fail(f"unknown tool: expected a JSON-RPC error (MCPError), got a tool result {dump(unexpected)}")

    again = expect_success(await client.call_tool("server_info", {}), "server_info after the errors")
    expect(again == info_result, f"server_info changed during the session: {dump(again)} vs {dump(info_result)}")
    rep.ok("session still healthy after all the errors")


# --------------------------------------------------------------------------
# A real fault: locked databases, degraded writes, recovery
# --------------------------------------------------------------------------


class ToolListChanges:
    """Counts `notifications/tools/list_changed`, and lets the scenario wait for the next one."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = anyio.Event()

    def record(self) -> None:
        self.count += 1
        self._changed.set()
        self._changed = anyio.Event()

    async def after(self, seen: int, what: str) -> int:
        """Wait (bounded) until more than `seen` changes were received; return the count."""
        with anyio.move_on_after(FAULT_EVENT_TIMEOUT_SECONDS):
            while self.count <= seen:
                await self._changed.wait()
        expect(
            self.count > seen,
            f"{what}: no notifications/tools/list_changed within {FAULT_EVENT_TIMEOUT_SECONDS} s",
        )
        return self.count


async def timed_call(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[CallToolResult, float]:
    started = time.monotonic()
    result = await client.call_tool(tool, arguments)
    return result, time.monotonic() - started


async def eventually(what: str, attempt: Any, interval: float = 0.05) -> Any:
    """Poll `attempt()` until it returns something truthy, within the fault timeout.

    For conditions that have no event of their own (a log line, a breaker that
    closes after its trial calls); never used in place of an event that exists.
    """
    deadline = time.monotonic() + FAULT_EVENT_TIMEOUT_SECONDS
    last: Any = None
    while time.monotonic() < deadline:
        last = await attempt()
        if last:
            return last
        await anyio.sleep(interval)
    fail(f"{what}: not observed within {FAULT_EVENT_TIMEOUT_SECONDS} s (last attempt: {dump(last)})")


def expect_no_leak(result: CallToolResult, rep: Report, what: str) -> None:
    text = dump(result, limit=10**9)
    leaks = leaked_secrets(text) + [p for p in (str(rep.workdir), "sqlite", "SQL") if p in text]
    expect(not leaks, f"{what}: the result leaks internal details {leaks}: {text[:800]}")


def breaker_log_lines(rep: Report, breaker: str) -> list[str]:
    """The server's `secure_tool::breaker` events for `breaker`, in order."""
    text = ANSI_ESCAPE.sub("", rep.stderr_log.read_text(encoding="utf-8", errors="replace"))
    pattern = re.compile(rf"secure_tool::breaker\b.*\bbreaker={re.escape(breaker)}\b")
    return [line for line in text.splitlines() if pattern.search(line)]


def transition_to(line: str) -> str | None:
    match = re.search(r'\bto="?([a-z_]+)"?', line)
    return match.group(1) if match else None


def write_descriptions_marked(tools: list[Tool]) -> dict[str, bool]:
    marker = "temporarily unavailable"
    return {tool.name: marker in (tool.description or "").lower() for tool in tools}


def overview(result: CallToolResult, what: str) -> dict[str, Any]:
    value = expect_success(result, what)
    for key, kind in (("notes", int), ("recent", list), ("archived_from_cache", bool), ("warnings", list)):
        expect(type(value.get(key)) is kind, f"{what}: `{key}` should be a {kind.__name__}: {dump(value)}")
    return value


async def fault_scenario(client: Client, rep: Report, changes: ToolListChanges) -> None:
    # -- before: a healthy service --------------------------------------------------
    archiver = sqlite3.connect(rep.archive_path, timeout=5, isolation_level=None)
    writer = sqlite3.connect(rep.db_path, timeout=5, isolation_level=None)
    try:
        mode = writer.execute("PRAGMA journal_mode").fetchone()[0]
        expect(mode == "wal", f"the store should be in WAL mode (reads go on under a write lock), got {mode!r}")
        archiver.executemany(
            "INSERT INTO archived_notes (title, body, archived_at) VALUES (?, '', '2026-01-01')",
            [("old note 1",), ("old note 2",)],
        )
        complete = overview(await client.call_tool("notes_overview", {}), "notes_overview before the fault")
        expect(
            complete["warnings"] == [] and complete["archived"] == 2 and complete["archived_from_cache"] is False,
            f"notes_overview before the fault: expected a complete answer with 2 archived notes, got {dump(complete)}",
        )
        notes_before = complete["notes"]
        expect(notes_before >= 2, f"notes_overview: the notes created earlier are missing: {dump(complete)}")
        rep.ok(f"notes_overview complete: {notes_before} notes, recent {complete['recent'][:2]}..., 2 archived")

        # -- the fault: this process holds both databases' locks -------------------------
        seen = changes.count
        writer.execute("BEGIN IMMEDIATE")  # the store's write lock (WAL: readers unaffected)
        archiver.execute("BEGIN EXCLUSIVE")  # the archive's lock (rollback journal: readers too)
        rep.ok("holding the store's write lock (BEGIN IMMEDIATE) and the archive's exclusive lock")

        failed, failing_latency = await timed_call(client, "create_note", {"title": "during the fault"})
        error = expect_tool_error(failed, "create_note under the write lock", category="unavailable")
        expect(
            error.retryable and not error.caller_fault,
            f"create_note under the write lock: a locked store is retryable and not the caller's fault: {dump(failed)}",
        )
        expect_no_leak(failed, rep, "create_note under the write lock")
        expect(
            failing_latency >= BUSY_TIMEOUT_MS / 1000 * 0.9,
            f"create_note under the write lock answered in {failing_latency:.3f} s, before the "
            f"{BUSY_TIMEOUT_MS} ms busy timeout: did it reach the database?",
        )
        rep.ok(f"create_note under the write lock -> sanitized 'unavailable' after {failing_latency * 1000:.0f} ms")

        # -- the write breaker opens; writes degrade; clients are told ----------------
        await changes.after(seen, "write breaker opening")
        seen = changes.count
        rep.ok("notifications/tools/list_changed received: writes degraded")
        opened = [line for line in breaker_log_lines(rep, WRITE_BREAKER) if transition_to(line) == "open"]
        expect(opened, f"the server log has no `{WRITE_BREAKER}` breaker opening (see {rep.stderr_log})")
        rep.ok(f"server log: {opened[0].split('secure_tool::breaker:')[-1].strip()[:160]}")

        fast: list[float] = []
        for attempt in range(3):
            degraded, latency = await timed_call(client, "create_note", {"title": f"degraded {attempt}"})
            fast.append(latency)
            refusal = expect_tool_error(degraded, "create_note while writes are degraded", category="degraded")
            structured = error_facts(degraded)
            expect(structured.get("degraded") is True, f"degraded result: expected `degraded: true`: {dump(degraded)}")
            retry_after = structured.get("retry_after_secs")
            expect(
                type(retry_after) is int and retry_after >= 1,
                f"degraded result: expected error.retry_after_secs >= 1, got {dump(degraded)}",
            )
            available = structured.get("available_tools")
            expect(
                isinstance(available, list) and all(tool in available for tool in READ_TOOLS),
                f"degraded result: available_tools should name the read tools {READ_TOOLS}: {dump(degraded)}",
            )
            expect(
                not any(tool in available for tool in WRITE_TOOLS),
                f"degraded result: available_tools must not name write tools: {dump(degraded)}",
            )
            expect(
                all(tool in refusal.text for tool in READ_TOOLS),
                f"degraded result: the text should name the read tools that still work, got {refusal.text!r}",
            )
            expect_no_leak(degraded, rep, "degraded create_note")
        fast_latency = statistics.median(fast)
        expect(
            fast_latency < failing_latency / 4,
            f"degraded writes should fail fast: median {fast_latency * 1000:.1f} ms vs "
            f"{failing_latency * 1000:.0f} ms for the call that reached the locked database",
        )
        rep.ok(
            f"create_note x3 while degraded -> `degraded: true`, retry_after_secs {retry_after}, read tools named; "
            f"median {fast_latency * 1000:.1f} ms vs {failing_latency * 1000:.0f} ms on the failing path"
        )

        marked = write_descriptions_marked(await list_all_tools(client))
        expect(
            all(marked[tool] for tool in WRITE_TOOLS) and not any(marked[tool] for tool in READ_TOOLS),
            f"tools/list while degraded: write tools (only) should say they are unavailable: {marked}",
        )
        rep.ok(f"tools/list while degraded marks {list(WRITE_TOOLS)} and no read tool")

        # -- reads go on --------------------------------------------------------------
        listing = expect_success(await client.call_tool("list_notes", {}), "list_notes under the write lock")
        expect(
            len(listing.get("notes") or []) == notes_before,
            f"list_notes under the write lock: expected {notes_before} notes, got {dump(listing)}",
        )
        first = listing["notes"][0]
        fetched = expect_success(await client.call_tool("get_note", {"id": first["id"]}), "get_note under the lock")
        expect(same_note(fetched, first), f"get_note under the write lock: got {dump(fetched)}, expected {dump(first)}")
        partial_result = await client.call_tool("notes_overview", {})
        partial = overview(partial_result, "notes_overview under the locks")
        warnings_seen = partial["warnings"]
        expect(
            partial["notes"] == notes_before
            and len(warnings_seen) == 1
            and warnings_seen[0].get("source") == "Archive"
            and warnings_seen[0].get("criticality") == "optional",
            f"notes_overview under the locks: expected the notes and one optional warning for the archive, "
            f"got {dump(partial)}",
        )
        expect(
            partial["archived"] == 2 and partial["archived_from_cache"] is True,
            f"notes_overview under the locks: the archive count should come from the cache, got {dump(partial)}",
        )
        expect(
            warnings_seen[0]["message"] in text_of(partial_result),
            f"notes_overview: the warning should be mirrored into the text content: {text_of(partial_result)!r}",
        )
        expect_no_leak(partial_result, rep, "notes_overview under the locks")
        rep.ok(
            f"reads go on: list_notes ({notes_before} notes), get_note, notes_overview with warning "
            f"{warnings_seen[0]['message']!r} and the cached archive count"
        )
    finally:
        # -- restore ---------------------------------------------------------------------
        for connection in (writer, archiver):
            if connection.in_transaction:
                connection.rollback()
            connection.close()
    rep.ok("locks released")

    await changes.after(seen, "writes recovering")
    rep.ok("notifications/tools/list_changed received: writes restored")
    created = expect_note(
        expect_success(await client.call_tool("create_note", {"title": "after the fault"}), "create_note after recovery"),
        "create_note after recovery",
    )
    rep.ok(f"create_note after recovery -> id {created['id']}")

    async def write_breaker_closed() -> str | None:
        lines = breaker_log_lines(rep, WRITE_BREAKER)
        last_open = max((i for i, line in enumerate(lines) if transition_to(line) == "open"), default=None)
        if last_open is None:
            return None
        return next((line for line in lines[last_open:] if transition_to(line) == "closed"), None)

    closed = await eventually(f"the `{WRITE_BREAKER}` breaker closing in the server log", write_breaker_closed)
    rep.ok(f"server log: {closed.split('secure_tool::breaker:')[-1].strip()[:160]}")

    unmarked = write_descriptions_marked(await list_all_tools(client))
    expect(not any(unmarked.values()), f"tools/list after recovery still marks tools as unavailable: {unmarked}")

    async def complete_overview() -> dict[str, Any] | None:
        value = overview(await client.call_tool("notes_overview", {}), "notes_overview after recovery")
        return value if not value["warnings"] and value["archived_from_cache"] is False else None

    recovered = await eventually("notes_overview complete again", complete_overview)
    expect(
        recovered["notes"] == notes_before + 1 and recovered["archived"] == 2,
        f"notes_overview after recovery: expected {notes_before + 1} notes and 2 archived, got {dump(recovered)}",
    )
    rep.ok("tools/list unmarked and notes_overview complete again after recovery")


# --------------------------------------------------------------------------
# Checks on what crossed the wire and what the operator got
# --------------------------------------------------------------------------


def check_transcript(rep: Report) -> None:
    expect(rep.raw_log.exists(), f"no stdout transcript was recorded at {rep.raw_log}")
    raw = rep.raw_log.read_bytes()
    expect(raw, "the server wrote nothing to stdout")

    raw_lower = raw.lower()
    raw_leaks = [secret for secret in PLANTED_SECRETS if secret.lower().encode() in raw_lower]
    expect(not raw_leaks, f"raw stdout bytes contain internal details {raw_leaks} (see {rep.raw_log})")

    messages = 0
    notifications = 0
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError as error:
            fail(f"stdout line {number} is not JSON ({error}); logs must go to stderr: {line[:300]!r}")
        expect(
            isinstance(message, dict) and message.get("jsonrpc") == "2.0",
            f"stdout line {number} is not a JSON-RPC 2.0 message: {line[:300]!r}",
        )
        messages += 1
        if "method" in message and "id" not in message:
            notifications += 1
        decoded_leaks = sorted({leak for text in strings_in(message) for leak in leaked_secrets(text)})
        expect(not decoded_leaks, f"stdout message {number} contains internal details {decoded_leaks}: {line[:500]!r}")
    expect(raw.endswith(b"\n"), "the last stdout message is not newline-terminated")
    rep.ok(
        f"stdout transcript: {len(raw)} bytes, {messages} JSON-RPC messages ({notifications} notifications), "
        f"none containing {list(PLANTED_SECRETS)}"
    )


def check_server_log(rep: Report) -> None:
    expect(rep.stderr_log.exists(), f"no stderr log was captured at {rep.stderr_log}")
    lines = ANSI_ESCAPE.sub("", rep.stderr_log.read_text(encoding="utf-8", errors="replace")).splitlines()
    panics = [line for line in lines if "panicked at" in line]
    expect(not panics, f"the server panicked: {panics[:3]} (see {rep.stderr_log})")
    incident_id = rep.backup_incident_id
    if incident_id is None:
        return  # the scenario failed before backup_notes; nothing more to correlate
    with_id = [index for index, line in enumerate(lines) if incident_id in line]
    expect(with_id, f"the server log does not mention backup_notes' incident id {incident_id} (see {rep.stderr_log})")
    # "Together": in the same log record. Allow a few lines of slack for
    # multi-line formatters (the compact and full formats use one line).
    near = [
        index
        for index in with_id
        if any(PLANTED_LOG_MARKER in line for line in lines[max(0, index - 3) : index + 4])
    ]
    expect(
        near,
        f"the server log mentions incident {incident_id} but not next to the internal cause "
        f"({PLANTED_LOG_MARKER!r}); lines with the id: {[lines[index] for index in with_id][:3]}",
    )
    rep.ok(f"server log ties incident {incident_id} to the real cause: {lines[near[0]].strip()[:200]}")


def read_exit_status(rep: Report) -> None:
    try:
        status = rep.status_file.read_text(encoding="utf-8").strip()
    except OSError:
        rep.server_exit_status = "was killed by the client's shutdown escalation (no exit after stdin closed)"
        return
    rep.server_exit_status = f"exited with status {status}"


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def server_environment() -> dict[str, str]:
    """Extra environment for the server; the SDK only inherits HOME, PATH, USER, ... on top.

    The identity NOTES_* variables are deliberately left unset: the scenario
    runs as the default principal. Only the resilience timings are shortened;
    the backup directory is an argument (BACKUP_CANARY_DIR).
    """
    env = {"NO_COLOR": "1", "RUST_BACKTRACE": "1", **RESILIENCE_ENV}
    for name in ("RUST_LOG", "LLVM_PROFILE_FILE"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


async def with_tool_list_changes(client: Client, rep: Report, changes: ToolListChanges, body: Any) -> None:
    """Run `body` while `changes` counts the server's tool list changes.

    Handshake-era sessions get `notifications/tools/list_changed` directly (see
    `on_message`); 2026-07-28 sessions only on a `subscriptions/listen` stream.
    """
    if rep.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS:
        expect(
            client.server_capabilities.tools is not None and client.server_capabilities.tools.list_changed,
            f"the server should advertise tools.listChanged: {dump(client.server_capabilities)}",
        )
        await body(client, rep, changes)
        return
    async with anyio.create_task_group() as group:
        listening = anyio.Event()

        async def listen() -> None:
            async with client.listen(tools_list_changed=True) as subscription:
                expect(
                    subscription.honored.tools_list_changed is True,
                    f"subscriptions/listen: the server should honor tools_list_changed: {dump(subscription.honored)}",
                )
                listening.set()
                async for event in subscription:
                    if isinstance(event, ToolsListChanged):
                        rep.notifications.append("notifications/tools/list_changed (listen)")
                        changes.record()

        group.start_soon(listen)
        with anyio.fail_after(REQUEST_TIMEOUT_SECONDS):
            await listening.wait()
        rep.ok("subscriptions/listen open with tools_list_changed honored")
        await body(client, rep, changes)
        group.cancel_scope.cancel()


def flatten(error: BaseException) -> list[BaseException]:
    nested = getattr(error, "exceptions", None)
    if isinstance(nested, (list, tuple)):
        return [leaf for inner in nested for leaf in flatten(inner)]
    return [error]


async def run_mode(mode: str, server_bin: str, workdir: Path) -> Report:
    rep = Report(mode=mode, workdir=workdir)
    connect_options: dict[str, Any] = {} if mode == "default" else {"mode": "legacy"}
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-I",
            str(TEE_SCRIPT),
            str(rep.raw_log),
            str(rep.status_file),
            "--",
            server_bin,
            "--db",
            str(rep.db_path),
            "--archive",
            str(rep.archive_path),
            "--backup-dir",
            BACKUP_CANARY_DIR,
        ],
        env=server_environment(),
        cwd=str(workdir),
    )

    changes = ToolListChanges()

    async def on_message(message: ServerNotification | Exception) -> None:
        if isinstance(message, Exception):
            rep.transport_errors.append(repr(message))
        else:
            method = getattr(message, "method", type(message).__name__)
            rep.notifications.append(method)
            if method == "notifications/tools/list_changed":
                changes.record()

    print(f"[{mode}] starting {server_bin} --db {rep.db_path} (Client options: {connect_options or 'defaults'})", flush=True)
    with open(rep.stderr_log, "w", encoding="utf-8") as errlog:
        try:
            with anyio.fail_after(SCENARIO_TIMEOUT_SECONDS):
                transport = stdio_client(params, errlog=errlog)
                async with Client(
                    transport,
                    read_timeout_seconds=REQUEST_TIMEOUT_SECONDS,
                    message_handler=on_message,
                    # Opt in to every log notification the server may send
                    # (2026-07-28 per-request opt-in; no effect on legacy), so
                    # a leak through notifications/message shows up on stdout.
                    log_level="debug",
                    **connect_options,
                ) as client:
                    await scenario(client, rep)
                    await with_tool_list_changes(client, rep, changes, fault_scenario)
        except BaseException as error:  # noqa: BLE001 - report everything, incl. exception groups
            if isinstance(error, KeyboardInterrupt):
                raise
            leaves = flatten(error)
            checks = [leaf for leaf in leaves if isinstance(leaf, CheckFailed)]
            if checks:
                for check in checks:
                    rep.failed(str(check))
            else:
                causes = "; ".join(f"{type(leaf).__name__}: {leaf}" for leaf in leaves)
                details = "".join(traceback.format_exception(error)).rstrip()
                rep.failed(f"the session failed with {causes}\n{details}")

    read_exit_status(rep)
    if rep.transport_errors:
        rep.failed(f"the SDK reported transport errors: {rep.transport_errors[:3]}")
    for post_check in (check_transcript, check_server_log):
        try:
            post_check(rep)
        except CheckFailed as check:
            rep.failed(str(check))
    return rep


def tail(path: Path, lines: int = 40) -> str:
    try:
        content = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as error:
        return f"<unreadable: {error}>"
    return "\n".join(content.splitlines()[-lines:]) or "<empty>"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("default", "legacy", "both"), default="both")
    parser.add_argument("--keep", action="store_true", help="keep the work directory even when all checks pass")
    args = parser.parse_args()

    server_bin = os.environ.get("NOTES_SERVER_BIN", "")
    if not server_bin:
        print("error: set NOTES_SERVER_BIN to the notes-server binary (e.g. target/debug/notes-server)", file=sys.stderr)
        return 2
    server_path = Path(server_bin).resolve()
    if not (server_path.is_file() and os.access(server_path, os.X_OK)):
        print(f"error: NOTES_SERVER_BIN={server_bin} is not an executable file", file=sys.stderr)
        return 2

    modes = ["default", "legacy"] if args.mode == "both" else [args.mode]
    base = Path(tempfile.mkdtemp(prefix="notes-e2e-"))
    reports: list[Report] = []
    for mode in modes:
        workdir = base / mode
        workdir.mkdir()
        reports.append(anyio.run(run_mode, mode, str(server_path), workdir))

    print("\n== notes-server end-to-end summary (official MCP Python SDK, stdio) ==")
    print(
        "checked: tools/list (8 tools, object inputSchemas, annotations, outputSchemas); server_info; "
        "create/get/list round trip; identical generic denials for delete_note (incl. malformed args); "
        "invalid_input naming `id`; not_found; empty-title invalid_input; sanitized backup_notes failure "
        "with incident id; unknown tool -> JSON-RPC error; no planted detail in any stdout byte; "
        "stdout is pure JSON-RPC; incident id + real cause in the server's stderr log; "
        "real lock fault: sanitized unavailable write, write breaker opens, fast degraded writes with "
        "retry_after_secs and the read tools named, list_changed on degrade and recovery, tools/list marks, "
        "reads and partial overview go on, writes and breaker recover"
    )
    for rep in reports:
        status = "PASS" if not rep.failures else "FAIL"
        print(
            f"[{rep.mode}] {status}: {len(rep.passed)} checks passed, {len(rep.failures)} failed; "
            f"protocol {rep.protocol_version}; {len(rep.notifications)} notifications; "
            f"server {rep.server_exit_status}"
        )
        for failure in rep.failures:
            print(f"    FAIL {failure}")
    failed = [rep for rep in reports if rep.failures]
    if failed:
        for rep in failed:
            print(f"\n--- [{rep.mode}] server stderr (tail of {rep.stderr_log}) ---\n{tail(rep.stderr_log)}")
            print(f"--- [{rep.mode}] server stdout (tail of {rep.raw_log}) ---\n{tail(rep.raw_log, 20)}")
        print(f"\nFAILED: {sum(len(rep.failures) for rep in failed)} check(s); artifacts kept in {base}")
        return 1
    if args.keep:
        print(f"artifacts kept in {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
    print(f"PASSED: {sum(len(rep.passed) for rep in reports)} checks in modes {modes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The fault matrix over stdio, with the official MCP Python SDK.

For each way an authorization can fail (error, panic, panic before deciding, no answer,
an allow after the deadline, a deny, an answer that is not an allow), the example's server
is started as `notes-fault-server` (tests/notes-fault-server: notes-server with a failing
server-wide policy) with NOTES_AUTHZ_FAULT set, so that every call's authorization fails
that way, as a caller holding every scope and role, on a database holding note 1. Every
tool is called with plausible arguments, and every resource template is read (with `1`
for each variable), the prompt is got and the template's `id` is completed: each must get
the answer of a resource, prompt or template that does not exist (for the completion: no
values). Counted: answers that are not the generic denial
(from the client's side) and calls the server let through to a handler (audit events with
`decision="allow"` in its log). Both must be 0.

Usage: cargo build -p notes-fault-server &&
    NOTES_SERVER_BIN=target/debug/notes-fault-server python test_fault_matrix.py

Over streamable HTTP (tests/http_clients.rs starts one server per fault and runs this
script once per server): NOTES_MCP_URL, NOTES_TOKEN_ADMIN (every scope, the admin role)
and NOTES_MATRIX_FAULT (the fault the server was started with). The HTTP responses'
bytes are scanned too: none may be anything but the denial's.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, MCPError, StdioServerParameters, stdio_client
from mcp_types import ResourceTemplateReference
from tool_results import error_facts, rejection_by_validating_clients

HERE = Path(__file__).resolve().parent
TEE_SCRIPT = HERE / "stdout_tee.py"
FAULTS = [
    "error",
    "panic",
    "panic_on_call",
    "hang",
    "late_allow",
    "deny",
    "odd_answer",
    "blocking_allow",
    "empty_requirement",
]
ARGUMENTS: dict[str, dict[str, Any]] = {
    "get_note": {"id": 1},
    "link_note": {"id": 1},
    "delete_note": {"id": 1},
    "create_note": {"title": "matrix", "body": "should never be stored"},
}
TIMEOUT_SECONDS = 60


def is_generic_denial(result: Any) -> bool:
    return bool(result.is_error) and error_facts(result).get("category") == "denied"


async def call_every_tool(client: Client, fault: str) -> tuple[int, int, list[str]]:
    """Calls every tool the server lists: (calls, non-denial answers, their details). A
    denial that a client validating results like the TypeScript SDK would reject counts
    as a non-denial: that client never shows it."""
    details: list[str] = []
    calls = non_denials = 0
    for tool in sorted((await client.list_tools()).tools, key=lambda tool: tool.name):
        result = await client.call_tool(tool.name, ARGUMENTS.get(tool.name, {}))
        calls += 1
        rejected = rejection_by_validating_clients(result, tool.output_schema)
        if not is_generic_denial(result) or rejected:
            non_denials += 1
            details.append(f"{fault} × {tool.name}: {rejected or ''} {result}")
    # The example's note template, read even when the failing policy lists nothing.
    uris = {"notes://1"}
    try:
        templates = (await client.list_resource_templates()).resource_templates
    except MCPError:
        templates = []
    uris.update(re.sub(r"\{[^}]+\}", "1", template.uri_template) for template in templates)
    for uri in sorted(uris):
        calls += 1
        try:
            read = await client.read_resource(uri)
        except MCPError as error:
            if error.message != "Resource not found":
                non_denials += 1
                details.append(f"{fault} × {uri}: {error.code} {error.message}")
        else:
            non_denials += 1
            details.append(f"{fault} × {uri}: read {read}")
    # The example's prompt, got even when the failing policy lists nothing: the answer of
    # a prompt that does not exist.
    calls += 1
    try:
        got = await client.get_prompt("summarise_notes", {})
    except MCPError as error:
        if error.message != "Prompt not found":
            non_denials += 1
            details.append(f"{fault} × summarise_notes: {error.code} {error.message}")
    else:
        non_denials += 1
        details.append(f"{fault} × summarise_notes: got {got}")
    # The completion of the note template's `id`, asked even when the failing policy lists
    # no template: the empty answer of a template that does not exist.
    calls += 1
    try:
        completed = await client.complete(ResourceTemplateReference(uri="notes://{id}"), {"name": "id", "value": "1"})
    except MCPError as error:
        non_denials += 1
        details.append(f"{fault} × complete notes://{{id}}: {error.code} {error.message}")
    else:
        completion = completed.completion
        if completion.values or completion.has_more or completion.total not in (None, 0):
            non_denials += 1
            details.append(f"{fault} × complete notes://{{id}}: {completion}")
    return calls, non_denials, details


def seed_note(db: Path) -> None:
    """Stores note 1 in the server's SQLite database before it starts (its schema is
    created only if missing), so that a read, prompt or completion let through would have
    something to show."""
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, body TEXT NOT NULL)"
        )
        connection.execute("INSERT INTO notes (id, title, body) VALUES (1, 'seeded', 'must never be shown')")


async def one_fault(server_bin: str, fault: str, workdir: Path) -> tuple[int, int, int, list[str]]:
    """(calls, non-denials, handler runs, details) for one fault."""
    seed_note(workdir / f"{fault}.db")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "NOTES_AUTHZ_FAULT": fault,
        "NOTES_AUTHZ_TIMEOUT_MS": "200",
        "NOTES_SCOPES": "notes:read,notes:write",
        "NOTES_ROLES": "admin",
        "NOTES_LOG": "secure_tool::audit=info,warn",
        "NOTES_BACKUP_DIR": str(workdir),
    }
    log_path = workdir / f"stderr-{fault}.log"
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-I", str(TEE_SCRIPT), str(workdir / f"stdout-{fault}.raw"), str(workdir / f"status-{fault}"), "--",
            server_bin, "--db", str(workdir / f"{fault}.db"), "--archive", str(workdir / f"{fault}-archive.db"),
        ],
        env=env,
        cwd=str(workdir),
    )
    with open(log_path, "w", encoding="utf-8") as errlog:
        with anyio.fail_after(TIMEOUT_SECONDS):
            async with Client(stdio_client(params, errlog=errlog)) as client:
                calls, non_denials, details = await call_every_tool(client, fault)
    log = log_path.read_text(encoding="utf-8", errors="replace")
    handler_runs = log.count('decision="allow"')
    denials_logged = log.count('decision="deny"')
    if denials_logged != calls:
        details.append(f"{fault}: {denials_logged} denials in the log for {calls} calls")
    return calls, non_denials, handler_runs, details


async def over_http(url: str, token: str, fault: str) -> tuple[int, int, list[str]]:
    """(calls, non-denials, details) for the server at `url`, which has `fault` injected."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        with anyio.fail_after(TIMEOUT_SECONDS):
            async with Client(streamable_http_client(url, http_client=http)) as client:
                return await call_every_tool(client, fault)


def main() -> int:
    url = os.environ.get("NOTES_MCP_URL")
    if url:
        fault = os.environ["NOTES_MATRIX_FAULT"]
        calls, non_denials, details = anyio.run(over_http, url, os.environ["NOTES_TOKEN_ADMIN"], fault)
        print(f"http: {fault:<17} {calls} calls: {non_denials} non-denial answers")
        for detail in details:
            print(f"FAIL {detail}")
        return 1 if details or non_denials else 0
    server_bin = os.environ.get("NOTES_SERVER_BIN", "")
    if not server_bin or not os.access(server_bin, os.X_OK):
        print("error: set NOTES_SERVER_BIN to notes-fault-server (cargo build -p notes-fault-server)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="fault-matrix-"))
    total_calls = total_non_denials = total_runs = 0
    failures: list[str] = []
    print("fault matrix, stdio transport (official MCP Python SDK):")
    for fault in FAULTS:
        calls, non_denials, runs, details = anyio.run(one_fault, server_bin, fault, workdir)
        print(f"  {fault:<17} {calls} calls: {non_denials} non-denial answers, {runs} handler runs")
        total_calls += calls
        total_non_denials += non_denials
        total_runs += runs
        failures += details
    print(
        f"stdio: {len(FAULTS)} faults × {total_calls // len(FAULTS)} tool calls, reads, prompt gets and completions = {total_calls} calls: "
        f"{total_non_denials} non-denial answers, {total_runs} handler runs"
    )
    if total_non_denials or total_runs:
        failures.append(f"{total_non_denials} non-denial answers, {total_runs} handler runs")
    for failure in failures:
        print(f"FAIL {failure}")
    if failures:
        print(f"kept {workdir} for inspection")
        return 1
    for path in sorted(workdir.iterdir()):
        path.unlink()
    workdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())

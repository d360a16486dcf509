#!/usr/bin/env python3
"""End-to-end test: the official MCP Python SDK's streamable HTTP client against
notes-server verifying the tokens of a real OpenID provider, whose keys the server
discovered and fetched itself (tests/oidc.rs).

tests/oidc.rs starts the provider and the server, gets the tokens from the provider,
and runs this script once per step of its key rotation, with:
  NOTES_MCP_URL     the MCP endpoint, e.g. http://127.0.0.1:PORT/mcp
  NOTES_OIDC_CASES  a JSON list of {"name": ..., "token": ..., "expect": ...}, run in
                    order, where expect is
                      "write"          the token creates a note (create_note)
                      "read"           the token lists the notes (list_notes) and reads
                                       each of them (get_note); there is at least one
                      "invalid_token"  the connection is refused: HTTP 401 with a Bearer
                                       challenge, error="invalid_token"
Each case that connects does what hosts do: the SDK's `Client` (its default handshake),
tools/list, then tools/call with the token as a bearer header.

Prints one line per check (`oidc: ok: ...`, with the time it took); exit status 0 when
every check passed, 1 on a failed check, 2 on a usage error. Dependencies:
tests/e2e/requirements.txt.
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
    from mcp.client.auth.utils import extract_field_from_www_auth
    from mcp.types import CallToolResult
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from checks import CheckFailed, expect, reporter, run
    import sdk_session
except ImportError as import_error:  # pragma: no cover - environment problem
    sys.exit(f"oidc: error: cannot import the MCP Python SDK 2.x ({import_error})")

CLIENT = "oidc"
REQUEST_TIMEOUT_SECONDS = 30.0
SCENARIO_TIMEOUT_SECONDS = 120.0

ok, env = reporter(CLIENT)

URL = env("NOTES_MCP_URL")
try:
    CASES = json.loads(env("NOTES_OIDC_CASES"))
except json.JSONDecodeError as error:
    print(f"{CLIENT}: error: NOTES_OIDC_CASES is not JSON ({error})", file=sys.stderr)
    sys.exit(2)
EXPECTATIONS = ("write", "read", "invalid_token")
for case in CASES:
    if not isinstance(case, dict) or case.get("expect") not in EXPECTATIONS or not case.get("token"):
        print(f"{CLIENT}: error: a case is not {{name, token, expect}}: {case!r}", file=sys.stderr)
        sys.exit(2)


# The statuses of the HTTP responses of the case running, for the failure messages.
STATUSES: list[int] = []


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions an exception group holds, flattened; or the exception itself (by
    duck typing: Python 3.10 has no built-in BaseExceptionGroup)."""
    inner = getattr(error, "exceptions", None)
    if isinstance(inner, (list, tuple)) and inner:
        return [leaf for each in inner for leaf in leaves(each)]
    return [error]


def Session(token: str) -> sdk_session.Session:  # noqa: N802 - used as the class it builds
    """A connection with `token`, its responses' statuses kept for the failure messages."""
    return sdk_session.Session(
        URL, token, REQUEST_TIMEOUT_SECONDS, on_response=lambda response: STATUSES.append(response.status_code)
    )


def structured(result: CallToolResult, what: str) -> dict[str, Any]:
    expect(not result.is_error, f"{what}: expected success, got {result.model_dump_json()}")
    expect(isinstance(result.structured_content, dict), f"{what}: no structuredContent in {result.model_dump_json()}")
    return result.structured_content


async def connected(name: str, client: Client) -> str:
    handshake = "initialize" if client.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS else "server/discover"
    tools = (await client.list_tools()).tools
    names = sorted(tool.name for tool in tools)
    expect("list_notes" in names and "create_note" in names, f"{name}: tools/list -> {names}")
    return f"{handshake} (protocol {client.protocol_version}), tools/list -> {len(names)} tools"


async def write(name: str, token: str) -> str:
    async with Session(token) as client:
        handshake = await connected(name, client)
        note = structured(
            await client.call_tool("create_note", {"title": name, "body": "a real provider's token"}),
            f"{name} create_note",
        )
        expect(type(note.get("id")) is int and note.get("title") == name, f"{name}: create_note returned {note}")
        return f"{handshake}, create_note -> note {note['id']}"


async def read(name: str, token: str) -> str:
    async with Session(token) as client:
        handshake = await connected(name, client)
        notes = structured(await client.call_tool("list_notes", {}), f"{name} list_notes")["notes"]
        expect(len(notes) >= 1, f"{name}: list_notes -> {notes}, expected at least one note")
        for listed in notes:
            note = structured(await client.call_tool("get_note", {"id": listed["id"]}), f"{name} get_note")
            expect(note.get("id") == listed["id"], f"{name}: get_note {listed['id']} -> {note}")
        return f"{handshake}, list_notes -> {len(notes)} notes, get_note of each"


async def invalid_token(name: str, token: str) -> str:
    session = Session(token)
    try:
        async with session:
            pass
    except Exception:  # noqa: BLE001 - the SDK's error for a 401 is generic; the status is checked below
        pass
    else:
        raise CheckFailed(f"{name}: the connection succeeded, expected HTTP 401")
    statuses = [response.status_code for response in session.responses]
    expect(statuses and all(status == 401 for status in statuses), f"{name}: the transport got {statuses}, expected 401s")
    response = session.responses[0]
    challenge = response.headers.get("www-authenticate", "")
    expect(challenge.startswith("Bearer "), f"{name}: no Bearer challenge, got {challenge!r}")
    error = extract_field_from_www_auth(response, "error")
    expect(error == "invalid_token", f"{name}: error={error!r}, expected invalid_token ({challenge})")
    return f"refused: HTTP 401, error=\"invalid_token\" ({len(statuses)} response(s))"


async def scenario() -> None:
    runs = {"write": write, "read": read, "invalid_token": invalid_token}
    for case in CASES:
        started = time.monotonic()
        STATUSES.clear()
        try:
            outcome = await runs[case["expect"]](case["name"], case["token"])
        except CheckFailed:
            raise
        except Exception as error:  # noqa: BLE001 - any other failure of the SDK fails the case
            raised = "; ".join(f"{type(leaf).__name__}: {leaf}" for leaf in leaves(error))
            raise CheckFailed(
                f"{case['name']}: expected {case['expect']}, the SDK raised {raised} "
                f"(HTTP statuses {STATUSES})"
            ) from error
        ok(f"{case['name']}: {outcome} in {(time.monotonic() - started) * 1000:.0f} ms")


if __name__ == "__main__":
    sys.exit(run(CLIENT, scenario, SCENARIO_TIMEOUT_SECONDS))

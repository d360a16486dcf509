#!/usr/bin/env python3
"""End-to-end test: the official MCP Python SDK's streamable HTTP client against
notes-server over HTTP, as an OAuth resource server.

tests/http_clients.rs starts the server and mints the tokens; this script reads
them from the environment (NOTES_MCP_URL, NOTES_ISSUER, NOTES_TOKEN_READER,
NOTES_TOKEN_WRITER, NOTES_TOKEN_EXPIRED, NOTES_TOKEN_WRONG_AUDIENCE; see
typescript_client.mjs beside it for what each holds). The SDK's `Client` is used
with its default connect mode, which negotiates the 2026-07-28 protocol
(`server/discover`) with this server; the HTTP responses its transport receives
are recorded with an httpx2 event hook, so that the 401s and their challenges
are read from what the SDK itself got. A valid token sent with a foreign `Origin`
(or `Origin: null`) must get a bare 403, by hand and through the SDK. The challenge and the metadata document
are parsed with the SDK's own OAuth discovery helpers.

Prints one line per check (`python: ok: ...`); exit status 0 when every check
passed, 1 on a failed check, 2 on a usage error. Dependencies:
tests/e2e/requirements.txt.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any
from urllib.parse import urlsplit

try:
    import anyio
    import httpx2
    from mcp.client.auth.utils import (
        build_protected_resource_metadata_discovery_urls,
        extract_field_from_www_auth,
        extract_resource_metadata_from_www_auth,
        handle_protected_resource_response,
    )
    from mcp.types import CallToolResult
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

    # The e2e suite's shared reading of tool results, one directory up.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from checks import CheckFailed, expect, reporter, run
    from tool_results import error_facts
    import sdk_session
except ImportError as import_error:  # pragma: no cover - environment problem
    sys.exit(f"python: error: cannot import the MCP Python SDK 2.x ({import_error})")

CLIENT = "python"
REQUEST_TIMEOUT_SECONDS = 30.0
SCENARIO_TIMEOUT_SECONDS = 120.0


ok, env = reporter(CLIENT)


URL = env("NOTES_MCP_URL")
ISSUER = env("NOTES_ISSUER")
TOKENS = {
    "reader": env("NOTES_TOKEN_READER"),
    "writer": env("NOTES_TOKEN_WRITER"),
    "expired": env("NOTES_TOKEN_EXPIRED"),
    "wrong_audience": env("NOTES_TOKEN_WRONG_AUDIENCE"),
}


def Session(token: str | None, origin: str | None = None) -> sdk_session.Session:  # noqa: N802 - used as the class it builds
    """A connection with `token` (or none), and an `Origin` header if given."""
    return sdk_session.Session(URL, token, REQUEST_TIMEOUT_SECONDS, origin=origin)


async def expect_unauthorized(token: str | None, what: str) -> httpx2.Response:
    """A connection with `token` fails, and what the SDK's transport got was a 401 with a
    Bearer challenge."""
    session = Session(token)
    try:
        async with session:
            pass
    except Exception:  # noqa: BLE001 - the SDK's error for a 401 is generic; the status is checked below
        pass
    else:
        raise CheckFailed(f"{what}: the connection succeeded, expected HTTP 401")
    statuses = [response.status_code for response in session.responses]
    expect(statuses and all(status == 401 for status in statuses), f"{what}: the transport got {statuses}, expected 401s")
    response = session.responses[0]
    challenge = response.headers.get("www-authenticate", "")
    expect(challenge.startswith("Bearer "), f"{what}: no Bearer challenge, got {challenge!r}")
    return response


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": CLIENT, "version": "0"}},
}


async def post_initialize(token: str, origin: str) -> httpx2.Response:
    """An `initialize` request by hand, with `token` and an `Origin` header."""
    async with httpx2.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS) as http:
        return await http.post(
            URL,
            json=INITIALIZE,
            headers={
                "Authorization": f"Bearer {token}",
                "Origin": origin,
                "Accept": "application/json, text/event-stream",
            },
        )


async def expect_forbidden_origin(token: str, origin: str) -> None:
    """A page of another origin gets a bare 403 even with a valid token: by hand (no
    challenge, no body), and through the SDK (every response a 403, no connection)."""
    response = await post_initialize(token, origin)
    expect(response.status_code == 403, f"Origin {origin}: HTTP {response.status_code}, expected 403")
    expect(response.content == b"", f"Origin {origin}: a body {response.content!r}")
    expect("www-authenticate" not in response.headers, f"Origin {origin}: a challenge {response.headers}")
    session = Session(token, origin=origin)
    try:
        async with session:
            pass
    except Exception:  # noqa: BLE001 - the SDK's error for a 403 is generic; the status is checked below
        pass
    else:
        raise CheckFailed(f"Origin {origin}: the connection succeeded, expected HTTP 403")
    statuses = [response.status_code for response in session.responses]
    expect(statuses and all(status == 403 for status in statuses), f"Origin {origin}: the transport got {statuses}, expected 403s")


async def step_up(session: sdk_session.Session, client: Any, arguments: dict[str, Any], what: str) -> str:
    """A create_note with `arguments` fails through the SDK, and what its transport got last
    was a 403 step-up challenge: `insufficient_scope`, `notes:write`, the metadata document."""
    responses = len(session.responses)
    try:
        result = await client.call_tool("create_note", arguments)
    except Exception:  # noqa: BLE001 - the SDK's error for a 403 is generic; the status is checked below
        pass
    else:
        raise CheckFailed(f"{what}: expected HTTP 403, got {result}")
    seen = session.responses[responses:]
    expect(seen and seen[-1].status_code == 403, f"{what}: the transport got {[r.status_code for r in seen]}")
    response = seen[-1]
    error = extract_field_from_www_auth(response, "error")
    scope = extract_field_from_www_auth(response, "scope")
    metadata = extract_field_from_www_auth(response, "resource_metadata")
    expect(error == "insufficient_scope" and scope == "notes:write", f"{what}: {response.headers.get('www-authenticate')}")
    own = urlsplit(URL)
    expect(
        metadata == f"{own.scheme}://{own.netloc}/.well-known/oauth-protected-resource{own.path}",
        f"{what}: resource_metadata={metadata!r}",
    )
    return f'error="{error}" scope="{scope}"'


def structured(result: CallToolResult, what: str) -> dict[str, Any]:
    expect(not result.is_error, f"{what}: expected success, got {result.model_dump_json()}")
    expect(isinstance(result.structured_content, dict), f"{what}: no structuredContent in {result.model_dump_json()}")
    return result.structured_content


def denial(result: CallToolResult, what: str) -> str:
    error = error_facts(result)
    expect(
        result.is_error is True and error.get("category") == "denied",
        f"{what}: expected the generic denial, got {result.model_dump_json()}",
    )
    return json.dumps({key: error.get(key) for key in ("category", "message", "retryable", "caller_fault")})


async def scenario() -> None:
    # No token: 401, a challenge naming the metadata document, and the document itself,
    # found and parsed the way the SDK's OAuth client does.
    response = await expect_unauthorized(None, "no token")
    metadata_url = extract_resource_metadata_from_www_auth(response)
    expected_url = URL.replace("/mcp", "/.well-known/oauth-protected-resource/mcp", 1)
    expect(metadata_url == expected_url, f"no token: resource_metadata {metadata_url!r}, expected {expected_url!r}")
    ok(f"no token -> HTTP 401, WWW-Authenticate: {response.headers['www-authenticate']}")
    async with httpx2.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS) as http:
        metadata = None
        for candidate in build_protected_resource_metadata_discovery_urls(metadata_url, URL):
            metadata = await handle_protected_resource_response(await http.get(candidate))
            if metadata is not None:
                break
    expect(metadata is not None, "metadata: no protected resource metadata document was found")
    expect(str(metadata.resource) == URL, f"metadata: resource {metadata.resource}, expected {URL}")
    servers = [str(server).rstrip("/") for server in metadata.authorization_servers]
    expect(servers == [ISSUER], f"metadata: authorization_servers {servers}")
    expect(metadata.scopes_supported == ["notes:read", "notes:write"], f"metadata: scopes_supported {metadata.scopes_supported}")
    ok(f"metadata document: resource={metadata.resource} authorization_servers={servers} scopes_supported={metadata.scopes_supported}")

    # Expired and wrong-audience tokens: 401 invalid_token.
    for what, token in (("expired token", TOKENS["expired"]), ("wrong-audience token", TOKENS["wrong_audience"])):
        response = await expect_unauthorized(token, what)
        error = extract_field_from_www_auth(response, "error")
        expect(error == "invalid_token", f"{what}: error={error!r}, expected invalid_token")
        ok(f'{what} -> HTTP 401, error="invalid_token"')

    # A valid token from a page of another origin (DNS rebinding): 403 before the token is
    # looked at. The server's own origin, its default port written out or not, goes on.
    await expect_forbidden_origin(TOKENS["reader"], "https://evil.example.com")
    ok("valid token with a foreign Origin -> HTTP 403, empty body, no challenge")
    await expect_forbidden_origin(TOKENS["reader"], "null")
    ok("valid token with Origin: null -> HTTP 403")
    own = urlsplit(URL)
    own_origin = f"{own.scheme}://{own.netloc.upper()}"
    response = await post_initialize(TOKENS["reader"], own_origin)
    expect(response.status_code == 200, f"Origin {own_origin}: HTTP {response.status_code}, expected 200")
    ok(f"valid token with the server's own Origin {own_origin} -> HTTP 200")

    # notes:read only: reads work; create_note is answered HTTP 403 with the step-up
    # challenge naming notes:write, whatever the arguments, before anything runs: nothing
    # is written.
    reader = Session(TOKENS["reader"])
    async with reader as client:
        handshake = "initialize" if client.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS else "server/discover"
        info = client.server_info
        ok(
            f"reader token -> connected via {handshake}, protocol {client.protocol_version}"
            f" (server {info.name if info else '?'} {info.version if info else '?'})"
        )
        before = len(structured(await client.call_tool("list_notes", {}), "reader list_notes")["notes"])
        ok(f"reader token: list_notes -> {before} notes")
        denied = await step_up(reader, client, {"title": "from a reader"}, "reader create_note")
        malformed = await step_up(reader, client, {"title": 42}, "reader create_note, malformed")
        expect(denied == malformed, f"the answer depends on the arguments: {denied} vs {malformed}")
    async with Session(TOKENS["reader"]) as client:
        after = len(structured(await client.call_tool("list_notes", {}), "reader list_notes again")["notes"])
        expect(after == before, f"a refused create_note wrote: {before} notes before, {after} after")
        ok(f"reader token: create_note -> HTTP 403 {denied}, identical for malformed arguments, nothing written")

    # notes:write: a write tool and a read tool succeed; delete_note (role admin) is denied.
    async with Session(TOKENS["writer"]) as client:
        note = structured(
            await client.call_tool("create_note", {"title": "python", "body": "over streamable HTTP"}),
            "writer create_note",
        )
        expect(type(note.get("id")) is int and note.get("title") == "python", f"create_note returned {note}")
        ok(f"writer token: create_note -> note {note['id']} {json.dumps(note['title'])}")
        read = structured(await client.call_tool("get_note", {"id": note["id"]}), "writer get_note")
        expect(read.get("body") == "over streamable HTTP", f"get_note returned {read}")
        ok(f"writer token: get_note {note['id']} -> {json.dumps(read['body'])}")
        not_admin = denial(await client.call_tool("delete_note", {"id": note["id"]}), "writer delete_note")
        ok(f"writer token: delete_note (role admin) -> denied {not_admin}")


if __name__ == "__main__":
    sys.exit(run(CLIENT, scenario, SCENARIO_TIMEOUT_SECONDS))

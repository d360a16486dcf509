#!/usr/bin/env python3
"""End-to-end test: `delete_note` decided by the Cedar policies of
`examples/notes/policies/notes.cedar` (the owner of a note, or an administrator), with the
official MCP Python SDK over streamable HTTP, as hosts use it (list the tools, then call).

tests/cedar.rs starts the server with `--cedar-policies`, mints the tokens, and runs this
script once per phase (`CEDAR_PHASE`):

- `owners`: the file as shipped. The writer deletes the note it created; it is denied the
  administrator's note and a note that does not exist (a missing entity, not "not found");
  the administrator deletes the writer's note; the reader (owner of nothing) is denied.
- `admins-only`: after the file was replaced by one that lets administrators alone delete,
  and the server sent SIGHUP: the writer is denied its own note, the administrator is not.

Every denial is the generic one. Prints one line per check (`python-cedar: ok: ...`); exit
status 0 when every check passed.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

try:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.types import ElicitResult

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from checks import expect, reporter, run
    from tool_results import error_facts
except ImportError as import_error:  # pragma: no cover - environment problem
    sys.exit(f"python-cedar: error: cannot import the MCP Python SDK 2.x ({import_error})")

CLIENT = "python-cedar"
TIMEOUT_SECONDS = 30.0
SCENARIO_TIMEOUT_SECONDS = 120.0

ok, env = reporter(CLIENT)

URL = env("NOTES_MCP_URL")
PHASE = env("CEDAR_PHASE")
TOKENS = {
    "writer": env("NOTES_TOKEN_WRITER"),
    "admin": env("NOTES_TOKEN_ADMIN"),
    "reader": env("NOTES_TOKEN_READER"),
}


async def accept(context: Any, params: Any) -> ElicitResult:
    """The user says yes to every confirmation: only the policy decides."""
    return ElicitResult(action="accept", content={"confirm": True})


class Caller:
    """One caller's session (its own token), opened with the tool list, as hosts do."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {TOKENS[who]}"},
            timeout=httpx2.Timeout(TIMEOUT_SECONDS),
        )
        self.client = Client(
            streamable_http_client(URL, http_client=self.http),
            read_timeout_seconds=TIMEOUT_SECONDS,
            mode="legacy",
            elicitation_callback=accept,
        )

    async def __aenter__(self) -> "Caller":
        await self.http.__aenter__()
        await self.client.__aenter__()
        names = {tool.name for tool in (await self.client.list_tools()).tools}
        expect("delete_note" in names, f"{self.who}: tools/list without delete_note: {sorted(names)}")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.client.__aexit__(*exc)
        await self.http.__aexit__(*exc)

    async def create(self, title: str) -> int:
        created = await self.client.call_tool("create_note", {"title": title, "body": "cedar"})
        expect(not created.is_error, f"{self.who}: create_note failed: {created}")
        return created.structured_content["id"]

    async def delete(self, note: int) -> Any:
        return await self.client.call_tool("delete_note", {"id": note})


def deleted(result: Any, what: str) -> None:
    expect(not result.is_error, f"{what}: expected the note deleted, got {result}")


def without_incident(text: str) -> str:
    """The denial's text without its incident id (each denial has its own)."""
    return re.sub(r"incident [0-9a-f-]{36}", "incident <id>", text)


def denied(result: Any, what: str, generic: str) -> None:
    facts = error_facts(result)
    expect(result.is_error, f"{what}: expected a denial, got {result}")
    expect(facts.get("category") == "denied", f"{what}: category {facts.get('category')!r}")
    text = result.content[0].text
    expect(
        without_incident(text) == without_incident(generic),
        f"{what}: not the generic denial: {text!r} (generic: {generic!r})",
    )
    for secret in ("cedar", "Cedar", "owner", "forbid", "permit", "Note::", "missing"):
        expect(secret not in text, f"{what}: {secret!r} in the denial: {text!r}")




def same_denial(results: list[Any], what: str) -> None:
    """Every denial has the text of the first: whatever Cedar's reason, the caller is told
    the same."""
    first = results[0].content[0].text
    for result in results:
        denied(result, what, first)


async def owners() -> None:
    async with Caller("writer") as writer, Caller("admin") as admin, Caller("reader") as reader:
        own = await writer.create("the writer's note")
        deleted(await writer.delete(own), "the owner deletes its note")
        ok(f"the owner deletes its own note {own}")

        theirs = await admin.create("the administrator's note")
        not_owner = await writer.delete(theirs)
        missing = await writer.delete(987654321)
        outsider = await reader.delete(theirs)
        same_denial([not_owner, missing, outsider], "denials")
        ok(f"the writer is denied note {theirs}, which it does not own (no policy permits)")
        ok("a note that does not exist is a denial (missing entity), not 'not found'")
        ok("the reader, owner of nothing, is denied; all three denials are the same text")

        mine = await writer.create("the writer's second note")
        deleted(await admin.delete(mine), "the administrator deletes the writer's note")
        deleted(await admin.delete(theirs), "the administrator deletes its own note")
        ok(f"the administrator deletes notes {mine} (the writer's) and {theirs}")


async def admins_only() -> None:
    async with Caller("writer") as writer, Caller("admin") as admin, Caller("reader") as reader:
        own = await writer.create("after the reload")
        same_denial([await writer.delete(own), await reader.delete(own)], "after the reload")
        ok(f"after SIGHUP, the owner is denied its own note {own}")
        deleted(await admin.delete(own), "the administrator after the reload")
        ok(f"after SIGHUP, the administrator deletes note {own}")


if __name__ == "__main__":
    scenario = {"owners": owners, "admins-only": admins_only}.get(PHASE)
    if scenario is None:
        sys.exit(f"{CLIENT}: error: unknown CEDAR_PHASE {PHASE!r}")
    sys.exit(run(CLIENT, scenario, SCENARIO_TIMEOUT_SECONDS))

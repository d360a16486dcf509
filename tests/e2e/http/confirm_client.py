#!/usr/bin/env python3
"""End-to-end test: `delete_note`, declared `confirm = "Delete note {id}? ..."`, with the
official MCP Python SDK over streamable HTTP, as hosts use it (list the tools, then call).

On a 2025-11-25 session (`mode="legacy"`: the `initialize` handshake) the server asks the
user through elicitation: accepted with the box ticked, the note is deleted; declined,
or a client that declared no elicitation, it is not, and the model is told why. On a
2026-07-28 connection (the SDK's default) the server answers an `InputRequiredResult`
whose `requestState` carries the pending call, sealed and single-use: the SDK's own
driver answers it through the elicitation callback; driven by hand, a declined answer,
a forged state and a replayed state each leave the note in place.

tests/http_clients.rs starts the server and mints the tokens (NOTES_MCP_URL,
NOTES_TOKEN_ADMIN: role `admin`, scopes notes:read and notes:write). Prints one line per
check (`python-confirm: ok: ...`); exit status 0 when every check passed.
"""

from __future__ import annotations

import os
import sys
from typing import Any

try:
    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.types import ElicitResult, InputRequiredResult

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from checks import CheckFailed, expect, reporter
    from tool_results import error_facts
except ImportError as import_error:  # pragma: no cover - environment problem
    sys.exit(f"python-confirm: error: cannot import the MCP Python SDK 2.x ({import_error})")

CLIENT = "python-confirm"
TIMEOUT_SECONDS = 30.0
SCENARIO_TIMEOUT_SECONDS = 120.0
QUESTION = "Delete note {id}? It cannot be undone."


ok, env = reporter(CLIENT)


URL = env("NOTES_MCP_URL")
ADMIN = env("NOTES_TOKEN_ADMIN")


class Answering:
    """An elicitation callback that gives `answer` and records each question."""

    def __init__(self, action: str, ticked: bool = True) -> None:
        self.action = action
        self.ticked = ticked
        self.questions: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.questions.append(params.message)
        content = {"confirm": self.ticked} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)


def connect(http: httpx2.AsyncClient, mode: str, callback: Answering | None) -> Client:
    return Client(
        streamable_http_client(URL, http_client=http),
        read_timeout_seconds=TIMEOUT_SECONDS,
        mode=mode,
        elicitation_callback=callback,
    )


async def new_note(client: Client, title: str) -> int:
    created = await client.call_tool("create_note", {"title": title, "body": "to be deleted"})
    expect(not created.is_error, f"create_note failed: {created}")
    return created.structured_content["id"]


async def still_there(client: Client, note: int, what: str) -> None:
    read = await client.call_tool("get_note", {"id": note})
    expect(not read.is_error, f"{what}: note {note} is gone, yet the deletion was not confirmed")


def not_confirmed(result: Any, why: str, what: str) -> None:
    facts = error_facts(result)
    expect(result.is_error, f"{what}: expected an error result, got {result}")
    expect(facts.get("category") == "not_confirmed", f"{what}: category {facts.get('category')!r}")
    expect(facts.get("confirmation") == why, f"{what}: confirmation {facts.get('confirmation')!r}")
    text = result.content[0].text
    expect("not performed" in text, f"{what}: the model is not told the action did not run: {text!r}")


def denied(result: Any, what: str) -> None:
    expect(result.is_error, f"{what}: expected an error result, got {result}")
    expect(error_facts(result).get("category") == "denied", f"{what}: {error_facts(result)}")


async def legacy_sessions(http: httpx2.AsyncClient) -> None:
    yes = Answering("accept")
    async with connect(http, "legacy", yes) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        expect("delete_note" in names, f"tools/list: {sorted(names)}")
        note = await new_note(client, "legacy yes")
        deleted = await client.call_tool("delete_note", {"id": note})
        expect(not deleted.is_error, f"accepted: {deleted}")
        expect(deleted.structured_content["title"] == "legacy yes", f"accepted: {deleted}")
        expect(yes.questions == [QUESTION.format(id=note)], f"the question asked: {yes.questions}")
        ok(f"2025-11-25: the user was asked {yes.questions[0]!r}, accepted: note {note} deleted")

    for answer, why in ((Answering("decline"), "declined"), (Answering("accept", ticked=False), "declined"), (Answering("cancel"), "cancelled")):
        async with connect(http, "legacy", answer) as client:
            await client.list_tools()
            note = await new_note(client, f"legacy {why}")
            result = await client.call_tool("delete_note", {"id": note})
            not_confirmed(result, why, f"2025-11-25 {answer.action}")
            await still_there(client, note, f"2025-11-25 {answer.action}")
            ok(f"2025-11-25: {answer.action} (box ticked: {answer.ticked}) -> not_confirmed/{why}, note {note} kept")

    async with connect(http, "legacy", None) as client:
        await client.list_tools()
        note = await new_note(client, "legacy no elicitation")
        result = await client.call_tool("delete_note", {"id": note})
        not_confirmed(result, "unsupported", "2025-11-25 without elicitation")
        await still_there(client, note, "2025-11-25 without elicitation")
        ok(f"2025-11-25: a client without elicitation -> not_confirmed/unsupported, note {note} kept")


async def modern_requests(http: httpx2.AsyncClient) -> None:
    # The SDK's own driver answers the InputRequiredResult through the callback.
    yes = Answering("accept")
    async with connect(http, "auto", yes) as client:
        await client.list_tools()
        note = await new_note(client, "modern yes")
        deleted = await client.call_tool("delete_note", {"id": note})
        expect(not deleted.is_error, f"accepted through the driver: {deleted}")
        expect(yes.questions == [QUESTION.format(id=note)], f"the question asked: {yes.questions}")
        ok(f"2026-07-28: the SDK's driver asked {yes.questions[0]!r}, accepted: note {note} deleted")

    async with connect(http, "auto", Answering("accept")) as client:
        await client.list_tools()
        session = client.session

        async def ask(note: int) -> InputRequiredResult:
            first = await session.call_tool("delete_note", {"id": note}, allow_input_required=True)
            expect(isinstance(first, InputRequiredResult), f"expected input_required, got {first}")
            expect(first.request_state, "the InputRequiredResult carries no requestState")
            request = (first.input_requests or {}).get("confirm")
            expect(request is not None, f"no `confirm` input request: {first}")
            expect(request.params.message == QUESTION.format(id=note), f"question: {request.params.message!r}")
            return first

        def answer(action: str) -> dict[str, Any]:
            content = {"confirm": True} if action == "accept" else None
            return {"confirm": ElicitResult(action=action, content=content)}

        async def retry(note: int, state: str, action: str) -> Any:
            return await session.call_tool(
                "delete_note", {"id": note}, input_responses=answer(action), request_state=state
            )

        note = await new_note(client, "modern declined")
        first = await ask(note)
        not_confirmed(await retry(note, first.request_state, "decline"), "declined", "2026-07-28 declined")
        await still_there(client, note, "2026-07-28 declined")
        ok(f"2026-07-28: InputRequiredResult with a sealed requestState; declined -> not_confirmed, note {note} kept")

        # Forged: one character of the seal changed.
        first = await ask(note)
        state = first.request_state
        forged = state[:-1] + ("A" if state[-1] != "A" else "B")
        denied(await retry(note, forged, "accept"), "2026-07-28 forged state")
        await still_there(client, note, "2026-07-28 forged state")
        ok(f"2026-07-28: a forged requestState with an acceptance -> denied, note {note} kept")

        # Another call's state: sealed for note `note`, sent with another note's id.
        other = await new_note(client, "modern other")
        denied(await retry(other, state, "accept"), "2026-07-28 another call's state")
        await still_there(client, other, "2026-07-28 another call's state")
        ok("2026-07-28: a requestState sent with other arguments -> denied")

        # Redeemed once, then replayed.
        done = await retry(note, state, "accept")
        expect(not done.is_error, f"2026-07-28 accepted: {done}")
        replayed = await retry(note, state, "accept")
        denied(replayed, "2026-07-28 replayed state")
        ok(f"2026-07-28: accepted -> note {note} deleted; the same requestState replayed -> denied")

    async with connect(http, "auto", None) as client:
        await client.list_tools()
        note = await new_note(client, "modern no elicitation")
        result = await client.call_tool("delete_note", {"id": note})
        not_confirmed(result, "unsupported", "2026-07-28 without elicitation")
        await still_there(client, note, "2026-07-28 without elicitation")
        ok(f"2026-07-28: a client without elicitation -> not_confirmed/unsupported, note {note} kept")


async def main() -> int:
    try:
        with anyio.fail_after(SCENARIO_TIMEOUT_SECONDS):
            async with httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {ADMIN}"},
                timeout=httpx2.Timeout(TIMEOUT_SECONDS),
            ) as http:
                await legacy_sessions(http)
                await modern_requests(http)
    except CheckFailed as failed:
        print(f"{CLIENT}: FAILED: {failed}", flush=True)
        return 1
    print(f"{CLIENT}: all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))

#!/usr/bin/env python3
"""End-to-end test: subscriptions to `notes://{id}`, authorized per resource, with the
official MCP Python SDK over streamable HTTP.

On 2025-11-25 sessions (`mode="legacy"`: the `initialize` handshake, `resources/subscribe`)
a reader (notes:read) subscribes to an existing note; an outsider (no notes scope) is
refused exactly as a subscription to a URI no resource matches. An administrator deletes
the note (confirming through elicitation): the reader receives
`notifications/resources/updated` for it, the outsider nothing.

On 2026-07-28 (the SDK's default mode) the same with `subscriptions/listen`
(`Client.listen(resource_subscriptions=[...])`): the acknowledgment is the same for the
outsider as for the reader (it does not tell who may read), and only the reader's stream
carries the update.

The outsider subscribes first, so that an update wrongly sent to it would be sent before
the reader's; once the reader has its update, the outsider is given a short grace for
anything to arrive (the one wait that is not for an event: an absence has no event).

tests/http_clients.rs starts the server and mints the tokens (NOTES_MCP_URL,
NOTES_TOKEN_READER, NOTES_TOKEN_OUTSIDER, NOTES_TOKEN_ADMIN). Prints one line per check
(`python-subscribe: ok: ...`); exit status 0 when every check passed.
"""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import AsyncExitStack
from typing import Any

try:
    import anyio
    import httpx2
    from mcp import Client, MCPDeprecationWarning, MCPError
    from mcp.client.streamable_http import streamable_http_client
    from mcp.client.subscriptions import ResourceUpdated
    from mcp.types import ElicitResult, ResourceUpdatedNotification

    from checks import CheckFailed, expect, reporter
except ImportError as import_error:  # pragma: no cover - environment problem
    sys.exit(f"python-subscribe: error: cannot import the MCP Python SDK 2.x ({import_error})")

CLIENT = "python-subscribe"
TIMEOUT_SECONDS = 30.0
SCENARIO_TIMEOUT_SECONDS = 120.0
# How long the outsider is given for an update it must not get, once the reader has its.
GRACE_SECONDS = 1.0
UNMATCHED = "nothing://1"

# `subscribe_resource` is deprecated for 2026-07-28 connections; these are 2025-11-25 ones.
warnings.simplefilter("ignore", MCPDeprecationWarning)


ok, env = reporter(CLIENT)


URL = env("NOTES_MCP_URL")
TOKENS = {
    "reader": env("NOTES_TOKEN_READER"),
    "outsider": env("NOTES_TOKEN_OUTSIDER"),
    "admin": env("NOTES_TOKEN_ADMIN"),
}


async def accept(context: Any, params: Any) -> ElicitResult:
    """The administrator's answer to `delete_note`'s question: yes, box ticked."""
    return ElicitResult(action="accept", content={"confirm": True})


class Updates:
    """A message handler that keeps the URIs of `notifications/resources/updated`."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self._arrived = anyio.Event()

    async def __call__(self, message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            self.uris.append(str(message.params.uri))
            self._arrived.set()

    async def first(self) -> str:
        try:
            with anyio.fail_after(TIMEOUT_SECONDS):
                await self._arrived.wait()
        except TimeoutError:
            raise CheckFailed(f"no notifications/resources/updated within {TIMEOUT_SECONDS} s") from None
        return self.uris[0]

    async def none_within(self, seconds: float) -> None:
        """Waits `seconds` for an update that must not come (an absence: see the module's
        docstring); returns at once if one does."""
        with anyio.move_on_after(seconds):
            await self._arrived.wait()


async def connect(stack: AsyncExitStack, who: str, mode: str, updates: Updates | None = None) -> Client:
    http = await stack.enter_async_context(
        httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {TOKENS[who]}"},
            timeout=httpx2.Timeout(TIMEOUT_SECONDS),
        )
    )
    client = Client(
        streamable_http_client(URL, http_client=http),
        read_timeout_seconds=TIMEOUT_SECONDS,
        mode=mode,
        elicitation_callback=accept if who == "admin" else None,
        message_handler=updates,
    )
    return await stack.enter_async_context(client)


async def new_note(admin: Client, title: str) -> int:
    created = await admin.call_tool("create_note", {"title": title, "body": "watched"})
    expect(not created.is_error, f"create_note failed: {created}")
    return created.structured_content["id"]


async def delete(admin: Client, note: int) -> None:
    deleted = await admin.call_tool("delete_note", {"id": note})
    expect(not deleted.is_error, f"delete_note {note}: {deleted}")


async def refusal(client: Client, uri: str) -> tuple[int, str, Any]:
    try:
        await client.subscribe_resource(uri)
    except MCPError as error:
        return (error.code, error.message, error.data)
    raise CheckFailed(f"resources/subscribe {uri} was accepted")


async def legacy_sessions() -> None:
    async with AsyncExitStack() as stack:
        admin = await connect(stack, "admin", "legacy")
        outsider_updates, reader_updates = Updates(), Updates()
        outsider = await connect(stack, "outsider", "legacy", outsider_updates)
        reader = await connect(stack, "reader", "legacy", reader_updates)
        expect(reader.protocol_version == "2025-11-25", f"reader: protocol {reader.protocol_version}")
        capabilities = reader.server_capabilities
        expect(
            capabilities and capabilities.resources and capabilities.resources.subscribe,
            f"the server does not advertise resources.subscribe: {capabilities}",
        )
        note = await new_note(admin, "legacy watched")
        uri = f"notes://{note}"

        denied = await refusal(outsider, uri)
        unmatched = await refusal(outsider, UNMATCHED)
        reader_unmatched = await refusal(reader, UNMATCHED)
        expect(denied == unmatched == reader_unmatched, f"{denied} / {unmatched} / {reader_unmatched}")
        ok(f"2025-11-25: outsider subscribe {uri} -> {denied[:2]}, the same as {UNMATCHED} (outsider's and reader's)")

        await reader.subscribe_resource(uri)
        ok(f"2025-11-25: reader subscribe {uri} -> accepted")

        await delete(admin, note)
        told = await reader_updates.first()
        expect(told == uri, f"the reader was told of {told}, expected {uri}")
        ok(f"2025-11-25: admin deleted note {note} -> the reader got notifications/resources/updated {told}")

        await outsider_updates.none_within(GRACE_SECONDS)
        expect(not outsider_updates.uris, f"the outsider was told: {outsider_updates.uris}")
        expect(reader_updates.uris == [uri], f"the reader was told: {reader_updates.uris}")
        ok("2025-11-25: the outsider got no update; the reader exactly one")


async def next_event(subscription: Any) -> Any:
    try:
        with anyio.fail_after(TIMEOUT_SECONDS):
            return await subscription.__anext__()
    except TimeoutError:
        raise CheckFailed(f"no event on the listen stream within {TIMEOUT_SECONDS} s") from None


async def modern_requests() -> None:
    async with AsyncExitStack() as stack:
        admin = await connect(stack, "admin", "auto")
        outsider = await connect(stack, "outsider", "auto")
        reader = await connect(stack, "reader", "auto")
        expect(reader.protocol_version == "2026-07-28", f"reader: protocol {reader.protocol_version}")
        note = await new_note(admin, "listened")
        uri = f"notes://{note}"

        outsider_stream = await stack.enter_async_context(outsider.listen(resource_subscriptions=[uri]))
        reader_stream = await stack.enter_async_context(reader.listen(resource_subscriptions=[uri]))
        honored = reader_stream.honored.resource_subscriptions
        expect(honored == [uri], f"reader: honored {honored}")
        expect(
            outsider_stream.honored == reader_stream.honored,
            f"the acknowledgment depends on the caller: {outsider_stream.honored} vs {reader_stream.honored}",
        )
        ok(f"2026-07-28: subscriptions/listen {uri} acknowledged with {honored}, the same for the outsider")

        await delete(admin, note)
        event = await next_event(reader_stream)
        expect(event == ResourceUpdated(uri=uri), f"the reader's stream carried {event}")
        ok(f"2026-07-28: admin deleted note {note} -> the reader's listen stream carried {event}")

        got = None
        with anyio.move_on_after(GRACE_SECONDS):  # an absence: see the module's docstring
            got = await outsider_stream.__anext__()
        expect(got is None, f"the outsider's stream carried {got}")
        ok("2026-07-28: the outsider's listen stream carried nothing")


async def main() -> int:
    try:
        with anyio.fail_after(SCENARIO_TIMEOUT_SECONDS):
            await legacy_sessions()
            await modern_requests()
    except CheckFailed as failed:
        print(f"{CLIENT}: FAILED: {failed}", flush=True)
        return 1
    print(f"{CLIENT}: all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))

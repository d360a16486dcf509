#!/usr/bin/env python3
"""End-to-end test of the MCP surface beyond tools, with the official MCP Python SDK.

The example `notes-server` (NOTES_SERVER_BIN) is started over stdio three times, as a
writer, as a reader and as a caller without `notes:read`. As hosts do, each client lists
first, then reads:

- the writer creates a note, finds the `notes://{id}` template in
  `resources/templates/list`, reads the note as Markdown, and follows the resource link
  that `link_note` returns;
- the reader reads it too, and reading a note that does not exist, or `notes://` with an
  id that is not a number, gets "resource not found";
- the caller without `notes:read` is listed no template, and its reads of the existing
  note, of a missing one and of a malformed URI get exactly the reader's answer for a
  missing note: the same code and message, neither repeating the URI;
- prompts and completions likewise: the writer gets `summarise_notes` (which names the
  note's title) and completes note ids; an argument past its limit is refused naming
  the argument, not echoing it; the caller without `notes:read` is listed no prompt, its
  get is a missing prompt's answer, and its completion is the empty answer of a template
  that does not exist.

Usage:
    NOTES_SERVER_BIN=target/debug/notes-server python tests/e2e/test_surface.py

Exit status 0 when every check passed, 1 otherwise. tests/python_client.rs runs it.
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
    from mcp_types import PromptReference, ResourceTemplateReference
except ImportError as import_error:  # pragma: no cover - environment problem
    sys.exit(f"error: cannot import the MCP Python SDK 2.x ({import_error})")

MARK = "MARK-8w2k"
TIMEOUT_SECONDS = 60.0


class CheckFailed(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise CheckFailed(what)
    print(f"ok: {what}", flush=True)


async def read_error(client: Client, uri: str) -> tuple[int, str]:
    """The JSON-RPC error a read of `uri` gets (a success fails the check)."""
    try:
        await client.read_resource(uri)
    except MCPError as error:
        return (error.code, error.message)
    raise CheckFailed(f"reading {uri}: expected a JSON-RPC error")


class State:
    note_id: int = 0
    missing_answer: tuple[int, str] = (0, "")


async def writer(client: Client, state: State) -> None:
    created = await client.call_tool("create_note", {"title": f"{MARK} groceries", "body": "milk"})
    check(created.is_error is not True, "the writer creates a note")
    state.note_id = created.structured_content["id"]

    templates = await client.list_resource_templates()
    uris = [t.uri_template for t in templates.resource_templates]
    check(uris == ["notes://{id}"], f"the writer is listed the note template ({uris})")
    check(templates.resource_templates[0].mime_type == "text/markdown", "the template's MIME type is listed")

    read = await client.read_resource(f"notes://{state.note_id}")
    contents = read.contents[0]
    check(contents.uri == f"notes://{state.note_id}", "the contents name the URI read")
    check(contents.mime_type == "text/markdown", "the note is read as Markdown")
    check(contents.text == f"# {MARK} groceries\n\nmilk", f"the note's text ({contents.text!r})")

    linked = await client.call_tool("link_note", {"id": state.note_id})
    check(linked.is_error is not True, "link_note answers")
    links = [block for block in linked.content if block.type == "resource_link"]
    check(len(links) == 1, f"link_note returns one resource link ({[b.type for b in linked.content]})")
    check(links[0].uri == f"notes://{state.note_id}", "the link points at the note")
    followed = await client.read_resource(links[0].uri)
    check(followed.contents[0].text == contents.text, "the link is followed by reading it")

    prompts = await client.list_prompts()
    listed = {prompt.name: prompt for prompt in prompts.prompts}
    check("summarise_notes" in listed, f"the writer is listed the prompt ({sorted(listed)})")
    arguments = [argument.name for argument in listed["summarise_notes"].arguments or []]
    check(arguments == ["purpose"], f"the prompt's arguments are listed ({arguments})")
    got = await client.get_prompt("summarise_notes", {"purpose": "a weekly review"})
    text = got.messages[0].content.text
    check(f"{MARK} groceries" in text and "a weekly review" in text, f"the prompt names the note ({text!r})")
    try:
        await client.get_prompt("summarise_notes", {"purpose": MARK + "p" * 100})
        raise CheckFailed("an over-long purpose: expected a JSON-RPC error")
    except MCPError as error:
        check("`purpose`" in error.message and MARK not in error.message, f"an over-long argument is named, not echoed ({error.message!r})")

    typed = str(state.note_id)[0]
    completed = await client.complete(ResourceTemplateReference(uri="notes://{id}"), {"name": "id", "value": typed})
    check(str(state.note_id) in completed.completion.values, f"note ids are completed ({completed.completion.values})")


async def reader(client: Client, state: State) -> None:
    read = await client.read_resource(f"notes://{state.note_id}")
    check(read.contents[0].text.startswith(f"# {MARK}"), "a reader reads the note")
    missing = await read_error(client, "notes://987654321")
    malformed = await read_error(client, f"notes://{MARK}")
    check(missing == malformed, f"a malformed URI is answered as a missing note ({missing}, {malformed})")
    check("Resource not found" in missing[1], f"the answer says the resource is not found ({missing})")
    state.missing_answer = missing


async def outsider(client: Client, state: State) -> None:
    templates = await client.list_resource_templates()
    check(templates.resource_templates == [], "a caller without notes:read is listed no template")
    answers = {
        "the existing note": await read_error(client, f"notes://{state.note_id}"),
        "a missing note": await read_error(client, "notes://987654321"),
        "a malformed URI": await read_error(client, f"notes://{MARK}"),
    }
    for what, answer in answers.items():
        check(answer == state.missing_answer, f"{what}: the reader's answer for a missing note ({answer})")
        check(MARK not in answer[1] and "notes://" not in answer[1], f"{what}: the URI is not repeated")

    prompts = await client.list_prompts()
    check(prompts.prompts == [], "a caller without notes:read is listed no prompt")
    got: list[tuple[int, str]] = []
    for name in ("summarise_notes", "no_such_prompt"):
        try:
            await client.get_prompt(name, {})
            raise CheckFailed(f"{name}: expected a JSON-RPC error")
        except MCPError as error:
            got.append((error.code, error.message))
    check(got[0] == got[1], f"a denied prompt is answered as a missing one ({got})")
    typed = str(state.note_id)[0]
    denied = await client.complete(ResourceTemplateReference(uri="notes://{id}"), {"name": "id", "value": typed})
    missing = await client.complete(ResourceTemplateReference(uri="nothing://{id}"), {"name": "id", "value": typed})
    check(
        denied.completion.model_dump() == missing.completion.model_dump() and denied.completion.values == [],
        f"a denied completion is the empty answer of a missing one ({denied.completion}, {missing.completion})",
    )


def failures(error: BaseException) -> list[CheckFailed]:
    """The failed checks inside `error`, however deep in exception groups."""
    if isinstance(error, CheckFailed):
        return [error]
    nested = getattr(error, "exceptions", None)
    if isinstance(nested, (list, tuple)):
        return [leaf for inner in nested for leaf in failures(inner)]
    return []


async def session(server: str, workdir: str, scopes: str, scenario: Any, state: State) -> None:
    """Runs `scenario` against a fresh server on one database, as a caller with `scopes`."""
    env = dict(os.environ)
    env.update({"NOTES_SCOPES": scopes, "NOTES_ROLES": "", "NOTES_LOG": "warn"})
    params = StdioServerParameters(
        command=server,
        args=["--db", str(Path(workdir) / "notes.db"), "--archive", str(Path(workdir) / "archive.db")],
        env=env,
        cwd=workdir,
    )
    with open(Path(workdir) / "server.log", "a", encoding="utf-8") as errlog:
        with anyio.fail_after(TIMEOUT_SECONDS):
            async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=30.0) as client:
                await scenario(client, state)


async def main() -> int:
    server = os.environ.get("NOTES_SERVER_BIN")
    if not server:
        print("NOTES_SERVER_BIN is not set", file=sys.stderr)
        return 1
    state = State()
    with tempfile.TemporaryDirectory() as workdir:
        try:
            await session(server, workdir, "notes:read,notes:write", writer, state)
            await session(server, workdir, "notes:read", reader, state)
            await session(server, workdir, "", outsider, state)
        except BaseException as error:  # noqa: BLE001 - report the failed check inside groups
            found = failures(error)
            if not found:
                raise
            for failure in found:
                print(f"FAILED: {failure}", file=sys.stderr)
            return 1
    print("surface: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))

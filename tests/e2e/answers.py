"""Every kind of answer of answers-server through the official MCP Python SDK (2.x), the
way hosts use it: `tools/list` first, then each call of answers.json, over stdio with both
handshakes (the default, which negotiates 2026-07-28 through `server/discover`, and
`mode="legacy"`, the `initialize` handshake) and over streamable HTTP.

    python answers.py stdio BINARY
    python answers.py http URL

Each answer is checked as answers.json says, and as a client validating structured
content against the output schema (the TypeScript SDK) would see it. One line per
answer; exit 1 at the first failed check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from tool_results import error_facts, rejection_by_validating_clients

HERE = Path(__file__).resolve().parent
EXPECTED = json.loads((HERE / "answers.json").read_text(encoding="utf-8"))
REQUEST_TIMEOUT_SECONDS = 30.0
RUN_TIMEOUT_SECONDS = 120.0


class CheckFailed(Exception):
    pass


def expect(condition: Any, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", None) == "text")


def check(answer: dict[str, Any], result: Any, output_schema: dict[str, Any] | None) -> str:
    what = f"{answer['tool']} ({answer['kind']})"
    wire = result.model_dump_json(by_alias=True, exclude_none=True)
    for secret in EXPECTED["never"]:
        expect(secret not in wire, f"{what}: the answer holds {secret!r}: {wire}")
    rejected = rejection_by_validating_clients(result, output_schema)
    expect(rejected is None, f"{what}: a client validating results would reject it: {rejected}: {wire}")
    shown = text_of(result)
    expect(answer["text"] in shown, f"{what}: the text does not say {answer['text']!r}: {shown!r}")
    if "category" not in answer:
        expect(not result.is_error, f"{what}: expected a success, got {wire}")
        for field, value in answer["structured"].items():
            expect((result.structured_content or {}).get(field) == value, f"{what}: structuredContent.{field} in {wire}")
        return f"{what} -> success, structuredContent {json.dumps(result.structured_content)}"
    expect(result.is_error is True, f"{what}: expected isError, got {wire}")
    expect(result.structured_content is None, f"{what}: an error with structuredContent: {wire}")
    facts = error_facts(result)
    expect(facts.get("category") == answer["category"], f"{what}: _meta category, expected {answer['category']}: {wire}")
    incident = facts.get("incident_id")
    expect(isinstance(incident, str) and f"incident {incident}" in shown, f"{what}: the text does not name the incident: {shown!r}")
    expect(type(facts.get("retryable")) is bool and type(facts.get("caller_fault")) is bool, f"{what}: retryable, caller_fault in {wire}")
    if answer.get("degraded"):
        expect(facts.get("degraded") is True and "succeed" in (facts.get("available_tools") or []), f"{what}: degraded facts in {wire}")
        expect((facts.get("retry_after_secs") or 0) >= 1, f"{what}: retry_after_secs in {wire}")
    return f"{what} -> isError, category {facts['category']}, text {shown[:90]!r}"


async def session(name: str, client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    wanted = sorted(answer["tool"] for answer in EXPECTED["answers"])
    expect(sorted(tools) == wanted, f"[{name}] tools/list: {sorted(tools)}, expected {wanted}")
    expect(all(tool.output_schema for tool in tools.values()), f"[{name}] every tool has an output schema")
    print(f"python/{name}: ok: tools/list -> {len(tools)} tools, each with an output schema", flush=True)
    for answer in EXPECTED["answers"]:
        result = await client.call_tool(answer["tool"], answer["arguments"])
        print(f"python/{name}: ok: {check(answer, result, tools[answer['tool']].output_schema)}", flush=True)


async def run(mode: str, target: str) -> None:
    with anyio.fail_after(RUN_TIMEOUT_SECONDS):
        if mode == "stdio":
            for handshake, options in [("stdio", {}), ("stdio-legacy", {"mode": "legacy"})]:
                params = StdioServerParameters(command=target, args=[])
                with open("/dev/null", "w", encoding="utf-8") as errlog:
                    async with Client(
                        stdio_client(params, errlog=errlog),
                        read_timeout_seconds=REQUEST_TIMEOUT_SECONDS,
                        **options,
                    ) as client:
                        await session(f"{handshake} {client.protocol_version}", client)
        elif mode == "http":
            async with Client(streamable_http_client(target), read_timeout_seconds=REQUEST_TIMEOUT_SECONDS) as client:
                await session(f"http {client.protocol_version}", client)
        else:
            raise CheckFailed(f"usage: answers.py stdio BINARY | http URL (got {mode!r})")


def main() -> int:
    mode, target = sys.argv[1], sys.argv[2]
    try:
        anyio.run(run, mode, target)
    except CheckFailed as failure:
        print(f"python/{mode}: FAILED: {failure}", flush=True)
        return 1
    print(f"python/{mode}: all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

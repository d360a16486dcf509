"""Leak canaries, end to end with the official MCP Python SDK over stdio.

The canary server (tests/bin/canary_server.rs) plants unique strings in every kind of
failure: a file path, an SQL statement, a secret read from its environment, a panic
message and a backtrace, in handler errors, panics, policy errors and argument-parsing
failures. This script calls every one of its tools, reads every resource, gets every
prompt and asks for every completion, in both handshakes (the default `Client(...)`,
which negotiates 2026-07-28 when it can, and `mode="legacy"`), records
every byte the server wrote to stdout (stdout_tee.py sits between the SDK and the server,
so the record is a superset of what the client received), and checks:

  * every call is answered with the error result of its category (internal, invalid
    input, denied), with an incident id; a prompt whose handler fails and a completer that
    fails, with a JSON-RPC internal error and an incident id; a prompt argument that does
    not parse, with "Invalid arguments";
  * not one canary is in any byte the client received (results, errors, notifications);
  * every canary is in the server's log (stderr): the operator still gets the truth.

Usage: CANARY_SERVER_BIN=target/debug/canary-server python test_canaries_stdio.py
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, MCPError, StdioServerParameters, stdio_client
from mcp_types import PromptReference, ResourceTemplateReference
from tool_results import error_facts

HERE = Path(__file__).resolve().parent
TEE_SCRIPT = HERE / "stdout_tee.py"
TIMEOUT_SECONDS = 60

# tool -> the category its failure must be answered with.
EXPECTED = {
    "read_vault": "internal",
    "read_vault_wrapped": "internal",
    "check_invariant": "internal",
    "look_up": "invalid_input",
    "audited_read": "denied",
    "audited_write": "denied",
}


# Each resource of the canary server, and the message its read must get (None: any
# sanitized error).
RESOURCES: dict[str, str | None] = {
    "vault://secret": None,
    "vault://invariant": None,
    "vault://lookup/k": "Resource not found",
    "vault://audited": "Resource not found",
}

# JSON-RPC error codes.
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

# Each prompt of the canary server: its arguments, and the error its get must get: the
# JSON-RPC code, and "internal" for a sanitized internal error with an incident id, or the
# start of the message.
PROMPTS: dict[str, tuple[dict[str, str], int, str]] = {
    "vault_briefing": ({}, INTERNAL_ERROR, "internal"),
    "vault_lookup": ({"key": "k"}, INVALID_PARAMS, "Invalid arguments"),
}

# Each completion of the canary server (its completer fails): a sanitized internal error.
COMPLETIONS: dict[str, PromptReference | ResourceTemplateReference] = {
    "prompt vault_lookup's key": PromptReference(name="vault_lookup"),
    "vault://lookup/{key}'s key": ResourceTemplateReference(uri="vault://lookup/{key}"),
}


def canaries(token: str, secret: str) -> dict[str, str]:
    """The strings the server builds from its token and secret (see canary_server.rs)."""
    return {
        "file path": f"/var/lib/canary-{token}/store.db",
        "SQL statement": f"SELECT secret_{token} FROM canary_vault",
        "secret from the environment": secret,
        "panic message": f"invariant canary-panic-{token} broken",
        "policy error": f"policy service canary-policy-{token} failed",
        "argument parser's message": f"lookup of canary-parse-{token} failed",
        "backtrace": "capture_backtrace_for_the_log",
        "prompt handler's error": f"briefing canary-prompt-{token} failed",
        "prompt argument parser's message": f"prompt argument canary-prompt-parse-{token} failed",
        "completer's error": f"completion canary-complete-{token} failed",
    }


def internal_error(error: MCPError) -> str | None:
    """Why `error` is not a sanitized internal error with an incident id (None if it is)."""
    data = error.error.data if isinstance(error.error.data, dict) else {}
    if error.error.code != INTERNAL_ERROR or data.get("category") != "internal":
        return f"expected an internal error, got {error.error.code} {error.error.message!r} {error.error.data!r}"
    if not data.get("incident_id"):
        return "no incident id"
    return None


async def call_every_tool(client: Client, mode: str) -> list[str]:
    """Lists the tools, calls each (every one fails, with the error result of its category
    and an incident id), then an unknown one (a JSON-RPC error); the checks that failed."""
    failures: list[str] = []
    tools = {tool.name for tool in (await client.list_tools()).tools}
    if tools != set(EXPECTED):
        failures.append(f"[{mode}] tools/list: {sorted(tools)}")
    for tool, category in EXPECTED.items():
        arguments = {"key": "k"} if tool == "look_up" else {}
        result = await client.call_tool(tool, arguments)
        error = error_facts(result)
        if not result.is_error or error.get("category") != category:
            failures.append(f"[{mode}] {tool}: expected a {category} error, got {result}")
        elif not error.get("incident_id"):
            failures.append(f"[{mode}] {tool}: no incident id")
        else:
            print(f"[{mode}] {tool}: {category} error result, incident {error['incident_id']}")
    # Every resource fails too: a JSON-RPC error, "Resource not found" where the read was
    # denied or its variable did not parse.
    for uri, expected in RESOURCES.items():
        try:
            read = await client.read_resource(uri)
            failures.append(f"[{mode}] {uri}: expected a JSON-RPC error, got {read}")
        except MCPError as error:
            if expected and error.error.message != expected:
                failures.append(f"[{mode}] {uri}: expected {expected!r}, got {error.error.message!r}")
            else:
                print(f"[{mode}] {uri}: JSON-RPC error {error.error.code}")
    try:
        await client.call_tool("no_such_tool", {})
        failures.append(f"[{mode}] an unknown tool was answered")
    except MCPError as error:
        print(f"[{mode}] no_such_tool: JSON-RPC error {error.error.code}")
    # Every prompt fails too: its handler with an internal error, its argument's parser
    # with an invalid one.
    prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
    if prompts != set(PROMPTS):
        failures.append(f"[{mode}] prompts/list: {sorted(prompts)}")
    for name, (arguments, code, expected) in PROMPTS.items():
        try:
            got = await client.get_prompt(name, arguments)
            failures.append(f"[{mode}] prompt {name}: expected a JSON-RPC error, got {got}")
        except MCPError as error:
            wrong = (
                internal_error(error)
                if expected == "internal"
                else None
                if error.error.code == code and error.error.message.startswith(expected)
                else f"expected {code} {expected!r}..., got {error.error.code} {error.error.message!r}"
            )
            if wrong:
                failures.append(f"[{mode}] prompt {name}: {wrong}")
            else:
                print(f"[{mode}] prompt {name}: JSON-RPC error {error.error.code}")
    # Every completer fails: an internal error.
    for what, ref in COMPLETIONS.items():
        try:
            completed = await client.complete(ref, {"name": "key", "value": "k"})
            failures.append(f"[{mode}] completion of {what}: expected a JSON-RPC error, got {completed}")
        except MCPError as error:
            if wrong := internal_error(error):
                failures.append(f"[{mode}] completion of {what}: {wrong}")
            else:
                print(f"[{mode}] completion of {what}: JSON-RPC error {error.error.code}")
    return failures


async def session(server_bin: str, mode: str, workdir: Path, env: dict[str, str]) -> list[str]:
    failures: list[str] = []
    raw_log = workdir / f"stdout-{mode}.raw"
    status = workdir / f"status-{mode}"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-I", str(TEE_SCRIPT), str(raw_log), str(status), "--", server_bin],
        env=env,
        cwd=str(workdir),
    )
    options: dict[str, Any] = {} if mode == "default" else {"mode": "legacy"}
    with open(workdir / f"stderr-{mode}.log", "w", encoding="utf-8") as errlog:
        with anyio.fail_after(TIMEOUT_SECONDS):
            async with Client(stdio_client(params, errlog=errlog), log_level="debug", **options) as client:
                failures += await call_every_tool(client, mode)
    return failures


def finish(failures: list[str], workdir: Path) -> int:
    """Prints the failed checks; removes `workdir` if there are none, or keeps it for
    inspection. The exit status."""
    for failure in failures:
        print(f"FAIL {failure}")
    if failures:
        print(f"kept {workdir} for inspection")
        return 1
    shutil.rmtree(workdir)
    return 0


def main() -> int:
    server_bin = os.environ.get("CANARY_SERVER_BIN", "")
    if not server_bin or not os.access(server_bin, os.X_OK):
        print("error: set CANARY_SERVER_BIN to the canary-server binary", file=sys.stderr)
        return 2
    token = secrets.token_hex(8)
    secret = f"sk-live-{secrets.token_hex(12)}"
    planted = canaries(token, secret)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CANARY_TOKEN": token,
        "CANARY_SECRET": secret,
        # The panic hook writes backtraces to the log too.
        "RUST_BACKTRACE": "1",
    }
    workdir = Path(tempfile.mkdtemp(prefix="canaries-e2e-"))
    failures: list[str] = []
    for mode in ("default", "legacy"):
        failures += anyio.run(session, server_bin, mode, workdir, env)

    received = b"".join(path.read_bytes() for path in sorted(workdir.glob("stdout-*.raw")))
    log = "".join(path.read_text(encoding="utf-8", errors="replace") for path in sorted(workdir.glob("stderr-*.log")))
    leaked = [name for name, value in planted.items() if value.encode() in received]
    leaked += ["the canary token itself"] if token.encode() in received else []
    logged = [name for name, value in planted.items() if value in log]
    missing = [name for name in planted if name not in logged]
    print(
        f"scanned {len(received)} bytes the client received (2 sessions): "
        f"{len(leaked)} of {len(planted)} canaries found"
    )
    print(f"server log: {len(logged)} of {len(planted)} canaries found ({', '.join(logged)})")
    if leaked:
        failures.append(f"canaries reached the client: {leaked}")
    if missing:
        failures.append(f"canaries missing from the server's log: {missing}")
    return finish(failures, workdir)


if __name__ == "__main__":
    sys.exit(main())

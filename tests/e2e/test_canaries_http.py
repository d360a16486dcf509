"""Leak canaries, end to end with the official MCP Python SDK over streamable HTTP.

The canary server (tests/bin/canary_server.rs) plants unique strings in every kind of
failure, as over stdio (test_canaries_stdio.py): a file path, an SQL statement, a secret
read from its environment, a panic message and a backtrace, in handler errors, panics,
policy errors and argument-parsing failures, of tools, resources, prompts and completions.
Started with `--http 127.0.0.1:0`, it serves the same tools, resources and prompts behind
an OAuth bearer check whose configuration holds canaries too: the path of its JWK set (it
holds this run's token) and the HS256 signing secret in it.

This script writes that JWK set, starts the server, and puts a byte-recording TCP proxy
(http_recording.py) between the SDK and the server, so that the record is a superset of
what the client received, raw: status lines, headers, chunk framing and bodies. It mints
its own HS256 JWTs with the standard library, and checks:

  * a connection with no token, a malformed token, a token signed with the wrong key or an
    expired token gets only 401s with a Bearer challenge (in both handshakes);
  * with a valid token, every tool is called in both handshakes (the default `Client(...)`,
    which negotiates 2026-07-28 when it can, and `mode="legacy"`) and answered with the
    error result of its category (internal, invalid input, denied), with an incident id;
    an unknown tool is answered with a JSON-RPC error; every resource is read, every
    prompt got and every completion asked for, each answered with its sanitized JSON-RPC
    error (as over stdio: `call_every_tool` of test_canaries_stdio.py);
  * not one canary is in any byte the client received: neither in the raw record, nor in
    the same responses de-chunked, decoded and JSON-unescaped, nor in what the SDK's HTTP
    transport itself read (recorded by an httpx2 transport), the 401s and the protected
    resource metadata document included;
  * every canary of the failures, and the JWKS path, is in the server's log (stderr): the
    operator still gets the truth; the signing secret is in neither.

Usage: CANARY_SERVER_BIN=target/debug/canary-server python test_canaries_http.py
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
from http_recording import Received, RecordingProxy, RecordingTransport, parse_responses
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from test_canaries_stdio import EXPECTED, call_every_tool, canaries, finish

# The issuer the canary server expects (canary_server.rs), and the caller's claims.
ISSUER = "https://auth.canary.invalid"
SUBJECT = "canary-client"
SCOPE = "vault:read"
LISTENING = "canary-server: listening on "
TIMEOUT_SECONDS = 60
REQUEST_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10
MODES = ("default", "legacy")
# The connections that must be refused, with the token each presents (see `tokens`).
REJECTED = ("no token", "a malformed token", "a token signed with the wrong key", "an expired token")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hs256_jwt(key: bytes, claims: dict[str, Any]) -> str:
    """A compact JWS of `claims`, signed with HMAC-SHA256 (RFC 7515, RFC 7518 §3.2)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode("ascii"), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def claims(audience: str, expires_in: int) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": audience, "sub": SUBJECT, "scope": SCOPE, "iat": now, "exp": now + expires_in}


def tokens(key: bytes, audience: str) -> tuple[str, dict[str, str | None]]:
    """A valid token, and the token of each of the `REJECTED` connections."""
    invalid = {
        "no token": None,
        "a malformed token": "not-a.jwt",
        "a token signed with the wrong key": hs256_jwt(secrets.token_bytes(32), claims(audience, 600)),
        "an expired token": hs256_jwt(key, claims(audience, -3600)),
    }
    assert tuple(invalid) == REJECTED
    return hs256_jwt(key, claims(audience, 600)), invalid


class CanaryServer:
    """The canary server over HTTP, its stderr copied line by line to `log_path`."""

    def __init__(self, server_bin: str, env: dict[str, str], log_path: Path) -> None:
        self.server_bin = server_bin
        self.env = env
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.copying: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Starts the server; its URL, once it says it listens."""
        self.process = await asyncio.create_subprocess_exec(
            self.server_bin, "--http", "127.0.0.1:0",
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )
        listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.copying = asyncio.create_task(self._copy_log(listening))
        return await asyncio.wait_for(asyncio.shield(listening), TIMEOUT_SECONDS)

    async def _copy_log(self, listening: asyncio.Future[str]) -> None:
        assert self.process is not None and self.process.stderr is not None
        with open(self.log_path, "wb") as log:
            while line := await self.process.stderr.readline():
                log.write(line)
                log.flush()
                text = line.decode("utf-8", errors="replace").strip()
                if text.startswith(LISTENING) and not listening.done():
                    listening.set_result(text[len(LISTENING):])
        if not listening.done():
            listening.set_exception(RuntimeError(f"the server exited before listening (see {self.log_path})"))

    async def stop(self) -> None:
        """Stops the server, and waits until its whole log is copied (bounded)."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_SECONDS)
            except asyncio.TimeoutError:
                self.process.kill()
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_SECONDS)
        if self.copying is not None:
            await asyncio.wait_for(self.copying, STOP_TIMEOUT_SECONDS)


def http_client(token: str | None, responses: list[Received]) -> httpx2.AsyncClient:
    """An HTTP client for the SDK, sending `token` (or none), recording what it reads."""
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"} if token else None,
        transport=RecordingTransport(responses),
        timeout=httpx2.Timeout(REQUEST_TIMEOUT_SECONDS),
    )


def options(mode: str) -> dict[str, Any]:
    return {} if mode == "default" else {"mode": "legacy"}


async def rejected(url: str, what: str, token: str | None, mode: str, responses: list[Received]) -> list[str]:
    """A connection with `token` fails, and all the SDK's transport got were 401s with a
    Bearer challenge."""
    got: list[Received] = []
    connected = False
    try:
        with anyio.fail_after(TIMEOUT_SECONDS):
            async with http_client(token, got) as http:
                try:
                    async with Client(streamable_http_client(url, http_client=http), **options(mode)):
                        connected = True
                except Exception:  # noqa: BLE001 - the SDK's error for a 401 is generic; the statuses are checked below
                    pass
    except TimeoutError:
        return [f"[{mode}] {what}: no answer within {TIMEOUT_SECONDS}s"]
    responses += got
    statuses = [response.status for response in got]
    challenges = [value for response in got for value in response.header("www-authenticate")]
    if connected:
        return [f"[{mode}] {what}: the connection succeeded, expected HTTP 401"]
    if not statuses or any(status != 401 for status in statuses):
        return [f"[{mode}] {what}: the transport got {statuses}, expected 401s"]
    if len(challenges) != len(got) or not all(challenge.startswith("Bearer ") for challenge in challenges):
        return [f"[{mode}] {what}: expected a Bearer challenge on every 401, got {challenges}"]
    if token is not None and not all('error="invalid_token"' in challenge for challenge in challenges):
        return [f"[{mode}] {what}: expected error=\"invalid_token\", got {challenges}"]
    print(f"[{mode}] {what}: 401 with a Bearer challenge")
    return []


async def metadata_document(proxy_url: str, challenge_url: str, responses: list[Received]) -> list[str]:
    """Fetches the protected resource metadata document the challenges name, through the proxy."""
    path = urlsplit(challenge_url).path
    with anyio.fail_after(TIMEOUT_SECONDS):
        async with http_client(None, responses) as http:
            response = await http.get(f"{proxy_url}{path}")
    if response.status_code != 200 or "authorization_servers" not in response.json():
        return [f"metadata document at {path}: {response.status_code} {response.text!r}"]
    print(f"metadata document at {path}: 200")
    return []


async def session(url: str, token: str, mode: str, responses: list[Received]) -> list[str]:
    """Every tool, then an unknown one, every resource, prompt and completion, with a
    valid token."""
    failures: list[str] = []
    with anyio.fail_after(TIMEOUT_SECONDS):
        async with http_client(token, responses) as http:
            async with Client(streamable_http_client(url, http_client=http), log_level="debug", **options(mode)) as client:
                failures += await call_every_tool(client, mode)
    return failures


def refusal_requests(marker: str) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """Requests the transport refuses before the server sees them, each with `marker` where
    rmcp's refusal would quote it: headers that contradict the body (a tool's name, a
    resource's URI, the method), an unknown protocol version in the header, and one in the
    request's own `_meta`."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "canaries", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }

    def body(method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}

    modern = {"mcp-protocol-version": "2026-07-28"}
    return [
        ("a tool's name that differs from Mcp-Name", {**modern, "mcp-method": "tools/call", "mcp-name": f"header-{marker}"},
         body("tools/call", {"name": f"body-{marker}", "arguments": {}})),
        ("a resource URI that differs from Mcp-Name", {**modern, "mcp-method": "resources/read", "mcp-name": f"vault://header-{marker}"},
         body("resources/read", {"uri": f"vault://body-{marker}"})),
        ("a method that differs from Mcp-Method", {**modern, "mcp-method": f"method-{marker}"}, body("tools/list", {})),
        ("an unknown MCP-Protocol-Version", {"mcp-protocol-version": f"version-{marker}"},
         {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        ("a _meta protocolVersion that differs from the header", {**modern, "mcp-method": "tools/list"},
         {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {**meta, "io.modelcontextprotocol/protocolVersion": f"version-{marker}"}}}),
    ]


async def refusals(url: str, token: str, marker: str, responses: list[Received]) -> list[str]:
    """Sends each of `refusal_requests` with a valid token: each must be refused (4xx); the
    scan of every response then finds `marker` nowhere."""
    failures: list[str] = []
    with anyio.fail_after(TIMEOUT_SECONDS):
        async with http_client(token, responses) as http:
            for what, headers, body in refusal_requests(marker):
                response = await http.post(
                    url,
                    headers={"accept": "application/json, text/event-stream", "content-type": "application/json", **headers},
                    content=json.dumps(body),
                )
                if not 400 <= response.status_code < 500:
                    failures.append(f"{what}: expected a refusal (4xx), got {response.status_code} {response.text!r}")
                elif "incident" not in response.text:
                    failures.append(f"{what}: the refusal names no incident: {response.text!r}")
                else:
                    print(f"{what}: {response.status_code}, with an incident id")
    return failures


def json_unescaped(response: Received) -> bytes:
    """The JSON in a decoded body (an SSE stream's `data:` lines, or a JSON body), serialized
    again without escapes, so that `\\u`-escaped text is scanned as the client reads it."""
    body = response.decoded()[len(response.head):].decode("utf-8", errors="replace")
    texts = [line[5:] for line in body.splitlines() if line.startswith("data:")] or [body]
    values = []
    for text in texts:
        try:
            values.append(json.dumps(json.loads(text), ensure_ascii=False))
        except ValueError:
            continue
    return "\n".join(values).encode()


def found(values: dict[str, str], haystacks: list[bytes]) -> list[str]:
    return [name for name, value in values.items() if any(value.encode() in haystack for haystack in haystacks)]


def where(value: str, responses: list[Received]) -> str:
    """Which responses hold `value` in their head, or in their decoded body: for the report."""
    places = []
    for response in responses:
        status = response.head.split(b"\r\n", 1)[0].decode("latin-1")
        if value.encode() in response.head:
            places.append(f"headers of {status!r}")
        elif value.encode() in response.decoded() or value.encode() in json_unescaped(response):
            places.append(f"body of {status!r}")
    return ", ".join(sorted(set(places))) or "only in the raw record (split by its framing?)"


async def scenario(server_bin: str, workdir: Path, env: dict[str, str], key: bytes) -> tuple[list[str], RecordingProxy, list[Received]]:
    """Starts the server and the proxy, runs every check through them, and stops both."""
    failures: list[str] = []
    responses: list[Received] = []
    server = CanaryServer(server_bin, env, workdir / "stderr.log")
    proxy: RecordingProxy | None = None
    try:
        url = await server.start()
        upstream = urlsplit(url)
        assert upstream.hostname is not None and upstream.port is not None
        proxy = RecordingProxy(upstream.hostname, upstream.port)
        proxy_origin = f"http://127.0.0.1:{await proxy.start()}"
        proxy_url = f"{proxy_origin}{upstream.path}"
        print(f"canary server at {url}, through the recording proxy at {proxy_url}")

        valid, invalid = tokens(key, url)
        for mode in MODES:
            for what, token in invalid.items():
                failures += await rejected(proxy_url, what, token, mode, responses)
        challenge = next((value for response in responses for value in response.header("www-authenticate")), "")
        if 'resource_metadata="' in challenge:
            failures += await metadata_document(proxy_origin, challenge.split('resource_metadata="')[1].split('"')[0], responses)
        else:
            failures.append(f"no resource_metadata in the challenge {challenge!r}")
        for mode in MODES:
            failures += await session(proxy_url, valid, mode, responses)
        # What a client sends is never quoted back: the refusals carry the canary token.
        failures += await refusals(proxy_url, valid, token_marker(env), responses)
        return failures, proxy, responses
    finally:
        if proxy is not None:
            await proxy.close()
        await server.stop()


def token_marker(env: dict[str, str]) -> str:
    """The canary token, as a client's text: found in any response, it is a leak."""
    return f"from-the-client-{env['CANARY_TOKEN']}"


def main() -> int:
    server_bin = os.environ.get("CANARY_SERVER_BIN", "")
    if not server_bin or not os.access(server_bin, os.X_OK):
        print("error: set CANARY_SERVER_BIN to the canary-server binary", file=sys.stderr)
        return 2
    token = secrets.token_hex(8)
    secret = f"sk-live-{secrets.token_hex(12)}"
    key = f"hs256-canary-{token}-{secrets.token_hex(16)}".encode()
    workdir = Path(tempfile.mkdtemp(prefix="canaries-http-e2e-"))
    jwks = workdir / f"keys-canary-{token}" / "jwks.json"
    jwks.parent.mkdir()
    jwks.write_text(json.dumps({"keys": [{"kty": "oct", "alg": "HS256", "use": "sig", "k": b64url(key)}]}))
    # What the log must hold, and what it must not: the signing secret, raw and as stored.
    planted = canaries(token, secret) | {"JWKS path": str(jwks)}
    signing = {"signing secret": key.decode(), "signing secret as in the JWKS": b64url(key)}
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CANARY_TOKEN": token,
        "CANARY_SECRET": secret,
        "CANARY_JWKS": str(jwks),
        # The panic hook writes backtraces to the log too.
        "RUST_BACKTRACE": "1",
    }
    failures, proxy, responses = asyncio.run(scenario(server_bin, workdir, env, key))

    raw = [bytes(record) for record in proxy.records]
    parsed = [response for record in raw for response in parse_responses(record)]
    decoded = [response.decoded() for response in parsed + responses]
    decoded += [json_unescaped(response) for response in parsed + responses]
    undecodable = [response.undecodable for response in parsed + responses if response.undecodable]
    everything = planted | signing
    leaked_raw = found(everything, raw) + (["the canary token itself"] if any(token.encode() in r for r in raw) else [])
    leaked_decoded = found(everything, decoded) + (["the canary token itself"] if any(token.encode() in d for d in decoded) else [])
    log = (workdir / "stderr.log").read_text(encoding="utf-8", errors="replace")
    logged = [name for name, value in planted.items() if value in log]
    missing = [name for name in planted if name not in logged]
    secret_logged = [name for name, value in signing.items() if value in log]
    print(
        f"scanned {sum(map(len, raw))} bytes the client received over HTTP ({len(parsed)} responses: "
        f"{len(MODES) * len(REJECTED)} refused connections, the metadata document, {len(MODES)} sessions; "
        f"headers and bodies): {len(leaked_raw)} of {len(everything)} canaries found"
    )
    print(
        f"scanned the same de-chunked, decoded and JSON-unescaped ({len(parsed)} responses parsed from the record, "
        f"{len(responses)} as the SDK's transport read them, {sum(map(len, decoded))} bytes): "
        f"{len(leaked_decoded)} of {len(everything)} canaries found"
    )
    print(
        f"server log: {len(logged)} of {len(planted)} canaries found ({', '.join(logged)}); "
        f"signing secret: {len(secret_logged)} of {len(signing)} forms found"
    )
    if len(parsed) < len(responses) or not responses:
        failures.append(f"the record holds {len(parsed)} responses, the client read {len(responses)}: not a superset")
    if undecodable:
        failures.append(f"responses the scan could not decode: {undecodable}")
    for name in sorted(set(leaked_raw + leaked_decoded)):
        value = token if name == "the canary token itself" else everything[name]
        failures.append(f"canary reached the client: {name}, in the {where(value, parsed)}")
    if missing:
        failures.append(f"canaries missing from the server's log: {missing}")
    if secret_logged:
        failures.append(f"the signing secret is in the server's log: {secret_logged}")
    return finish(failures, workdir)


if __name__ == "__main__":
    sys.exit(main())

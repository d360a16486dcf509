"""What the HTTP end-to-end scripts share: their checks, the lines they print, and the
environment tests/http_clients.rs gives them."""

from __future__ import annotations

import os
import sys
from typing import Any, Awaitable, Callable


class CheckFailed(Exception):
    pass


def expect(condition: Any, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def reporter(client: str) -> tuple[Callable[[str], None], Callable[[str], str]]:
    """`ok(message)`, which prints `<client>: ok: <message>`, and `env(name)`, which reads a
    variable tests/http_clients.rs sets, exiting with status 2 when it is not set."""

    def ok(message: str) -> None:
        print(f"{client}: ok: {message}", flush=True)

    def env(name: str) -> str:
        value = os.environ.get(name)
        if not value:
            print(f"{client}: error: {name} is not set (tests/http_clients.rs sets it)", file=sys.stderr)
            sys.exit(2)
        return value

    return ok, env


def run(client: str, scenario: Callable[[], Awaitable[None]], timeout_seconds: float) -> int:
    """Runs `scenario` within `timeout_seconds` and prints how it ended: `<client>: all checks
    passed` (exit status 0), or `<client>: FAILED: <why>` at the first failed check (1)."""
    import anyio

    async def main() -> int:
        try:
            with anyio.fail_after(timeout_seconds):
                await scenario()
        except CheckFailed as failure:
            print(f"{client}: FAILED: {failure}", flush=True)
            return 1
        print(f"{client}: all checks passed", flush=True)
        return 0

    return anyio.run(main)

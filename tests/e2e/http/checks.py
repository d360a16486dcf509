"""What the HTTP end-to-end scripts share: their checks, the lines they print, and the
environment tests/http_clients.rs gives them."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable


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

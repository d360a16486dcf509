"""One MCP Python SDK `Client` over its streamable HTTP transport, with a bearer token, and
every HTTP response the transport received: what the HTTP end-to-end scripts connect with."""

from __future__ import annotations

from typing import Any, Callable

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


class Session:
    """`async with Session(url, token) as client:` connects; `responses` holds what the
    transport received (also handed to `on_response`, if given)."""

    def __init__(
        self,
        url: str,
        token: str | None,
        timeout_seconds: float,
        origin: str | None = None,
        on_response: Callable[[httpx2.Response], None] | None = None,
    ) -> None:
        self.responses: list[httpx2.Response] = []
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if origin is not None:
            headers["Origin"] = origin

        async def record(response: httpx2.Response) -> None:
            self.responses.append(response)
            if on_response is not None:
                on_response(response)

        self.http = httpx2.AsyncClient(
            headers=headers,
            timeout=httpx2.Timeout(timeout_seconds),
            event_hooks={"response": [record]},
        )
        self.client = Client(
            streamable_http_client(url, http_client=self.http),
            read_timeout_seconds=timeout_seconds,
        )

    async def __aenter__(self) -> Client:
        await self.http.__aenter__()
        try:
            return await self.client.__aenter__()
        except BaseException:
            await self.http.__aexit__(None, None, None)
            raise

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.client.__aexit__(*exc)
        finally:
            await self.http.__aexit__(None, None, None)

"""The client side of a streamed answer: prepared lazily, with SSE keep-alives while the upstream is slow."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import TypeVar

from aiohttp import web

T = TypeVar("T")

OVERHEAD_MS: web.RequestKey[str] = web.RequestKey("overhead_ms", str)
PREPARED: web.RequestKey[web.StreamResponse] = web.RequestKey("prepared", web.StreamResponse)
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def passed_on(upstream: Mapping[str, str]) -> dict[str, str]:
    """The upstream answer's headers an OpenAI client uses: rate-limit state and the request id for support."""
    return {k: v for k, v in upstream.items() if k.lower().startswith("x-ratelimit-") or k.lower() == "x-request-id"}


class SSEDownstream:
    """The client side of a streamed answer, prepared lazily so errors before the first byte keep their status."""

    def __init__(self, request: web.BaseRequest, keepalive: float) -> None:
        self.request = request
        self.keepalive = keepalive
        self.response: web.StreamResponse | None = None
        self.extra_headers: dict[str, str] = {}  # set before start(): e.g. the upstream's passed_on() headers

    async def start(self) -> web.StreamResponse:
        if self.response is None:
            headers = dict(_SSE_HEADERS)
            headers["x-proxy-overhead-ms"] = self.request.get(OVERHEAD_MS, "0")
            headers.update(self.extra_headers)
            resp = web.StreamResponse(status=200, headers=headers)
            await resp.prepare(self.request)
            self.request[PREPARED] = self.response = resp
        return self.response

    async def write(self, data: bytes) -> None:
        out = await self.start()
        await out.write(data)

    async def keepalive_while(self, aw: Awaitable[T]) -> T:
        """Await `aw`, sending an SSE comment every `keepalive` seconds until it is done.

        A timer callback, not a task: the fast path (answer before the first tick) costs one timer.
        """
        loop = asyncio.get_running_loop()
        writes: list[asyncio.Task[None]] = []
        handle: asyncio.TimerHandle

        def tick() -> None:
            nonlocal handle
            writes.append(loop.create_task(self.write(b": keep-alive\n\n")))
            handle = loop.call_later(self.keepalive, tick)

        handle = loop.call_later(self.keepalive, tick)
        try:
            return await aw
        finally:
            handle.cancel()
            if writes:
                await asyncio.gather(*writes, return_exceptions=True)

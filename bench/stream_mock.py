"""A loopback SSE upstream for the stream benches: /fast (64 deltas 20 ms apart), /slow (8 deltas 400 ms apart).

Run as its own process so its CPU does not count against the proxy: `python bench/stream_mock.py PORT`.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys

from aiohttp import web

PROFILES = {"fast": (64, 0.020), "slow": (8, 0.400)}


def make_handler(deltas: int, gap: float):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        base = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": body.get("model", "m"),
        }
        for i in range(deltas):
            await asyncio.sleep(gap)
            chunk = {**base, "choices": [{"index": 0, "delta": {"content": f"word{i} "}, "finish_reason": None}]}
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        end = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await resp.write(b"data: " + json.dumps(end).encode() + b"\n\ndata: [DONE]\n\n")
        await resp.write_eof()
        return resp

    return handler


def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    app = web.Application()
    for name, (deltas, gap) in PROFILES.items():
        app.router.add_post(f"/{name}/v1/chat/completions", make_handler(deltas, gap))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None, backlog=4096)


if __name__ == "__main__":
    main()

"""DEMO ONLY: a tiny OpenAI-compatible upstream for `make demo`, standing in for Venice/OpenAI/Anthropic.

It answers chat completions (JSON and SSE streaming), embeddings and the model list with canned content, and
checks the Bearer key against $DEMO_UPSTREAM_KEY so the demo shows the forwarder really sends the upstream key.
Never use it for anything but the demo: it does not think.

    DEMO_UPSTREAM_KEY=k python examples/demo/demo_upstream.py --port 8099
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from aiohttp import web

ANSWER = (
    "Hello from the demo upstream! Your request went buyer -> forwarder -> upstream, and the forwarder "
    "swapped in the upstream's own key, which never left it."
)


def _authorized(request: web.Request) -> bool:
    want = os.environ.get("DEMO_UPSTREAM_KEY", "")
    return bool(want) and request.headers.get("Authorization") == f"Bearer {want}"


def _unauthorized() -> web.Response:
    err = {"error": {"message": "invalid upstream key", "type": "invalid_request_error", "param": None, "code": None}}
    return web.json_response(err, status=401)


async def chat(request: web.Request) -> web.StreamResponse:
    if not _authorized(request):
        return _unauthorized()
    body = await request.json()
    model = body.get("model", "demo")
    created = int(time.time())
    if not body.get("stream"):
        return web.json_response(
            {
                "id": "chatcmpl-demo",
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 8, "completion_tokens": len(ANSWER.split()), "total_tokens": 8},
            }
        )
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)

    async def send(delta: dict[str, object], finish: str | None = None) -> None:
        chunk = {
            "id": "chatcmpl-demo",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())

    await send({"role": "assistant", "content": ""})
    for word in ANSWER.split(" "):
        await send({"content": word + " "})
        await asyncio.sleep(0.02)
    await send({}, "stop")
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def embeddings(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    body = await request.json()
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i, _ in enumerate(items)]
    return web.json_response({"object": "list", "data": data, "model": body.get("model"), "usage": {}})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/embeddings", embeddings)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    print(f"demo upstream listening on http://{args.host}:{args.port}/v1", flush=True)
    web.run_app(make_app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()

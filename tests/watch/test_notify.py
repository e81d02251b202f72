"""The webhook gets one JSON message per event from a real loopback server; failures never raise."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from reconciler.devnet.anvil import free_port
from reconciler.watch.notify import Webhook


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner_box: list[web.AppRunner] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(status=500 if request.path == "/broken" else 204)

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runner_box.append(runner)
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    started.wait(5)
    try:
        yield f"http://127.0.0.1:{port}", got
    finally:
        asyncio.run_coroutine_threadsafe(runner_box[0].cleanup(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_delivers_json_and_reports_failures(receiver: tuple[str, list[dict[str, Any]]]) -> None:
    base, got = receiver
    hook = Webhook(base + "/hook?token=s3cret")
    d = hook.send("drift", "2 actions pending", {"pending": 2})
    assert d.ok and d.status == 204
    assert got[0]["event"] == "drift" and got[0]["details"] == {"pending": 2}
    assert "s3cret" not in repr(hook) and "s3cret" not in json.dumps(got[0])

    bad = Webhook(base + "/broken").send("failure", "apply failed")
    assert not bad.ok and bad.status == 500

    down = Webhook(f"http://127.0.0.1:{free_port()}/x?token=s3cret", timeout=1).send("applied", "ok")
    assert not down.ok and down.status is None and "s3cret" not in (down.error or "")
    with pytest.raises(ValueError):
        hook.send("nonsense", "x")

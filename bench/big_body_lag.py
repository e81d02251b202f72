"""One big claudeai body against 50 streams: the forwarder's event-loop lag and the streams' largest gap.

Four processes: an upstream stub (OpenAI SSE, one frame every 10 ms per stream until the client goes; an
Anthropic `/v1/messages` that reads the body and answers a short message), the forwarder (in this process,
with a task that measures its event loop's lag every 5 ms), a client process that holds 50 streams through
the forwarder and timestamps every frame, and a sender process that meanwhile sends the same 16 MiB claudeai
chat body (just under the JSON cap) twice, one after the other. For each body: its status and time, the forwarder's largest loop lag and the
streams' largest inter-frame gap from its send to its answer, against a quiet window before the first one.

`--in-loop` sets offload_body_bytes to 0: the body is parsed, translated and re-encoded in the event loop, as
before issue 28; without it, in a worker process (the first body also starts the pool). `--tree PATH` runs
the forwarder of another source tree (e.g. main's: `git archive main proxy schemas | tar -x -C PATH`).

Usage: `.venv/bin/python bench/big_body_lag.py [--in-loop] [--tree PATH] [--streams 50] [--mib 16]`
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FRAME_GAP = 0.010  # the stub's interval between two SSE frames of a stream
QUIET = 1.0  # seconds of streaming measured before the first big body (the baseline)


# ---- the upstream stub (its own process) -------------------------------------------------------------------


async def _upstream() -> None:
    frame = b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"tok "}}]}\n\n'
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }

    async def chat(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:  # until the client goes (the write fails or the handler is cancelled)
            await resp.write(frame)
            due += FRAME_GAP
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def messages(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(message)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/messages", messages)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
    await asyncio.Event().wait()


# ---- the clients (their own process) ---------------------------------------------------------------------


def big_body(size: int) -> bytes:
    """A claudeai chat body of about `size` bytes: a long conversation of short turns (the costly shape to
    parse and translate, many small objects), as an agent's history grows."""
    messages: list[dict[str, Any]] = []
    total, i = 200, 0
    while total < size:
        if i % 2 == 0:
            m: dict[str, Any] = {"role": "user", "content": [{"type": "text", "text": f"lorem ipsum dolor {i} " * 8}]}
        else:
            m = {"role": "assistant", "content": f"sit amet {i} " * 12}
        part = len(json.dumps(m)) + 2
        if total + part > size:
            break
        messages.append(m)
        total += part
        i += 1
    if messages[-1]["role"] != "user":
        messages.pop()
    return json.dumps({"model": "claude-x", "messages": messages, "max_tokens": 16}).encode()


async def _sender(port: int, mib: float) -> None:
    """Sends the big body twice, one after the other, from its own process (writing 16 MiB would otherwise
    delay the stream readers' loop too); one JSON line per body."""
    body = big_body(int(mib * 1024 * 1024) - 4096)
    print(json.dumps({"bytes": len(body)}), flush=True)
    sys.stdin.readline()  # go
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        for n in (1, 2):
            t = time.monotonic()
            async with session.post(
                f"http://127.0.0.1:{port}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                answer = await resp.read()
            end = time.monotonic()
            window = {"name": f"body {n}", "start": t, "end": end, "status": resp.status, "seconds": end - t}
            print(json.dumps({**window, "answer": answer[:200].decode()}), flush=True)
            await asyncio.sleep(0.5)


async def _clients(port: int, streams: int, mib: float) -> None:
    base = f"http://127.0.0.1:{port}/v1/chat/completions"
    sender = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--role", "sender", "--port", str(port), "--mib", str(mib),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert sender.stdin is not None and sender.stdout is not None
    size = json.loads(await sender.stdout.readline())["bytes"]
    frames: list[list[float]] = [[] for _ in range(streams)]
    stop = asyncio.Event()

    async def stream(i: int, session: aiohttp.ClientSession) -> None:
        req = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        async with session.post(base, json=req) as resp:
            assert resp.status == 200, resp.status
            async for line in resp.content:
                if line.startswith(b"data:"):
                    frames[i].append(time.monotonic())
                if stop.is_set():
                    return

    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=None)) as session:
        tasks = [asyncio.create_task(stream(i, session)) for i in range(streams)]
        while min(len(f) for f in frames) < 20:  # every stream is flowing
            await asyncio.sleep(0.05)
        windows: list[dict[str, Any]] = []
        t = time.monotonic()
        await asyncio.sleep(QUIET)
        windows.append({"name": "quiet", "start": t, "end": time.monotonic()})
        sender.stdin.write(b"go\n")
        for _ in (1, 2):
            windows.append(json.loads(await sender.stdout.readline()))
        await sender.wait()
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for w in windows:
        gaps = [b - a for f in frames for a, b in itertools.pairwise(f) if w["start"] <= b <= w["end"] + 0.05]
        w["max_gap"] = max(gaps) if gaps else None
        w["p99_gap"] = statistics.quantiles(gaps, n=100)[98] if len(gaps) > 100 else None
    print(json.dumps({"bytes": size, "windows": windows}), flush=True)


# ---- the forwarder and the report (this process) --------------------------------------------------------


async def _bench(args: argparse.Namespace) -> None:
    if args.tree:  # that tree's forwarder, not this one's (the editable install's finder would win over sys.path)
        sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
        sys.path.insert(0, str(args.tree))
    from proxy.server import running
    from proxy.settings import Settings
    from proxy.state import ProxyState

    up = subprocess.Popen([sys.executable, __file__, "--role", "upstream"], stdout=subprocess.PIPE, text=True)
    try:
        assert up.stdout is not None
        up_port = int(up.stdout.readline())
        tmp = Path(tempfile.mkdtemp(prefix="morpheus-big-body-"))
        models = [
            {"modelId": "0x" + "a" * 64, "modelName": "gpt-x", "apiType": "openai",
             "apiUrl": f"http://127.0.0.1:{up_port}/v1/chat/completions", "apiKey": "k"},
            {"modelId": "0x" + "b" * 64, "modelName": "claude-x", "apiType": "claudeai",
             "apiUrl": f"http://127.0.0.1:{up_port}/v1/messages", "apiKey": "k"},
        ]  # fmt: skip
        (tmp / "models-config.json").write_text(json.dumps({"models": models}))
        settings = Settings()
        if args.in_loop:
            settings = settings.replace(offload_body_bytes=0)
        state = ProxyState(tmp / "models-config.json", settings)
        state.load_initial()
        lags: list[tuple[float, float]] = []

        async def ticker() -> None:
            while True:
                t = time.monotonic()
                await asyncio.sleep(0.005)
                now = time.monotonic()
                lags.append((now, now - t - 0.005))

        async with running(state, watch=False) as r:
            tick = asyncio.create_task(ticker())
            clients = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--role", "clients", "--port", str(r.data_port),
                "--streams", str(args.streams), "--mib", str(args.mib), stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await clients.communicate()
            tick.cancel()
        report = json.loads(out)
    finally:
        up.terminate()
        up.wait()
    import proxy

    where = "in a worker process" if "offload_body_bytes" in Settings.__dataclass_fields__ else "in the event loop"
    path = "in the event loop (--in-loop)" if args.in_loop else where
    print(f"forwarder from {Path(proxy.__file__).parent.parent}")
    print(
        f"{args.streams} streams, one frame every {FRAME_GAP * 1000:.0f} ms; a claudeai body of {report['bytes']:,} bytes, prepared {path}"
    )
    print("| window | answer | time | loop lag max | frame gap max | frame gap p99 |")
    print("|---|---|---|---|---|---|")
    for w in report["windows"]:
        lag = max((v for t, v in lags if w["start"] <= t <= w["end"] + 0.05), default=0.0)
        answer = f"{w['status']}" if "status" in w else ""
        seconds = f"{w['seconds']:.2f} s" if "seconds" in w else f"{QUIET:.0f} s"
        gap = f"{w['max_gap'] * 1000:.0f} ms" if w["max_gap"] is not None else "-"
        p99 = f"{w['p99_gap'] * 1000:.0f} ms" if w["p99_gap"] is not None else "-"
        print(f"| {w['name']} | {answer} | {seconds} | {lag * 1000:.0f} ms | {gap} | {p99} |")
        if w.get("status", 200) != 200:
            print("   ", w["answer"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--role", choices=("bench", "upstream", "clients", "sender"), default="bench")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--streams", type=int, default=50)
    p.add_argument("--mib", type=float, default=16.0)
    p.add_argument("--in-loop", action="store_true", help="prepare the body in the event loop (as before issue 28)")
    p.add_argument("--tree", type=Path, help="run the forwarder of this source tree (e.g. main's, unpacked)")
    args = p.parse_args()
    if args.role == "upstream":
        asyncio.run(_upstream())
    elif args.role == "sender":
        asyncio.run(_sender(args.port, args.mib))
    elif args.role == "clients":
        asyncio.run(_clients(args.port, args.streams, args.mib))
    else:
        asyncio.run(_bench(args))


if __name__ == "__main__":
    main()

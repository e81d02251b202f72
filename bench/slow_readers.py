"""Slow readers of a large non-stream answer: the forwarder's peak RSS growth and in_flight. Not a test.

Twelve clients ask a 2-slot model for a SIZE-byte chat answer (a loopback stub upstream) and read it at about
1.3 MB/s (64 KiB every 50 ms, small receive buffers) for SECONDS; prints the forwarder process's peak RSS
growth (VmHWM), the statuses so far and `morpheus_proxy_in_flight` sampled twice a second.

    .venv/bin/python bench/slow_readers.py [--size 50000000] [--seconds 8] [--tree OTHER_TREE]
`--tree` runs the forwarder of another source tree (e.g. `git archive main proxy schemas | tar -x -C /tmp/m`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
# Runs proxy.cli from a given tree (the editable install's finder would otherwise win over sys.path).
LAUNCH = (
    "import sys; tree = sys.argv.pop(1);"
    "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')];"
    "sys.path.insert(0, tree); from proxy.cli import main; main()"
)
MODEL_ID = "0x" + "5" * 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


async def read_slowly(port: int, statuses: list[int], i: int) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        body = json.dumps({"model": "slow", "messages": [{"role": "user", "content": "hi"}]}).encode()
        head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        await loop.sock_sendall(sock, f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        first = True
        while chunk := await loop.sock_recv(sock, 64 * 1024):
            if first:
                statuses[i] = int(chunk.split(b" ", 2)[1])
                first = False
            await asyncio.sleep(0.05)
    finally:
        sock.close()


async def in_flight(admin: int) -> float:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{admin}/metrics") as resp:
        text = await resp.text()
    return sum(float(x.rsplit(" ", 1)[1]) for x in text.splitlines() if x.startswith("morpheus_proxy_in_flight{"))


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=50_000_000)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--tree", default=str(ROOT))
    args = p.parse_args()
    text = "x" * args.size
    answer = json.dumps(
        {"id": "c", "object": "chat.completion", "created": 1, "model": "slow", "usage": None,
         "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
    ).encode()  # fmt: skip
    del text

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=answer, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    up = free_port()
    await web.TCPSite(runner, "127.0.0.1", up).start()
    config = Path(f"/tmp/slow-readers-{os.getpid()}.json")
    entry = {"modelId": MODEL_ID, "modelName": "slow", "apiType": "openai", "concurrentSlots": 2,
             "apiUrl": f"http://127.0.0.1:{up}/v1/chat/completions", "apiKey": "sk-bench"}  # fmt: skip
    config.write_text(json.dumps({"models": [entry]}))
    port, admin = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MORPHEUS_PROXY_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LAUNCH, args.tree, "--config", str(config), "--listen", f"127.0.0.1:{port}",
        "--admin-listen", f"127.0.0.1:{admin}", "--no-watch", "--log-level", "WARNING", "--wait-queue", "16",
        "--wait-timeout", "60", stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), 20)
        before = peak_rss(proc.pid)
        statuses = [0] * 12
        tasks = [asyncio.create_task(read_slowly(port, statuses, i)) for i in range(12)]
        samples = []
        loop = asyncio.get_running_loop()
        end = loop.time() + args.seconds
        while loop.time() < end:
            samples.append(await in_flight(admin))
            await asyncio.sleep(0.5)
        growth = peak_rss(proc.pid) - before
        print(
            f"answer {args.size} bytes, 12 slow readers, {args.seconds:g} s: peak RSS growth {growth / 2**20:.0f} MiB"
        )
        print(f"statuses so far {statuses}; in_flight samples {samples}")
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        proc.kill()
        await proc.wait()
        await runner.cleanup()
        config.unlink()


if __name__ == "__main__":
    asyncio.run(main())

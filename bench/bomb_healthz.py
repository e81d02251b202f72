"""`/healthz` latency and forwarder RSS while clients pull 1 GiB gzip bombs through it (issue 17). Not a test.

Starts bench/bomb_upstream.py and a `morpheus-proxy` (from this tree, or from the source tree given with
`--tree`, e.g. an unpacked other branch; failure budget off so the bombs keep coming), then for BOMB_SECONDS
keeps BOMB_CLIENTS clients (a process of their own, so their reading does not delay the poller) sending bomb
requests, half streamed, half not, while this process polls `/healthz` every 20 ms. Prints the healthz
latency percentiles, the bomb answers by status, and the forwarder's RSS (idle, peak). Target: healthz under
50 ms.

    .venv/bin/python bench/bomb_healthz.py [--tree PATH]
Environment: BOMB_SECONDS (default 10), BOMB_CLIENTS (default 2).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
SECONDS = float(os.environ.get("BOMB_SECONDS", "10"))
CLIENTS = int(os.environ.get("BOMB_CLIENTS", "2"))

# Runs proxy.cli from --tree instead of this checkout (the editable install's finder would win over sys.path).
LAUNCH = (
    "import sys; tree = sys.argv.pop(1);"
    "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')];"
    "sys.path.insert(0, tree); from proxy.cli import main; main()"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    cur = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    return cur, peak


async def wait_http(url: str) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            try:
                async with s.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


async def bomb_client(base: str, stream: bool, stop: asyncio.Event, outcomes: collections.Counter[str]) -> None:
    body = {"model": "bomb-sse" if stream else "bomb-json", "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body["stream"] = True
    async with aiohttp.ClientSession() as s:
        while not stop.is_set():
            try:
                async with s.post(base + "/chat/completions", json=body) as resp:
                    tail = b""
                    async for piece in resp.content.iter_any():
                        tail = (tail + piece)[-300:]
                    cut = b"upstream_response_too_large" in tail
                    outcomes[f"{'stream' if stream else 'json'} {resp.status}{' (capped)' if cut else ''}"] += 1
            except aiohttp.ClientError as exc:
                outcomes[f"{'stream' if stream else 'json'} {type(exc).__name__}"] += 1


async def clients_only(base: str) -> None:
    """The bomb clients, in their own process: until stdin closes; then the outcomes as JSON on stdout."""
    stop = asyncio.Event()
    outcomes: collections.Counter[str] = collections.Counter()
    tasks = [asyncio.create_task(bomb_client(base, i % 2 == 1, stop, outcomes)) for i in range(CLIENTS)]
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    stop.set()
    await asyncio.wait(tasks, timeout=120)
    print(json.dumps(outcomes))


async def run(tree: Path | None) -> None:
    up_port, port, admin = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "models.json"
        models = [
            {"modelId": "0x" + f"{i:064x}", "modelName": name, "apiType": "openai",
             "apiUrl": f"http://127.0.0.1:{up_port}/{path}/v1/chat/completions", "apiKey": "sk-bench"}
            for i, (name, path) in enumerate((("bomb-json", "json"), ("bomb-sse", "sse")), start=1)
        ]  # fmt: skip
        cfg.write_text(json.dumps({"models": models}))
        up = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "bomb_upstream.py"), str(up_port)], stdout=subprocess.PIPE
        )
        assert up.stdout is not None and up.stdout.readline().strip() == b"ready"
        args = ["--config", str(cfg), "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}",
                "--no-watch", "--log-level", "ERROR", "--total-timeout", "120", "--failure-budget", "0"]  # fmt: skip
        exe = str(Path(sys.executable).with_name("morpheus-proxy"))
        cmd = [sys.executable, "-c", LAUNCH, str(tree), *args] if tree else [exe, *args]
        proxy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        try:
            await wait_http(f"http://127.0.0.1:{admin}/healthz")
            idle, _ = rss_mb(proxy.pid)
            clients = subprocess.Popen(
                [sys.executable, __file__, "--clients", f"http://127.0.0.1:{port}/v1"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            lat: list[float] = []
            peak_rss = idle
            async with aiohttp.ClientSession() as s:
                end = time.monotonic() + SECONDS
                while time.monotonic() < end:
                    t0 = time.perf_counter()
                    async with s.get(f"http://127.0.0.1:{admin}/healthz") as resp:
                        await resp.read()
                    lat.append((time.perf_counter() - t0) * 1000)
                    peak_rss = max(peak_rss, rss_mb(proxy.pid)[0])
                    await asyncio.sleep(0.02)
            out, _ = clients.communicate(b"", timeout=120)
            outcomes = json.loads(out)
            _, hwm = rss_mb(proxy.pid)
        finally:
            proxy.terminate()
            up.terminate()
            proxy.wait(10)
            up.wait(10)
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    print(f"forwarder: {tree or 'this tree'}; {CLIENTS} bomb clients for {SECONDS:g} s; {len(lat)} /healthz polls")
    print(f"/healthz ms: p50 {statistics.median(lat):.2f}  p90 {pct(0.9):.2f}  p99 {pct(0.99):.2f}  max {lat[-1]:.2f}")
    print(f"RSS MB: idle {idle:.1f}  peak sampled {peak_rss:.1f}  VmHWM {hwm:.1f}  growth {hwm - idle:.1f}")
    print("bomb answers:", ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--tree", type=Path, help="a source tree holding proxy/ and schemas/ to run instead of this one")
    p.add_argument("--clients", help=argparse.SUPPRESS)  # internal: run the bomb clients against this base URL
    args = p.parse_args()
    asyncio.run(clients_only(args.clients) if args.clients else run(args.tree))


if __name__ == "__main__":
    main()

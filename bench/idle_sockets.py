"""Idle sockets against a forwarder with a small descriptor limit (issue 28): does the admin plane still answer,
how much does it log, does the data plane serve again when they close. Not a test.

Starts `morpheus-proxy` (from this tree, or from the source tree given with `--tree`, e.g. an unpacked other
branch) with RLIMIT_NOFILE at NOFILE (soft and hard, as `ulimit -n`), opens IDLE connections to its data port
that send nothing, and for HOLD seconds polls `/healthz` on the admin port (1 s timeout per poll). Then closes
them and measures how long until `/v1/models` answers 200 again. Prints the healthz latencies and timeouts, the
forwarder's log lines (count and bytes), and the recovery time.

    .venv/bin/python bench/idle_sockets.py [--tree PATH] [--idle 600] [--nofile 512] [--hold 10] [-- flags...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

# Runs proxy.cli from a given tree (the editable install's finder would otherwise win over sys.path).
LAUNCH = (
    "import sys; tree = sys.argv.pop(1);"
    "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')];"
    "sys.path.insert(0, tree); from proxy.cli import main; main()"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    p.add_argument("--idle", type=int, default=600)
    p.add_argument("--nofile", type=int, default=512)
    p.add_argument("--hold", type=float, default=10.0)
    p.add_argument("flags", nargs="*", help="more morpheus-proxy flags (after --)")
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.idle + 1024)), hard))
    tmp = Path(tempfile.mkdtemp(prefix="morpheus-idle-"))
    cfg = tmp / "c.json"
    model = {"modelId": "0x" + "1" * 64, "modelName": "m", "apiType": "openai",
             "apiUrl": "http://127.0.0.1:9/v1/chat/completions", "apiKey": "sk-bench"}  # fmt: skip
    cfg.write_text(json.dumps({"models": [model]}))
    port, admin = free_port(), free_port()
    log_path = tmp / "stderr.log"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))

    cmd = [sys.executable, "-c", LAUNCH, str(args.tree), "--config", str(cfg), "--listen", f"127.0.0.1:{port}",
           "--admin-listen", f"127.0.0.1:{admin}", "--no-watch", *args.flags]  # fmt: skip
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=log, preexec_fn=limit, env=os.environ.copy()
        )
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), 20)
        start_lines = len(log_path.read_bytes().splitlines())
        try:
            idle = []
            for _ in range(args.idle):
                idle.append((await asyncio.open_connection("127.0.0.1", port))[1])
            latencies: list[float] = []
            timeouts = 0
            async with aiohttp.ClientSession() as s:
                end = time.monotonic() + args.hold
                while time.monotonic() < end:
                    t0 = time.monotonic()
                    try:
                        async with asyncio.timeout(1), s.get(f"http://127.0.0.1:{admin}/healthz") as resp:
                            await resp.read()
                        latencies.append((time.monotonic() - t0) * 1000)
                    except (TimeoutError, aiohttp.ClientError):
                        timeouts += 1
                    await asyncio.sleep(0.05)
                held_log = log_path.read_bytes().splitlines()[start_lines:]
                for w in idle:
                    w.close()
                t0 = time.monotonic()
                recovered = None
                while time.monotonic() - t0 < 30:
                    try:
                        async with asyncio.timeout(1), s.get(f"http://127.0.0.1:{port}/v1/models") as resp:
                            if resp.status == 200:
                                recovered = time.monotonic() - t0
                                break
                    except (TimeoutError, aiohttp.ClientError):
                        pass
                    await asyncio.sleep(0.05)
        finally:
            proc.kill()
            await proc.wait()
    lat = sorted(latencies)
    print(f"tree {args.tree}: {args.idle} idle sockets, RLIMIT_NOFILE {args.nofile}, held {args.hold:.0f} s")
    if lat:
        print(
            f"  /healthz: {len(lat)} answered, p50 {statistics.median(lat):.1f} ms, max {lat[-1]:.1f} ms; "
            f"{timeouts} timed out (1 s)"
        )
    else:
        print(f"  /healthz: none answered, {timeouts} timed out (1 s)")
    print(f"  log while held: {len(held_log)} lines, {sum(len(x) + 1 for x in held_log)} bytes")
    print(
        "  /v1/models after the sockets closed: " + (f"200 after {recovered:.2f} s" if recovered else "no 200 in 30 s")
    )


if __name__ == "__main__":
    asyncio.run(main())

"""Stream-only bench: added time to first token and inter-frame gap, direct vs morpheus-proxy, several rounds.

Mock, proxy and this client are three processes; each round measures direct then proxied the same way, so
drift of the shared machine hits both. Optional pinning: STREAM_PIN="mock:0,proxy:1,client:0" (taskset CPUs).
Usage: `.venv/bin/python bench/stream_latency.py [ROUNDS]` (default 5); prints per-round and median figures.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b


def pin(pid: int, role: str) -> None:
    spec = dict(p.split(":") for p in os.environ.get("STREAM_PIN", "").split(",") if ":" in p)
    if role in spec:
        os.sched_setaffinity(pid, {int(c) for c in spec[role].split("+")})


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    tmp = Path(tempfile.mkdtemp(prefix="morpheus-stream-bench-"))
    mock_port = b.free_port()
    procs: list[b.Proc] = []
    try:
        mock = b.Proc([sys.executable, str(b.BENCH / "stream_mock.py"), str(mock_port)])
        procs.append(mock)
        b.wait_port(mock_port)
        proxy, proxy_port = b.start_proxy(tmp, b.free_port(), mock_port)  # nginx unused: stream routes only
        procs.append(proxy)
        pin(mock.p.pid, "mock")
        pin(proxy.p.pid, "proxy")
        pin(os.getpid(), "client")
        spy = os.environ.get("STREAM_PYSPY")  # profile the proxy: a py-spy flamegraph/speedscope file path
        if spy:
            exe = str(Path(sys.executable).with_name("py-spy"))
            fmt = "raw"  # collapsed stacks: one line per stack with its sample count
            procs.append(
                b.Proc(
                    [
                        exe,
                        "record",
                        "--nonblocking",
                        "-r",
                        "500",
                        "-d",
                        os.environ.get("STREAM_PYSPY_SECONDS", "30"),
                        "-f",
                        fmt,
                        "-o",
                        spy,
                        "-p",
                        str(proxy.p.pid),
                    ]
                )
            )
        time.sleep(1)
        direct = (f"http://127.0.0.1:{mock_port}/fast/v1/chat/completions", {})
        proxied = (f"http://127.0.0.1:{proxy_port}/v1/chat/completions", {"Authorization": f"Bearer {b.CLIENT_TOKEN}"})
        # warm-up: connections, code paths
        for url, h in (direct, proxied):
            asyncio.run(b.stream_stats(url, "bench-stream", h, n=10, conc=10))
        added: dict[int, dict[str, list[float]]] = {c: {"ttft": [], "gap99": []} for c in (1, 10)}
        print(
            f"# stream latency, {time.strftime('%Y-%m-%d %H:%M')} UTC, pin={os.environ.get('STREAM_PIN', '-')}",
            flush=True,
        )
        for r in range(rounds):
            for conc in (1, 10):
                n = 4 * conc if conc > 1 else int(os.environ.get("STREAM_C1_STREAMS", "10"))
                d = asyncio.run(b.stream_stats(*direct[:1], "bench-stream", direct[1], n=n, conc=conc))
                p = asyncio.run(b.stream_stats(*proxied[:1], "bench-stream", proxied[1], n=n, conc=conc))
                dt, dg = p["ttft_p50"] - d["ttft_p50"], p["gap_p99"] - d["gap_p99"]
                added[conc]["ttft"].append(dt)
                added[conc]["gap99"].append(dg)
                print(
                    f"round {r + 1} c={conc:<2} direct ttft {d['ttft_p50']:.2f} gap99 {d['gap_p99']:.2f} | "
                    f"proxy ttft {p['ttft_p50']:.2f} gap99 {p['gap_p99']:.2f} | added ttft {dt:+.2f} gap99 {dg:+.2f} ms"
                )
        for conc in (1, 10):
            t, g = added[conc]["ttft"], added[conc]["gap99"]
            print(
                f"c={conc:<2} added ttft p50: median {statistics.median(t):+.2f} (range {min(t):+.2f}..{max(t):+.2f}) ms; "
                f"added gap p99: median {statistics.median(g):+.2f} (range {min(g):+.2f}..{max(g):+.2f}) ms"
            )
    finally:
        for p in reversed(procs):
            p.stop()


if __name__ == "__main__":
    main()

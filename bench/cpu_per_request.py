"""The forwarder's CPU time per request: wrk against nginx through morpheus-proxy, the proxy's CPU from /proc.

CPU per request is the steadiest figure on a shared 2-core box (latency tails move with whatever else runs),
and at concurrency 10 it is what a burst of streams waits for (see docs/performance.md).
Usage: `.venv/bin/python bench/cpu_per_request.py [SECONDS]` (default 5 s per point; needs wrk and nginx:
`make bench` installs them).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    tmp = Path(tempfile.mkdtemp(prefix="morpheus-cpu-bench-"))
    nginx_port = b.free_port()
    nginx = b.start_nginx(tmp, nginx_port)
    proxy, port = b.start_proxy(tmp, nginx_port, b.free_port())  # the stream mock is not needed here
    url, auth = f"http://127.0.0.1:{port}/v1/chat/completions", [f"Authorization: Bearer {b.CLIENT_TOKEN}"]
    try:
        time.sleep(1)
        b.SECONDS = 2
        b.wrk(url, 10, auth)  # warm-up
        b.SECONDS = seconds
        for conc in (1, 10, 1, 10):
            before = cpu_seconds(proxy.p.pid)
            r = b.wrk(url, conc, auth)
            used = cpu_seconds(proxy.p.pid) - before
            print(
                f"c={conc:<2} {r['rps']:8.0f} rps  p50 {r['p50']:.2f} ms  "
                f"proxy CPU per request {used / (r['rps'] * seconds) * 1e6:.0f} us",
                flush=True,
            )
    finally:
        proxy.stop()
        nginx.stop()


if __name__ == "__main__":
    main()

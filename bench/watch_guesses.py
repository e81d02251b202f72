"""Benchmark: N concurrent wrong logins against the watcher's HTTP surface, and the right token among them.

Serves the real aiohttp server (reconciler.status.server) on loopback with a token and sends N concurrent
`POST /login` with wrong tokens over real HTTP, then one with the right token. Prints how many got 401 (a wrong
token, within the server's budget of 5 at once and 5 a second), how many 429 (beyond it, at once), the time
they all took, and what the right token got (303: it is compared first, never refused).

    .venv/bin/python bench/watch_guesses.py [--guesses 300]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.status.server import WatchServer  # noqa: E402
from reconciler.watch.metrics import WatchMetrics  # noqa: E402

TOKEN = "bench-watch-token-0123456789abcdef0123"  # the watcher asks for 32 characters or more


async def flood(base: str, n: int) -> tuple[Counter[int], float, int]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as c:
        t0 = time.monotonic()
        answers = await asyncio.gather(*(c.post("/login", data={"token": f"guess-{i}"}) for i in range(n)))
        took = time.monotonic() - t0
        right = await c.post("/login", data={"token": TOKEN})
    return Counter(a.status_code for a in answers), took, right.status_code


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--guesses", type=int, default=300)
    args = p.parse_args()
    server = WatchServer(WatchMetrics(), "127.0.0.1", 0, TOKEN).start()
    try:
        codes, took, right = asyncio.run(flood(f"http://127.0.0.1:{server.port}", args.guesses))
    finally:
        server.stop()
    counts = ", ".join(f"{n} x {code}" for code, n in sorted(codes.items()))
    print(f"{args.guesses} concurrent wrong logins: {counts} in {took:.2f} s; the right token then: {right}")


if __name__ == "__main__":
    main()

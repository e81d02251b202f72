"""Where the added time to first token goes at concurrency 10: waves of 10 simultaneous streams, direct vs proxied.

Prints, per target, time to response headers and to the first frame (p50 / max), the proxy's own pre-send time
(x-proxy-overhead-ms) and the upstream time to first byte as the proxy sees it (its /metrics).
Usage: `.venv/bin/python bench/stream_breakdown.py`.
"""

import asyncio
import pathlib
import re
import statistics
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import aiohttp

import bench as b


async def one(s, url, h, i, res):
    body = {"model": "bench-stream", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    t0 = time.perf_counter()
    async with s.post(url, json=body, headers=h) as r:
        th = time.perf_counter()
        ov = float(r.headers.get("x-proxy-overhead-ms", "nan"))
        async for line in r.content:
            if line.startswith(b"data: "):
                tf = time.perf_counter()
                break
        async for _ in r.content:
            pass
    res.append(((th - t0) * 1000, (tf - t0) * 1000, ov))


async def wave(url, h, n):
    res = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        await asyncio.gather(*(one(s, url, h, i, res) for i in range(10)))
        for _ in range(n):
            await asyncio.gather(*(one(s, url, h, i, res) for i in range(10)))
    return res[10:]


tmp = pathlib.Path(tempfile.mkdtemp())
mp = b.free_port()
mock = b.Proc([sys.executable, str(b.BENCH / "stream_mock.py"), str(mp)])
b.wait_port(mp)
proxy, pp = b.start_proxy(tmp, b.free_port(), mp)
time.sleep(1)
try:
    d = asyncio.run(wave(f"http://127.0.0.1:{mp}/fast/v1/chat/completions", {}, 6))
    p = asyncio.run(
        wave(f"http://127.0.0.1:{pp}/v1/chat/completions", {"Authorization": f"Bearer {b.CLIENT_TOKEN}"}, 6)
    )
    for name, r in (("direct", d), ("proxy", p)):
        hs = sorted(x[0] for x in r)
        fs = sorted(x[1] for x in r)
        ov = sorted(x[2] for x in r)
        print(
            name,
            f"headers p50 {statistics.median(hs):.2f} max {hs[-1]:.2f} | first frame p50 {statistics.median(fs):.2f} max {fs[-1]:.2f} | overhead-ms p50 {statistics.median(ov):.3f} max {ov[-1]:.3f}",
        )
    admin = proxy.p.args[proxy.p.args.index("--admin-listen") + 1]
    metrics = urllib.request.urlopen(f"http://{admin}/metrics").read().decode()
    val = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^(morpheus_proxy_\w+_(?:sum|count))\S* (\S+)$", metrics, re.M)
    }
    ttfb = val["morpheus_proxy_upstream_ttfb_seconds_sum"] / val["morpheus_proxy_upstream_ttfb_seconds_count"]
    print(f"proxy's view: accept -> upstream response headers, mean {ttfb * 1000:.2f} ms")
finally:
    proxy.stop()
    mock.stop()

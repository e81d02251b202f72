"""The floor of one extra process hop: stream latency through a raw asyncio TCP relay (bench/raw_relay.py, no HTTP).

Usage: `.venv/bin/python bench/raw_relay_bench.py` (3 rounds; added TTFT p50 and gap p99 over the direct mock).
"""

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b

mp, rp = b.free_port(), b.free_port()
mock = b.Proc([sys.executable, str(b.BENCH / "stream_mock.py"), str(mp)])
b.wait_port(mp)
relay = b.Proc([sys.executable, str(b.BENCH / "raw_relay.py"), str(rp), str(mp)])
b.wait_port(rp)
time.sleep(1)
try:
    for _ in range(3):
        for conc in (1, 10):
            n = 4 * conc if conc > 1 else 20
            d = asyncio.run(
                b.stream_stats(f"http://127.0.0.1:{mp}/fast/v1/chat/completions", "bench-stream", {}, n, conc)
            )
            p = asyncio.run(
                b.stream_stats(f"http://127.0.0.1:{rp}/fast/v1/chat/completions", "bench-stream", {}, n, conc)
            )
            print(
                f"c={conc} raw relay added ttft {p['ttft_p50'] - d['ttft_p50']:+.2f} gap99 {p['gap_p99'] - d['gap_p99']:+.2f}",
                flush=True,
            )
finally:
    relay.stop()
    mock.stop()

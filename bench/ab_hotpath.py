"""A/B of the forwarder's hot path: two source trees side by side, rounds alternating, in one run. Not a test.

Both forwarders run at once against the same nginx upstream (1 KB JSON replies, as in bench.py); each round
measures nginx directly and then both forwarders (the order flips every round) with wrk at concurrency 1 and
10, then 40 streams, 10 at a time, from bench/stream_mock.py (64 deltas 20 ms apart), directly and through
each forwarder. Prints per-round figures, then the medians and spread of the added p50 latency (forwarder p50 - direct
p50 of the same round), of throughput, and of the forwarder's CPU per request (from /proc: the steadiest
figure on a shared box, see bench/cpu_per_request.py). Used to show that issue 17's bounds cost nothing measurable when
they do not fire.

    .venv/bin/python bench/ab_hotpath.py --a /path/to/other/tree [--b /path/to/this/tree]
Environment: AB_ROUNDS (default 6), BENCH_SECONDS (per wrk run, default 5). Needs wrk and nginx (`make bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("BENCH_SECONDS", "5")

from cpu_per_request import cpu_seconds

from bench import CLIENT_TOKEN, SECONDS, Proc, free_port, start_nginx, stream_stats, wait_port, wrk

ROUNDS = int(os.environ.get("AB_ROUNDS", "6"))
CONCURRENCY = (1, 10)
# Runs proxy.cli from a given tree (the editable install's finder would otherwise win over sys.path).
LAUNCH = (
    "import sys; tree = sys.argv.pop(1);"
    "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')];"
    "sys.path.insert(0, tree); from proxy.cli import main; main()"
)


def start_forwarder(
    tree: Path, tmp: Path, name: str, nginx_port: int, mock_port: int, extra: list[str]
) -> tuple[Proc, int]:
    cfg = tmp / f"{name}.json"
    models = [
        {"modelId": "0x" + "1" * 64, "modelName": "bench", "apiType": "openai",
         "apiUrl": f"http://127.0.0.1:{nginx_port}/v1/chat/completions", "apiKey": "sk-bench"},
        {"modelId": "0x" + "2" * 64, "modelName": "bench-stream", "apiType": "openai",
         "apiUrl": f"http://127.0.0.1:{mock_port}/fast/v1/chat/completions", "apiKey": "sk-bench"},
    ]  # fmt: skip
    cfg.write_text(json.dumps({"models": models}))
    port, admin = free_port(), free_port()
    env = {**os.environ, "MORPHEUS_PROXY_CLIENT_TOKEN": CLIENT_TOKEN}
    args = ["--config", str(cfg), "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}"]
    proc = Proc(
        [sys.executable, "-c", LAUNCH, str(tree), *args, "--log-level", "WARNING", "--no-watch", *extra], env=env
    )
    wait_port(port)
    return proc, port


def spread(xs: list[float]) -> str:
    return f"median {statistics.median(xs):8.3f}  min {min(xs):8.3f}  max {max(xs):8.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description="A/B of two forwarder source trees")
    p.add_argument("--a", type=Path, required=True, help="the reference tree (e.g. main, unpacked)")
    p.add_argument("--b", type=Path, default=Path(__file__).resolve().parents[1], help="the changed tree")
    p.add_argument("--b-args", default="", help="extra morpheus-proxy flags for B (e.g. '--upstream-keepalive-s 60')")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="morpheus-ab-"))
    procs: list[Proc] = []
    try:
        nginx_port, mock_port = free_port(), free_port()
        procs.append(start_nginx(tmp, nginx_port))
        procs.append(Proc([sys.executable, str(Path(__file__).resolve().parent / "stream_mock.py"), str(mock_port)]))
        wait_port(mock_port)
        ports = {}
        for name, tree, extra in (("A", args.a, []), ("B", args.b, args.b_args.split())):
            proc, ports[name] = start_forwarder(tree, tmp, name, nginx_port, mock_port, extra)
            procs.append(proc)
        time.sleep(1)
        direct = f"http://127.0.0.1:{nginx_port}/v1/chat/completions"
        auth = [f"Authorization: Bearer {CLIENT_TOKEN}"]
        for name in ports:  # warm-up
            wrk(f"http://127.0.0.1:{ports[name]}/v1/chat/completions", 10, auth)
        print(
            f"# A: {args.a}\n# B: {args.b} {args.b_args}\n# {ROUNDS} rounds, wrk {os.environ['BENCH_SECONDS']} s per run"
        )
        added: dict[tuple[str, int], list[float]] = {}
        rps: dict[tuple[str, int], list[float]] = {}
        cpu: dict[tuple[str, int], list[float]] = {}
        pids = {"A": procs[2].p.pid, "B": procs[3].p.pid}
        ttft: dict[str, list[float]] = {}
        gap: dict[str, list[float]] = {}
        for rnd in range(ROUNDS):
            order = ["A", "B"] if rnd % 2 == 0 else ["B", "A"]
            for c in CONCURRENCY:
                d = wrk(direct, c, [])
                line = [f"round {rnd + 1} c={c:<3} direct p50 {d['p50']:.3f} ms {d['rps']:.0f} rps"]
                for name in order:
                    before = cpu_seconds(pids[name])
                    r = wrk(f"http://127.0.0.1:{ports[name]}/v1/chat/completions", c, auth)
                    us = (cpu_seconds(pids[name]) - before) / (r["rps"] * SECONDS) * 1e6
                    added.setdefault((name, c), []).append(r["p50"] - d["p50"])
                    rps.setdefault((name, c), []).append(r["rps"])
                    cpu.setdefault((name, c), []).append(us)
                    line.append(
                        f"{name}: +{r['p50'] - d['p50']:.3f} ms {r['rps']:.0f} rps {us:.0f} us CPU err {int(r['errors'])}"
                    )
                print(" | ".join(line), flush=True)
            d = asyncio.run(stream_stats(f"http://127.0.0.1:{mock_port}/fast/v1/chat/completions", "bench-stream", {}))
            line = [f"round {rnd + 1} streams  direct ttft {d['ttft_p50']:.2f} gap p99 {d['gap_p99']:.2f} ms"]
            for name in order:
                x = asyncio.run(
                    stream_stats(
                        f"http://127.0.0.1:{ports[name]}/v1/chat/completions",
                        "bench-stream",
                        {"Authorization": f"Bearer {CLIENT_TOKEN}"},
                    )
                )
                ttft.setdefault(name, []).append(x["ttft_p50"] - d["ttft_p50"])
                gap.setdefault(name, []).append(x["gap_p99"] - d["gap_p99"])
                line.append(
                    f"{name}: ttft +{x['ttft_p50'] - d['ttft_p50']:.2f} gap p99 +{x['gap_p99'] - d['gap_p99']:.2f}"
                )
            print(" | ".join(line), flush=True)
        print("\n## added p50 latency (ms), throughput (rps), forwarder CPU per request (us), over all rounds")
        for c in CONCURRENCY:
            for name in ("A", "B"):
                print(
                    f"c={c:<3} {name}: added p50 {spread(added[(name, c)])} | rps {spread(rps[(name, c)])}"
                    f" | CPU {spread(cpu[(name, c)])}"
                )
        print("\n## streams (40, 10 at a time): added ttft p50 and added gap p99 (ms), over all rounds")
        for name in ("A", "B"):
            print(f"{name}: ttft {spread(ttft[name])} | gap p99 {spread(gap[name])}")
    finally:
        for proc in reversed(procs):
            proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Side-by-side benchmark: direct mock vs morpheus-proxy vs LiteLLM's proxy, all on loopback, in one run.

Prints added latency (p50/p99 over calling the mock directly) at concurrency 1, 10, 100 (wrk), throughput,
added time to first token and inter-frame gap for streams, RSS idle / under load / with 2,000 open streams,
and our/LiteLLM ratios. Not a pass/fail test. Run it with `make bench` (installs wrk, nginx-light, LiteLLM).
Environment: BENCH_SECONDS (per wrk run, default 8), BENCH_STREAMS (default 2000), BENCH_NO_LITELLM=1.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
LITELLM_VENV = Path(os.environ.get("BENCH_LITELLM_VENV", BENCH / ".litellm-venv"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
N_STREAMS = int(os.environ.get("BENCH_STREAMS", "2000"))
CLIENT_TOKEN = "bench-client-token"
LITELLM_KEY = "sk-litellm-bench-master"
CONCURRENCY = (1, 10, 50, 100)

# A 1 KB chat.completion the fixed upstream (nginx) returns to every POST.
_CONTENT = ("The quick brown fox jumps over the lazy dog. " * 18)[:780]
REPLY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": _CONTENT}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 180, "total_tokens": 190},
    }
)
BODY = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "Say something."}]})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB of a process and its children."""
    cur = peak = 0.0
    pids = [pid] + [
        int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    ]
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        cur += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
        peak += int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    return cur, peak


class Proc:
    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.p = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )

    def stop(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()


def start_nginx(tmp: Path, port: int) -> Proc:
    conf = tmp / "nginx.conf"
    reply = REPLY.replace("\\", "\\\\").replace("'", "\\'")
    conf.write_text(
        f"""
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log stderr error;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ default_type application/json; return 200 '{reply}'; }}
  }}
}}
"""
    )
    proc = Proc([shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(conf), "-p", str(tmp)])
    wait_port(port)
    return proc


def wrk(url: str, conns: int, headers: list[str]) -> dict[str, float]:
    """One wrk run: rps, p50, p99 (ms), errors."""
    script = BENCH / "post.lua"
    args = ["wrk", f"-t{min(conns, 2)}", f"-c{conns}", f"-d{SECONDS}s", "--latency", "-s", str(script), url]
    for h in headers:
        args[1:1] = ["-H", h]
    out = subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, "BENCH_BODY": BODY}, check=True
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(x) for x in re.findall(r"(?:Non-2xx or 3xx responses|Socket errors:.*?timeout)\s*:?\s*(\d+)", out))
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"), "errors": errors}


async def one_stream(
    session: aiohttp.ClientSession, url: str, model: str, headers: dict[str, str]
) -> tuple[float, list[float], int]:
    """(time to first frame, gaps between frames, number of data frames) of one streamed request."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    t0 = time.perf_counter()
    stamps: list[float] = []
    async with session.post(url, json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        async for line in resp.content:
            if line.startswith(b"data: "):
                stamps.append(time.perf_counter())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return stamps[0] - t0, gaps, len(stamps)


async def stream_stats(url: str, model: str, headers: dict[str, str], n: int = 40, conc: int = 10) -> dict[str, float]:
    sem = asyncio.Semaphore(conc)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:

        async def run() -> tuple[float, list[float], int]:
            async with sem:
                return await one_stream(s, url, model, headers)

        results = await asyncio.gather(*(run() for _ in range(n)))
    ttft = sorted(r[0] * 1000 for r in results)
    gaps = sorted(g * 1000 for r in results for g in r[1])
    return {
        "ttft_p50": statistics.median(ttft),
        "gap_p50": statistics.median(gaps),
        "gap_p99": gaps[int(len(gaps) * 0.99) - 1],
    }


async def many_streams(url: str, n: int, pid: int) -> dict[str, float]:
    """n concurrent slow streams: every frame must arrive; peak RSS of `pid` while they are open."""
    peak = 0.0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb(pid)[0])
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=120)
    ) as s:
        results = await asyncio.gather(
            *(one_stream(s, url, "bench-slow", {"Authorization": f"Bearer {CLIENT_TOKEN}"}) for _ in range(n)),
            return_exceptions=True,
        )
    done.set()
    await sampler
    ok = [r for r in results if isinstance(r, tuple)]
    frames = sum(r[2] for r in ok)
    expected = n * 10  # 8 deltas + the finish chunk + [DONE]
    return {"streams_ok": len(ok), "frames": frames, "frames_expected": expected, "rss_peak_mb": peak}


def start_proxy(tmp: Path, nginx_port: int, mock_port: int) -> tuple[Proc, int]:
    cfg = tmp / "models-config.json"
    ids = iter(f"{i:064x}" for i in range(1, 10))
    models = [
        {"modelId": next(ids), "modelName": "bench", "apiType": "openai", "apiUrl": f"http://127.0.0.1:{nginx_port}/v1/chat/completions", "apiKey": "sk-bench"},
        {"modelId": next(ids), "modelName": "bench-stream", "apiType": "openai", "apiUrl": f"http://127.0.0.1:{mock_port}/fast/v1/chat/completions", "apiKey": "sk-bench"},
        {"modelId": next(ids), "modelName": "bench-slow", "apiType": "openai", "apiUrl": f"http://127.0.0.1:{mock_port}/slow/v1/chat/completions", "apiKey": "sk-bench"},
    ]  # fmt: skip
    cfg.write_text(json.dumps({"models": models}))
    port, admin = free_port(), free_port()
    env = {**os.environ, "MORPHEUS_PROXY_CLIENT_TOKEN": CLIENT_TOKEN}
    exe = str(Path(sys.executable).with_name("morpheus-proxy"))
    args = [
        exe,
        "--config",
        str(cfg),
        "--listen",
        f"127.0.0.1:{port}",
        "--admin-listen",
        f"127.0.0.1:{admin}",
        "--log-level",
        "WARNING",
    ]
    proc = Proc(args, env=env)
    wait_port(port)
    return proc, port


def start_litellm(tmp: Path, nginx_port: int, mock_port: int) -> tuple[Proc, int] | None:
    exe = LITELLM_VENV / "bin" / "litellm"
    if os.environ.get("BENCH_NO_LITELLM") or not exe.exists():
        print(f"(LiteLLM skipped: {exe} not installed)" if not exe.exists() else "(LiteLLM skipped)")
        return None
    cfg = tmp / "litellm.yaml"
    cfg.write_text(
        f"""
model_list:
  - model_name: bench
    litellm_params: {{model: openai/bench, api_base: "http://127.0.0.1:{nginx_port}/v1", api_key: sk-bench}}
  - model_name: bench-stream
    litellm_params: {{model: openai/bench, api_base: "http://127.0.0.1:{mock_port}/fast/v1", api_key: sk-bench}}
general_settings:
  master_key: {LITELLM_KEY}
litellm_settings:
  telemetry: false
"""
    )
    port = free_port()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    proc = Proc(
        [str(exe), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
        env=env,
        cwd=tmp,
    )
    wait_port(port, timeout=180)
    return proc, port


def fmt(x: float) -> str:
    return f"{x:8.2f}"


def main() -> None:
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is missing: run `make bench` (it installs wrk and nginx-light)")
    tmp = Path(tempfile.mkdtemp(prefix="morpheus-bench-"))
    nginx_port, mock_port = free_port(), free_port()
    procs: list[Proc] = []
    try:
        procs.append(start_nginx(tmp, nginx_port))
        procs.append(Proc([sys.executable, str(BENCH / "stream_mock.py"), str(mock_port)]))
        wait_port(mock_port)
        proxy, proxy_port = start_proxy(tmp, nginx_port, mock_port)
        procs.append(proxy)
        time.sleep(1)
        print(
            f"# morpheus-proxy bench, {time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} cores, wrk {SECONDS}s per run, 1 KB replies"
        )
        idle_rss = rss_mb(proxy.p.pid)[0]
        targets = {
            "direct": (f"http://127.0.0.1:{nginx_port}/v1/chat/completions", []),
            "morpheus": (
                f"http://127.0.0.1:{proxy_port}/v1/chat/completions",
                [f"Authorization: Bearer {CLIENT_TOKEN}"],
            ),
        }
        stream_targets = {
            "direct": (f"http://127.0.0.1:{mock_port}/fast/v1/chat/completions", {}),
            "morpheus": (
                f"http://127.0.0.1:{proxy_port}/v1/chat/completions",
                {"Authorization": f"Bearer {CLIENT_TOKEN}"},
            ),
        }
        res: dict[str, dict[int, dict[str, float]]] = {name: {} for name in targets}
        st: dict[str, dict[int, dict[str, float]]] = {name: {} for name in stream_targets}

        def measure(names: list[str]) -> None:
            for c in CONCURRENCY:
                for name in names:
                    url, headers = targets[name]
                    res.setdefault(name, {})[c] = wrk(url, c, headers)
            for conc in (1, 10):
                for name in names:
                    url, h = stream_targets[name]
                    st.setdefault(name, {})[conc] = asyncio.run(
                        stream_stats(url, "bench-stream", h, n=4 * conc if conc > 1 else 20, conc=conc)
                    )

        measure(["direct", "morpheus"])
        load_rss = rss_mb(proxy.p.pid)
        print(f"\n## {N_STREAMS} concurrent slow streams through morpheus-proxy (8 deltas 400 ms apart)")
        many = asyncio.run(many_streams(f"http://127.0.0.1:{proxy_port}/v1/chat/completions", N_STREAMS, proxy.p.pid))
        print(
            f"streams ok {many['streams_ok']}/{N_STREAMS}, frames {many['frames']}/{many['frames_expected']} "
            f"({'no frame lost' if many['frames'] == many['frames_expected'] else 'FRAMES LOST'}), peak RSS {many['rss_peak_mb']:.1f} MB"
        )
        print(
            f"morpheus-proxy RSS: idle {idle_rss:.1f} MB, after the wrk and stream runs {load_rss[0]:.1f} MB (peak {load_rss[1]:.1f} MB)"
        )
        proxy.stop()  # LiteLLM runs alone afterwards, so neither disturbs the other
        lite = start_litellm(tmp, nginx_port, mock_port)
        if lite:
            procs.append(lite[0])
            time.sleep(2)
            targets["litellm"] = (
                f"http://127.0.0.1:{lite[1]}/v1/chat/completions",
                [f"Authorization: Bearer {LITELLM_KEY}"],
            )
            stream_targets["litellm"] = (
                f"http://127.0.0.1:{lite[1]}/v1/chat/completions",
                {"Authorization": f"Bearer {LITELLM_KEY}"},
            )
            measure(["litellm"])
            lite_rss = rss_mb(lite[0].p.pid)
            print(f"LiteLLM RSS after its runs: {lite_rss[0]:.1f} MB (peak {lite_rss[1]:.1f} MB)")

        print("\n## Non-streaming, added latency over calling the mock directly (ms)")
        # The direct p99 is noisy (nginx and wrk share the cores), so the added p99 is bounded conservatively
        # by (proxied p99 - direct p50) rather than the difference of two noisy tails.
        print(f"{'conc':>5} {'target':>9} {'rps':>9} {'p50':>8} {'p99':>8} {'+p50':>8} {'+p99<=':>8} {'errors':>6}")
        for c in CONCURRENCY:
            d = res["direct"][c]
            for name in res:
                r = res[name][c]
                print(
                    f"{c:>5} {name:>9} {r['rps']:9.0f} {fmt(r['p50'])} {fmt(r['p99'])} {fmt(r['p50'] - d['p50'])} {fmt(r['p99'] - d['p50'])} {int(r['errors']):>6}"
                )
        for name in res:
            if name != "direct":
                ok = [res[name][c]["rps"] for c in CONCURRENCY if res[name][c]["p99"] - res["direct"][c]["p50"] <= 10]
                print(f"{name}: best rps with added p99 <= 10 ms: {max(ok) if ok else 0:.0f}")
        if "litellm" in res:
            print("\n## morpheus / LiteLLM")
            for c in CONCURRENCY:
                m, lt, d = res["morpheus"][c], res["litellm"][c], res["direct"][c]
                added_m, added_l = m["p50"] - d["p50"], lt["p50"] - d["p50"]
                print(
                    f"c={c:<4} throughput x{m['rps'] / lt['rps']:.1f}   added p50: {added_m:.2f} vs {added_l:.2f} ms (x{added_l / max(added_m, 0.001):.1f} less)"
                )
        print("\n## Streams (64 deltas 20 ms apart; 20 streams one at a time, 40 streams 10 at a time)")
        for conc in (1, 10):
            d = st["direct"][conc]
            for name in st:
                x = st[name][conc]
                print(
                    f"c={conc:<3} {name:>9}: ttft p50 {x['ttft_p50']:.2f} ms (+{x['ttft_p50'] - d['ttft_p50']:.2f}), "
                    f"gap p50 {x['gap_p50']:.2f} p99 {x['gap_p99']:.2f} ms (+{x['gap_p99'] - d['gap_p99']:.2f})"
                )
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

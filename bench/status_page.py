"""Benchmark: how fast the watcher's status page answers with 50 models and 500 runs of history.

Builds a synthetic provider (50 declared models, 45 of them with a bid on chain, 120 sessions of which 40 are
live, a plan made by the real planner), 500 run lines with transaction hashes, 30 days of figures and two
forwarder samples for 50 models; serves them with the real aiohttp server (reconciler.status.server) on loopback
with a token, and times GET / (the page), /fragment (a refresh) and /api/status (the data) over real HTTP.
A page load builds the document and renders it from memory: no chain call. Target: under 100 ms.

    .venv/bin/python bench/status_page.py [--requests 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.market.ids import norm_hex  # noqa: E402
from reconciler.observe.model import BidState, ModelState, ProviderState, SessionState  # noqa: E402
from reconciler.plan.planner import plan  # noqa: E402
from reconciler.status import daily  # noqa: E402
from reconciler.status.forwarder_figures import figures, parse  # noqa: E402
from reconciler.status.page import Observation, PageInputs, WatcherStatus, build_page  # noqa: E402
from reconciler.status.server import WatchServer  # noqa: E402
from reconciler.watch.metrics import WatchMetrics  # noqa: E402
from tests.support.planfactory import BASE_YAML, MOR, NOW, PROVIDER, desired_from, empty_chain, observed  # noqa: E402

MODELS, RUNS = 50, 500
TOKEN = "bench-page-token-0123456789abcdef0123"  # the watcher asks for 32 characters or more


def synthetic() -> PageInputs:
    models = "".join(
        f'  - name: model-{i:02d}\n    upstream: venice\n    upstreamModel: up-{i}\n    stake: "0.1 MOR"\n'
        f'    bid:\n      pricePerSecond: "0.0{1 + i % 9} MOR"\n'
        for i in range(MODELS)
    )
    head, _, rest = BASE_YAML.partition("models:")
    _, _, tail = rest.partition("proxy:")
    desired = desired_from(head + "models:\n" + models + "proxy:" + tail)
    assert len(desired.models) == MODELS
    provider = ProviderState(PROVIDER, "provider.example.com:3333", 2 * MOR // 10, NOW - 86400 * 30, 0, False, NOW)
    chain_models, bids, sessions = [], [], []
    for i, m in enumerate(desired.models):
        mid = norm_hex(m.model_id)
        chain_models.append(ModelState(mid, PROVIDER, m.name or m.key, ("llm",), 0, MOR // 10, created_at=NOW - 9999))
        if i < MODELS - 5:
            price = (1 + i % 9) * 10**16
            bid_id = "0x" + f"{i:064x}"
            bids.append(BidState(bid_id, PROVIDER, mid, price, 0, NOW - 5000))
    for k in range(120):
        b = bids[k % len(bids)]
        opened = NOW - 86400 * (k % 6) - 3600
        ends = opened + (7200 if k % 3 else 86400 * 7)
        sid = "0x" + f"{k + 1:064x}"
        sessions.append(SessionState(sid, b.bid_id, b.model_id, PROVIDER, MOR, b.price_per_second, 0, opened, ends))
    chain = empty_chain(
        provider=provider,
        models=tuple(chain_models),
        bids=tuple(bids),
        sessions=tuple(sorted(sessions, key=lambda s: -s.opened_at)),
        payer_allowance=100 * MOR,
    )
    p = plan(desired, observed(chain))
    runs = []
    for r in range(RUNS):
        line = {"event": "run", "ts": NOW - (RUNS - r) * 60.0, "trigger": ["timer"], "mode": "apply"}
        line |= {"result": "converged" if r % 7 == 0 else "no-changes", "actions": [], "txs": 0}
        if r % 7 == 0:
            line |= {"actions": [f"bid.post:{bids[r % len(bids)].model_id}"], "txs": 1}
            line |= {"txHashes": ["0x" + f"{r:064x}"], "morSpentWei": str(3 * 10**17), "alerts": ["applied"]}
        runs.append(line)
    days = {daily.day_of(NOW - k * 86400): daily.DayFigures(k * 10**17, (k % 3) * 10**17) for k in range(30)}

    def metrics(n: int) -> str:
        return "".join(
            f'morpheus_proxy_requests_total{{model="up-{i}",model_id="{m.model_id}",status="200"}} {n * (i + 1)}\n'
            f'morpheus_proxy_in_flight{{model="up-{i}",model_id="{m.model_id}"}} {i % 4}\n'
            f'morpheus_proxy_capacity{{model="up-{i}",model_id="{m.model_id}"}} 4\n'
            f'morpheus_proxy_request_duration_seconds_bucket{{model="up-{i}",model_id="{m.model_id}",le="0.5"}} {n}\n'
            f'morpheus_proxy_request_duration_seconds_bucket{{model="up-{i}",model_id="{m.model_id}",le="1"}} {2 * n}\n'
            for i, m in enumerate(desired.models)
        )

    return PageInputs(
        now=float(NOW),
        observation=Observation(desired, chain, p, "base-sepolia"),
        runs=runs,
        days=days,
        budget_limit=5 * MOR,
        spent_last_day=MOR,
        watcher=WatcherStatus(mode="apply"),
        forwarder=figures([parse(metrics(10), NOW - 60.0), parse(metrics(40), float(NOW))]),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=60)
    args = ap.parse_args()
    inputs = synthetic()
    server = WatchServer(WatchMetrics(), "127.0.0.1", 0, TOKEN, page=lambda: build_page(inputs)).start()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", headers=headers) as c:
            page = c.get("/")
            assert page.status_code == 200 and page.text.count('class="row"') == MODELS + 1, page.status_code
            print(f"page: {len(page.text) // 1024} KiB, {MODELS} models, {len(inputs.runs)} runs of history")
            for path in ("/", "/fragment", "/api/status"):
                times = []
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    r = c.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200
                times.sort()
                p95 = times[int(len(times) * 0.95) - 1]
                print(
                    f"GET {path:<12} p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms  max {times[-1]:6.1f} ms"
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()

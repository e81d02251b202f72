"""What `reconcile status` prints, in each of its formats, from one reading (reconciler.status.reading).

`text` and `json` render the status document (reconciler.status.model); `html` is the watcher's status page
as one self-contained file (no script, no network), with the watcher's last runs and day figures when its
--state-dir is given. The click command (commands/status.py) only prints what this returns.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

from reconciler.apply.writer import state_path
from reconciler.market.ids import norm_hex
from reconciler.observe.market import market_for_page
from reconciler.observe.router_health import judge_router
from reconciler.status import daily
from reconciler.status.board import RUNS_FILE, load_runs
from reconciler.status.html import render_page
from reconciler.status.model import build_status
from reconciler.status.page import Observation, PageInputs, build_page
from reconciler.status.reading import status_reading
from reconciler.status.serving import with_serving
from reconciler.status.text import render_endpoints, render_status
from reconciler.watch.ledger import SpendLedger


def status_document(
    path: Path, environ: Mapping[str, str] | None = None, state_dir: Path | None = None, write_index: bool = False
) -> dict[str, object]:
    """The status document (JSON and text), with the router's health from this reading (where `proxy.router` is
    set; its /healthcheck asked once) and the watcher's last judged serving health from the run lines in
    `state_dir` (the model index there too: written only with `write_index`)."""
    r = status_reading(path, environ, state_dir, write_index)
    doc = build_status(r.desired, r.chain, r.plan, r.slots)
    doc["network"] = r.network.name
    doc["endpoints"] = r.endpoints
    runs = load_runs(state_dir / RUNS_FILE) if state_dir is not None else []
    proxy = r.desired.proxy
    router = judge_router(proxy.router.url, r.router) if proxy is not None and proxy.router is not None else None
    return with_serving(doc, runs, time.time(), router)


def status_html(
    path: Path, state_dir: Path | None, environ: Mapping[str, str] | None = None, write_index: bool = False
) -> str:
    """The watcher's status page as one file: this reading, plus the watcher's runs and day figures if any."""
    r = status_reading(path, environ, state_dir, write_index)
    runs: list[dict[str, object]] = []
    days: dict[str, daily.DayFigures] = {}
    spent = 0
    if state_dir is not None:
        provider_dir = state_path(state_dir, r.network, r.desired.provider.address)
        runs = list(load_runs(state_dir / RUNS_FILE))
        days = daily.merge(daily.load(provider_dir / daily.FILE), daily.earned_by_day(r.chain))
        spent = SpendLedger(provider_dir / "spend.jsonl").spent_last_day()
    slots = [
        {
            "modelId": mid,
            "name": next((m.name or m.key for m in r.desired.models if norm_hex(m.model_id) == mid), mid[:10] + "…"),
            "inFlight": s.in_flight,
            "limit": s.limit,
            "requestsPerMinute": None,
            "errorsPerMinute": None,
            "latencyP50Ms": None,
        }
        for mid, s in sorted(r.slots.by_model.items())
    ]
    doc = build_page(
        PageInputs(
            now=time.time(),
            observation=Observation(
                r.desired, r.chain, r.plan, r.network.name, market=market_for_page(r.desired, r.network)
            ),
            runs=runs,
            days=days,
            budget_limit=r.desired.policy.max_spend_per_day,
            spent_last_day=spent,
            forwarder=slots,
            forwarder_note="" if r.slots.known else r.slots.note,
        )
    )
    return render_page(doc)


def status_output(
    path: Path,
    fmt: str,
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
    write_index: bool = False,
) -> str:
    """The whole output of `reconcile status --format fmt` (raises what the reading raises); the model index in
    `state_dir` is written only with `write_index` (`--state-dir` given)."""
    if fmt == "html":
        return status_html(path, state_dir, environ, write_index)
    doc = status_document(path, environ, state_dir, write_index)
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    return render_status(doc) + render_endpoints(doc)

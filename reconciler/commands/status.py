"""`reconcile status PATH [--format text|json|html]`: the provider's business on one screen.

One chain reading with every session (what is claimable needs old ended sessions too), the plan made from
that same reading (drift), and the forwarder's slots from its /metrics when `proxy.adminUrl` is set.
Read-only: nothing is sent, no lock is taken. `html` writes the watcher's status page as one self-contained
file (no script, no network), with the watcher's last runs and day figures when its --state-dir is given.
The reading (web3, httpx) is imported when the command runs, so `reconcile --help` starts without it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.chain.networks import Network, resolve_network
from reconciler.commands.options import state_dir_option
from reconciler.commands.outcome import EXIT_OK, handled
from reconciler.desired.loader import load_desired
from reconciler.desired.model import Desired
from reconciler.desired.references import resolve
from reconciler.market.ids import norm_hex
from reconciler.observe.model import ChainState, Observed
from reconciler.plan.model import Plan
from reconciler.plan.planner import plan
from reconciler.watch.ledger import SpendLedger

if TYPE_CHECKING:
    from reconciler.chain.reader import ChainReader
    from reconciler.observe.slots import SlotsReading


@dataclass(frozen=True)
class StatusReading:
    desired: Desired
    network: Network
    chain: ChainState
    plan: Plan
    slots: SlotsReading
    endpoints: list[dict[str, object]]  # each RPC endpoint's health, by label (chain/pool.py)


def status_reading(path: Path, environ: Mapping[str, str] | None = None) -> StatusReading:
    """Load, observe (all sessions), plan and read slots (raises ValidationFailed, NetworkError, ...)."""
    from reconciler.chain.reader import ChainReader
    from reconciler.observe.proxy import observe_proxy, observe_router
    from reconciler.observe.slots import read_slots
    from reconciler.observe.world import resolve_refs

    env = os.environ if environ is None else environ
    desired, _warnings = load_desired(path)
    network = resolve_network(desired.network, env)
    reader = ChainReader.connect(network)
    chain = reader.observe(desired, all_sessions=True)
    observed = Observed(
        chain=chain,
        proxy=observe_proxy(desired, env),
        router=observe_router(desired),
        refs=resolve_refs(desired, env),
        now=chain.block_timestamp,
    )
    p = plan(desired, observed)
    proxy = desired.proxy
    token = resolve(proxy.admin_token, env) if proxy and proxy.admin_token else None
    slots = read_slots(proxy.admin_url if proxy else None, token)
    return StatusReading(desired, network, chain, p, slots, endpoint_health(reader))


def endpoint_health(reader: ChainReader) -> list[dict[str, object]]:
    """Each RPC endpoint's state by its label (several: each one's head is looked at once more)."""
    from reconciler.chain.pool import pool_of

    pool = pool_of(reader.w3.provider)
    if pool is None:
        return []
    pool.refresh_heads(force=True)
    return [h.as_dict() for h in pool.health]


def render_endpoints(doc: Mapping[str, object]) -> str:
    """One text line when there are several endpoints: each one's label, state, head or error."""
    rows = doc.get("endpoints") or []
    assert isinstance(rows, list)
    if len(rows) < 2:
        return ""
    parts = []
    for r in rows:
        head = f" at block {r['head']}" if r.get("head") is not None else ""
        why = f" ({r['error']})" if r.get("state") == "down" and r.get("error") else ""
        parts.append(f"{r['endpoint']} {r['state']}{head}{why}")
    return "RPC endpoints: " + "; ".join(parts) + "\n"


def status_document(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """The status document (JSON and text)."""
    from reconciler.sessions.status import build_status

    r = status_reading(path, environ)
    doc = build_status(r.desired, r.chain, r.plan, r.slots)
    doc["network"] = r.network.name
    doc["endpoints"] = r.endpoints
    return doc


def status_html(path: Path, state_dir: Path | None, environ: Mapping[str, str] | None = None) -> str:
    """The watcher's status page as one file: this reading, plus the watcher's runs and day figures if any."""
    from reconciler.apply.writer import state_path
    from reconciler.render.html import render_page
    from reconciler.watch import daily
    from reconciler.watch.board import RUNS_FILE, load_runs
    from reconciler.watch.page import Observation, PageInputs, build_page

    r = status_reading(path, environ)
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
            observation=Observation(r.desired, r.chain, r.plan, r.network.name),
            runs=runs,
            days=days,
            budget_limit=r.desired.policy.max_spend_per_day,
            spent_last_day=spent,
            forwarder=slots,
            forwarder_note="" if r.slots.known else r.slots.note,
        )
    )
    return render_page(doc)


@click.command("status")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@state_dir_option("html: the watcher's state directory, for its last runs and the 30-day chart (read only).")
def status_cmd(path: Path, fmt: str, state_dir: Path) -> None:
    """Show the provider on one screen: stake, bids and prices, slots, live sessions, earnings, claimable, drift."""
    sys.exit(run_status(path, fmt, state_dir=state_dir))


@handled
def run_status(path: Path, fmt: str, environ: Mapping[str, str] | None = None, state_dir: Path | None = None) -> int:
    from reconciler.sessions.status import render_status

    if fmt == "html":
        click.echo(status_html(path, state_dir, environ), nl=False)
        return EXIT_OK
    doc = status_document(path, environ)
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(render_status(doc) + render_endpoints(doc), nl=False)
    return EXIT_OK

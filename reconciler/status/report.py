"""What `reconcile status` prints, in each of its formats, from one reading (reconciler.status.reading).

`text` and `json` render the status document (reconciler.status.model); `html` is the watcher's status page
as one self-contained file (no script, no network), with the watcher's last runs and day figures when its
--state-dir is given. On a fleet folder, one member in full, or every member in one table (reconciler.status.fleet). The click command (commands/status.py) only prints what this returns.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler import ReconcileError
from reconciler.apply.writer import state_path
from reconciler.desired.fleet import load_fleet
from reconciler.market.ids import norm_hex
from reconciler.observe.market import market_for_page
from reconciler.observe.router_health import judge_router
from reconciler.status import daily, usage_days
from reconciler.status.board import RUNS_FILE, load_runs
from reconciler.status.fleet import MemberStatus, fleet_document, render_fleet
from reconciler.status.html import render_page
from reconciler.status.margins import margin_section
from reconciler.status.model import build_status
from reconciler.status.page import FleetPlace, Observation, PageInputs, build_page
from reconciler.status.reading import StatusReading, fleet_readings, reading_of, status_reading
from reconciler.status.serving import with_serving
from reconciler.status.text import render_endpoints, render_status
from reconciler.watch.ledger import SpendLedger


def status_document(
    path: Path, environ: Mapping[str, str] | None = None, state_dir: Path | None = None, write_index: bool = False
) -> dict[str, object]:
    """The status document (JSON and text), with the router's health from this reading (where `proxy.router` is
    set; its /healthcheck asked once) and the watcher's last judged serving health from the run lines in
    `state_dir` (the model index there too: written only with `write_index`)."""
    return _document(status_reading(path, environ, state_dir, write_index), state_dir)


def _document(r: StatusReading, state_dir: Path | None) -> dict[str, object]:
    doc = build_status(r.desired, r.chain, r.plan, r.slots)
    doc["network"] = r.network.name
    doc["endpoints"] = r.endpoints
    if not r.rating.is_default:
        doc["weights"] = r.rating.source  # the host's rating config: said, since the drift's prices rank with it
    doc["margins"] = margin_section(r.desired, r.chain, usage_by_day(r, state_dir).days, r.ref_values, _source(r))
    runs = load_runs(state_dir / RUNS_FILE) if state_dir is not None else []
    proxy = r.desired.proxy
    router = judge_router(proxy.router.url, r.router) if proxy is not None and proxy.router is not None else None
    return with_serving(doc, runs, time.time(), router)


def usage_by_day(r: StatusReading, state_dir: Path | None) -> usage_days.UsageDays:
    """The watcher's usage ledger in `state_dir` (if any) with this reading of the forwarder folded in (in memory:
    status writes nothing), on the chain's day."""
    ledger = usage_days.UsageDays()
    if state_dir is not None:
        ledger = usage_days.load(state_path(state_dir, r.network, r.desired.provider.address) / usage_days.FILE)
    if not r.slots.known:
        return ledger
    return usage_days.fold(ledger, r.slots.usage, daily.day_of(r.chain.block_timestamp))


def _source(r: StatusReading) -> str:
    return "forwarder /metrics" if r.slots.known else f"unknown ({r.slots.note})"


def status_html(
    path: Path, state_dir: Path | None, environ: Mapping[str, str] | None = None, write_index: bool = False
) -> str:
    """The watcher's status page as one file: this reading, plus the watcher's runs and day figures if any."""
    return _html(status_reading(path, environ, state_dir, write_index), state_dir)


def _html(r: StatusReading, state_dir: Path | None, fleet: FleetPlace | None = None) -> str:
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
                r.desired,
                r.chain,
                r.plan,
                r.network.name,
                market=market_for_page(r.desired, r.network, r.rating),
                ref_values=r.ref_values,
            ),
            runs=runs,
            days=days,
            budget_limit=r.desired.policy.max_spend_per_day,
            spent_last_day=spent,
            forwarder=slots,
            forwarder_note="" if r.slots.known else r.slots.note,
            fleet=fleet,
            usage=usage_by_day(r, state_dir).days,
            usage_source=_source(r),
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
    return _formatted(status_document(path, environ, state_dir, write_index), fmt)


def _formatted(doc: dict[str, object], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    return render_status(doc) + render_endpoints(doc)


def fleet_status_output(
    path: Path,
    fmt: str,
    providers: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
    write_index: bool = False,
) -> tuple[str, bool]:
    """`reconcile status` on a fleet folder: one member in full (one --provider), or every selected member in one
    table, the members of one network read together; and whether every member could be read (raises what loading raises)."""
    env = os.environ if environ is None else environ
    fleet = load_fleet(path, env)
    if len(providers) == 1:
        member = fleet.member(providers[0])
        r = reading_of(member.desired, env, state_dir, write_index)
        if fmt == "html":
            return _html(r, state_dir, FleetPlace.of(fleet, member.name)), True
        return _formatted(_document(r, state_dir), fmt), True
    assert fmt != "html", "a page is one member's (commands/status.py asks for one --provider)"
    members = []
    readings = fleet_readings(
        [(m.name, m.desired) for m in fleet.select(providers).members], env, state_dir, write_index
    )
    for name, got in readings.items():
        if isinstance(got, ReconcileError):  # this member's network or proxy: the others are still shown
            members.append(MemberStatus(name, error=str(got)))
            continue
        doc = build_status(got.desired, got.chain, got.plan, got.slots)
        doc["network"] = got.network.name
        members.append(MemberStatus(name, doc))
    doc = fleet_document(members)
    text = json.dumps(doc, indent=2) + "\n" if fmt == "json" else render_fleet(doc)
    return text, not doc["unreadable"]

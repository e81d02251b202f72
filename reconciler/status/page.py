"""The status page as data: one JSON-ready document built purely from what the watcher already holds.

Why one document: the served page, its `/api/status` data endpoint, its refreshes and `reconcile status --format
html` all render this value (reconciler.status.html), so they cannot disagree. Inputs are the last observation
(desired state, chain reading, plan), the last runs' lines, the day figures, the rolling-day spend and the
forwarder's figures; nothing here reads a clock, a file or the network. Secrets are never inputs: run lines and
plans carry fingerprints only, and no RPC URL or token is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.desired.fleet import Fleet
from reconciler.desired.model import Desired
from reconciler.market.margin import Usage
from reconciler.observe.model import ChainState
from reconciler.observe.slots import SlotsReading
from reconciler.observe.upstream_health import UpstreamHealth
from reconciler.plan.context import utc
from reconciler.plan.model import Plan
from reconciler.render.market import ours_line, unread_line
from reconciler.sessions import rules as session_rules
from reconciler.status import daily, places
from reconciler.status.margins import margin_section
from reconciler.status.model import accrued_since, build_status, money
from reconciler.status.serving import age, last_health

DAY = 86_400
RUNS_SHOWN = 20
# where a transaction hash links to, by chain id (none for the devnet: it has no explorer)
EXPLORERS: Mapping[int, str] = {
    8453: "https://basescan.org/tx/",
    84532: "https://sepolia.basescan.org/tx/",
    42161: "https://arbiscan.io/tx/",
    421614: "https://sepolia.arbiscan.io/tx/",
    1: "https://etherscan.io/tx/",
    11155111: "https://sepolia.etherscan.io/tx/",
}


@dataclass(frozen=True)
class Observation:
    """What the last run saw: the plan and the reading it was made from."""

    desired: Desired
    chain: ChainState
    plan: Plan
    network: str
    upstreams: Mapping[str, UpstreamHealth] = field(default_factory=dict)  # each model's upstream, by its name
    market: Mapping[str, Any] | None = None  # the market document (reconciler.market.report); None: not read
    ref_values: Mapping[str, str | None] = field(default_factory=dict)  # morUsd references as read (margins)


@dataclass(frozen=True)
class WatcherStatus:
    """How the watcher stands now: its mode and what stops it from applying."""

    mode: str = "alert-only"
    suspended: bool = False
    writer_conflict: bool = False
    failures: int = 0
    retry_after: float | None = None  # unix time the next apply may start, while backing off
    stopped_after_failures: bool = False
    low_funds: tuple[str, ...] = ()
    last_error: str = ""
    git_blocked: str = ""  # the refused pull's reason: the checkout stays on an old commit
    desired_invalid: str = ""  # the files on disk are invalid (the last good state, if any, stays in force)
    blocked_manual: str = ""  # the manual step the watcher waits for
    held: tuple[str, ...] = ()  # changes held back: "action: why"


@dataclass(frozen=True)
class FleetPlace:
    """The fleet a watcher's provider belongs to: its name in fleet.yaml, and the other members with the address of
    their watcher's page (None: not declared), so one page leads to the others."""

    provider: str
    others: tuple[tuple[str, str | None], ...] = ()

    @staticmethod
    def of(fleet: Fleet, name: str) -> FleetPlace:
        """The member `name` of `fleet`, and the others with the page fleet.yaml declares (`statusUrl`)."""
        return FleetPlace(name, tuple((m.name, m.status_url) for m in fleet.members if m.name != name))


def _page_link(url: str | None) -> str | None:
    """Only an http(s) address becomes a link (a `javascript:` one from a pull request never does)."""
    return url if url is not None and url.lower().startswith(("https://", "http://")) else None


@dataclass(frozen=True)
class PageInputs:
    now: float
    observation: Observation | None
    runs: Sequence[Mapping[str, Any]] = ()
    days: daily.Days = field(default_factory=dict)
    budget_limit: int | None = None
    spent_last_day: int = 0
    watcher: WatcherStatus | None = None
    forwarder: Sequence[Mapping[str, Any]] = ()
    forwarder_note: str = ""  # why the last read of its /metrics failed ("" when it worked)
    forwarder_seen_at: float | None = None  # when the newest figures were read (None: never)
    runs_shown: int | None = RUNS_SHOWN  # the last this many runs; None: every run kept (the page's ?runs=all)
    fleet: FleetPlace | None = None  # a fleet member's watcher: its name and the others' pages (None: one provider)
    usage: Mapping[str, Mapping[str, Usage]] = field(default_factory=dict)  # the forwarder's usage by day (margins)
    usage_source: str = "forwarder /metrics"


def _run_entry(line: Mapping[str, Any], explorer: str | None) -> dict[str, Any]:
    hashes = [str(h) for h in line.get("txHashes") or []]
    spent = int(line.get("morSpentWei") or 0)
    return {
        "ts": line.get("ts"),
        "time": utc(int(line.get("ts") or 0)),
        "trigger": list(line.get("trigger") or []),
        "mode": line.get("mode"),
        "result": line.get("result"),
        "actions": list(line.get("actions") or []),
        "txs": [{"hash": h, "url": explorer + h if explorer else None} for h in hashes],
        "txCount": int(line.get("txs") or 0),
        "morSpent": money(spent),
        "alerts": list(line.get("alerts") or []),
        "error": line.get("error"),
        "warnings": [str(x) for x in line.get("warnings") or []],  # e.g. invalid files, the last good state used
    }


def _alerts(w: WatcherStatus | None, now: float) -> list[dict[str, str]]:
    if w is None:
        return []
    out = [{"event": "low-funds", "text": x} for x in w.low_funds]
    if w.git_blocked:
        out.append({"event": "git-blocked", "text": f"git pull refused, the checkout stays as it is: {w.git_blocked}"})
    if w.desired_invalid:
        out.append({"event": "invalid-desired-state", "text": w.desired_invalid})
    if w.blocked_manual:
        out.append({"event": "blocked-manual", "text": w.blocked_manual})
    out += [{"event": "held", "text": x} for x in w.held]
    if w.writer_conflict:
        out.append({"event": "writer-conflict", "text": "another writer uses the signer's key: only reporting "
                    "until `reconcile watch --resume`"})  # fmt: skip
    if w.suspended:
        out.append(
            {"event": "suspended", "text": "auto-apply suspended (policy.suspend or `reconcile watch --suspend`)"}
        )
    if w.stopped_after_failures:
        out.append({"event": "backoff", "text": f"stopped applying after {w.failures} failures in a row, until the "
                    "desired state changes or `reconcile watch --resume`"})  # fmt: skip
    elif w.failures and w.retry_after is not None:
        wait = max(int(w.retry_after - now), 0)
        out.append({"event": "backoff", "text": f"backing off after {w.failures} failure(s): next apply in {wait} s"})
    return out


def _sessions(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": m["name"],
            "modelId": m["modelId"],
            "live": m["liveSessions"],
            "until": m["liveUntil"],
            "untilTime": utc(m["liveUntil"]) if m["liveUntil"] else None,
            "earnedToday": m["earnedToday"],
        }
        for m in status["models"]
    ]


MARKET_BIDS_SHOWN = 5  # per model on the page; `reconcile market` shows them all


def market_weights(market: Mapping[str, Any]) -> str:
    """Which weights the market panel ranks with: the host's rating config's name, or the router's defaults."""
    return str(market.get("weightsSource") or "the router's default weights")


def market_panel(market: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each model's best bids and where we stand, from the market document: the page's small market section."""
    out = []
    for m in market.get("models", []):
        bids = m["bids"]
        shown = bids[:MARKET_BIDS_SHOWN] + [b for b in bids[MARKET_BIDS_SHOWN:] if b["ours"]]
        out.append(
            {
                "name": m["name"],
                "modelId": m["modelId"],
                "bidCount": len(bids),
                "unread": m.get("unreadBids", 0),
                "unreadNote": unread_line(m.get("unreadBids", 0)),
                "ours": ours_line(m["ours"]),
                "rank": m["ours"]["rank"],
                "bids": [
                    {
                        "rank": b["rank"],
                        "provider": b["provider"],
                        "ours": b["ours"],
                        "price": b["price"]["morPerSecond"],
                        "quality": round(b["quality"], 4),
                        "score": round(b["score"], 2),
                    }
                    for b in shown
                ],
            }
        )
    return out


def chart_days(days: daily.Days, now: float) -> list[dict[str, Any]]:
    return [
        {
            "day": day,
            "earned": money(f.earned_wei),
            "spent": money(f.spent_wei),
            "hasData": bool(f.earned_wei or f.spent_wei),
        }
        for day, f in daily.last_days(days, now)
    ]


def build_page(i: PageInputs) -> dict[str, Any]:
    """Pure: the page document (JSON-ready; money as {"wei", "mor"})."""
    obs = i.observation
    doc: dict[str, Any] = {"generatedAt": utc(int(i.now)), "ready": obs is not None}
    explorer = None
    if obs is not None:
        chain = obs.chain
        explorer = EXPLORERS.get(chain.chain_id)
        status = build_status(obs.desired, chain, obs.plan, SlotsReading(False))
        week = session_rules.start_of_day(chain.block_timestamp) - 6 * DAY
        earnings = status["earnings"]
        doc.update(
            {
                "network": obs.network,
                "chainId": chain.chain_id,
                "explorer": explorer is not None,
                "block": status["block"],
                "provider": status["provider"],
                "rows": places.with_upstreams(places.rows(obs.desired, obs.plan, chain), obs.upstreams),
                "planErrors": status["drift"]["errors"],
                "sessions": _sessions(status),
                "liveSessions": status["liveSessions"],
                "market": market_panel(obs.market) if obs.market is not None else None,
                "marketWeights": market_weights(obs.market) if obs.market is not None else None,
                "margins": margin_section(obs.desired, chain, i.usage, obs.ref_values, i.usage_source),
                "money": {
                    "earnedToday": money(accrued_since(chain, session_rules.start_of_day(chain.block_timestamp))),
                    "earnedWeek": money(accrued_since(chain, week)),
                    "claimable": earnings["claimableNow"] if earnings else money(0),
                    "capRoom": earnings["capRoom"] if earnings else money(0),
                    "heldByCap": earnings["heldByCap"] if earnings else money(0),
                },
            }
        )
    w = i.watcher
    doc["watcher"] = (
        None if w is None else {"mode": w.mode, "suspended": w.suspended, "writerConflict": w.writer_conflict}
    )
    doc["alerts"] = _alerts(w, i.now)
    doc["lastError"] = w.last_error if w else ""
    doc["budget"] = (
        None
        if i.budget_limit is None
        else {
            "limit": money(i.budget_limit),
            "spentLastDay": money(i.spent_last_day),
            "left": money(max(i.budget_limit - i.spent_last_day, 0)),
        }
    )
    runs = (list(i.runs) if i.runs_shown is None else list(i.runs)[-i.runs_shown :])[::-1]
    doc["runs"] = [_run_entry(r, explorer) for r in runs]  # newest first
    doc["runsKnown"] = len(i.runs)
    doc["allRuns"] = i.runs_shown is None
    names = {r["id"]: r["name"] for r in doc.get("rows", []) if r["kind"] == "model"}
    forwarder = [
        dict(f) | {"upstreamModel": f.get("name"), "name": names.get(str(f.get("modelId")), f.get("name"))}
        for f in i.forwarder
    ]
    doc["forwarder"] = {"models": forwarder, "note": i.forwarder_note}
    if i.forwarder_note and forwarder and i.forwarder_seen_at is not None:  # the last read failed: not current
        doc["forwarder"] = {
            "models": [],
            "note": i.forwarder_note,
            "stale": {"lastSeenAgo": age(i.now - i.forwarder_seen_at)},
        }
    doc["health"] = last_health(i.runs, i.now)  # the forwarder, upstreams and router as the last run judged them
    doc["chart"] = chart_days(i.days, i.now)
    if i.fleet is not None:  # absent for a single provider: its document is as it was
        doc["fleet"] = {
            "provider": i.fleet.provider,
            "others": [{"name": name, "url": _page_link(url)} for name, url in i.fleet.others],
        }
    return doc

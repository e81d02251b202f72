"""The provider and each model as rows, with their state in each of the four places: desired, chain, forwarder,
router. Pure, from the desired state, the plan and the chain reading the plan was made from.

Why from the plan: the plan already says what differs and why (pending, held by the churn guard, draining while
sessions run, unmanaged, an error), so a row is the plan's actions grouped by what they act on. A place with no
action is in sync, but a forwarder the plan could not read is down. A row's state is its worst place's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.desired.model import Desired
from reconciler.market.ids import norm_hex
from reconciler.market.units import format_mor
from reconciler.observe.model import ChainState
from reconciler.observe.upstream_health import UpstreamHealth
from reconciler.plan.context import utc
from reconciler.plan.model import CHAIN_KINDS, Action, ProxyFile, Status, model_of, proxy_of
from reconciler.plan.model import Plan as PlanT

PLACES = ("desired", "chain", "forwarder", "router")
# worst first: a row shows the first of these that any of its places is in
SEVERITY = ("error", "down", "degraded", "pending", "held", "draining", "unmanaged", "in sync", "n/a")
HOUR = 3600


def _worst(states: Iterable[str]) -> str:
    found = set(states)
    return next((s for s in SEVERITY if s in found), "in sync")


def _place(actions: list[Action], chain: ChainState | None, model_id: str | None) -> dict[str, Any]:
    """One place's state from the actions on it."""
    if not actions:
        return {"state": "in sync"}
    errors = [e for a in actions if a.status is not Status.UNMANAGED for e in a.errors]
    if errors:
        return {"state": "error", "detail": "; ".join(errors), "actions": [a.id for a in actions]}
    pending = [a for a in actions if a.pending]
    if pending:
        return {"state": "pending", "detail": "; ".join(a.reason for a in pending), "actions": [a.id for a in pending]}
    draining = [a for a in actions if a.status is Status.DRAINING]
    if draining:
        until = max((a.until for a in draining if a.until is not None), default=None)
        return {
            "state": "draining",
            "detail": draining[0].reason,
            "until": until,
            "untilTime": utc(until) if until is not None else None,
            "sessions": _live_sessions(chain, model_id),
            "actions": [a.id for a in draining],
        }
    held = [a for a in actions if a.status in (Status.HELD, Status.MANUAL, Status.RESTART_REQUIRED)]
    if held:
        return {"state": "held", "detail": "; ".join(a.reason for a in held), "actions": [a.id for a in held]}
    return {"state": "unmanaged", "detail": actions[0].reason, "actions": [a.id for a in actions]}


def _unread(place: dict[str, Any], unchecked: str) -> dict[str, Any]:
    """A forwarder whose admin API could not be read is down, whatever the plan says of its file: never in sync."""
    detail = place.get("detail")
    return {**place, "state": "down", "detail": f"{unchecked}; {detail}" if detail else unchecked}


def _live_sessions(chain: ChainState | None, model_id: str | None) -> int:
    """Live sessions on any of a model's bids, deleted ones included (what keeps it draining)."""
    if chain is None or model_id is None:
        return 0
    now = chain.block_timestamp
    mine = [b for b in chain.bids if norm_hex(b.model_id) == model_id]
    on_bids = {ls.session_id for b in mine for ls in b.live_sessions if ls.ends_at > now}
    read = {s.session_id for s in chain.live_sessions() if norm_hex(s.model_id) == model_id}
    return len(on_bids | read)


def _entry_ids(a: Action) -> set[str]:
    """The model ids of the entries a proxy write carries (a file-level action acts on them)."""
    entries = (a.after or {}).get("entries") or []
    return {norm_hex(str(e.get("modelId"))) for e in entries if isinstance(e, dict) and e.get("modelId")}


def _where(a: Action) -> str:
    if a.kind in CHAIN_KINDS:
        return "chain"
    return "router" if proxy_of(a.subject) is ProxyFile.ROUTER else "forwarder"


def rows(desired: Desired, plan: PlanT, chain: ChainState | None) -> list[dict[str, Any]]:
    """The provider's row, then one per model (declared ones in the YAML's order, then what only the chain or a
    proxy file still has)."""
    by_model: dict[str, list[Action]] = {}
    provider_actions: list[Action] = []
    for a in plan.actions:
        mid = model_of(a.subject)
        ids = {norm_hex(mid)} if mid else (_entry_ids(a) if a.kind.value.startswith("proxy.") else set())
        if not ids:
            provider_actions.append(a)
        for i in ids:
            by_model.setdefault(i, []).append(a)
    has_forwarder = desired.proxy is not None
    has_router = desired.proxy is not None and desired.proxy.router is not None

    def places(actions: list[Action], model_id: str | None, wanted: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"desired": wanted}
        for where in ("chain", "forwarder", "router"):
            mine = [a for a in actions if _where(a) == where]
            configured = where == "chain" or (has_forwarder if where == "forwarder" else has_router)
            out[where] = _place(mine, chain, model_id) if configured or mine else {"state": "n/a"}
        if has_forwarder and (unchecked := plan.proxy_unchecked) is not None:
            out["forwarder"] = _unread(out["forwarder"], unchecked)
        return out

    p = desired.provider
    provider_places = places(
        provider_actions,
        None,
        {"state": "absent" if p.absent else "declared", "detail": f"{p.endpoint}, stake {format_mor(p.stake)}"},
    )
    out = [
        {
            "kind": "provider",
            "name": "provider",
            "id": p.address,
            "state": _worst(v["state"] for k, v in provider_places.items() if k != "desired"),
            "places": provider_places,
        }
    ]
    seen: set[str] = set()
    for m in desired.models:
        mid = norm_hex(m.model_id)
        seen.add(mid)
        price = plan_price(plan, mid)
        if price is None and chain is not None:
            price = next((b.price_per_second for b in chain.active_bids() if norm_hex(b.model_id) == mid), None)
        detail = "absent: to be removed" if m.absent else (f"bid {format_mor(price * HOUR, 6)}/h" if price else "")
        wanted = {"state": "absent" if m.absent else "declared", "detail": detail}
        out.append(_model_row(m.name or m.key, mid, places(by_model.get(mid, []), mid, wanted)))
    others = list(by_model)
    if chain is not None:
        others += [norm_hex(b.model_id) for b in chain.active_bids()]
        others += [norm_hex(s.model_id) for s in chain.live_sessions()]
    for mid in dict.fromkeys(others):
        if mid in seen:
            continue
        seen.add(mid)
        on_chain = chain.model(mid) if chain is not None else None
        name = (on_chain.name if on_chain else "") or mid[:10] + "…"
        row_places = places(by_model.get(mid, []), mid, {"state": "undeclared"})
        if not by_model.get(mid):
            row_places["chain"] = {"state": "unmanaged", "detail": "on chain, not in the desired state"}
        out.append(_model_row(name, mid, row_places))
    return out


def _model_row(name: str, mid: str, places: dict[str, Any]) -> dict[str, Any]:
    state = _worst(v["state"] for k, v in places.items() if k != "desired")
    return {"kind": "model", "name": name, "id": mid, "state": state, "places": places}


def plan_price(plan: PlanT, model_id: str) -> int | None:
    """The price per second the plan posts for a model (pending or not), else None."""
    for a in plan.actions:
        if a.kind.value == "bid.post" and (mid := model_of(a.subject)) and norm_hex(mid) == model_id:
            price = (a.after or {}).get("pricePerSecond")
            return int(price) if isinstance(price, int) else None
    return None


def with_upstreams(rows_: list[dict[str, Any]], healths: Mapping[str, UpstreamHealth]) -> list[dict[str, Any]]:
    """The rows with each model's upstream health in its forwarder cell (matched by model id, or by the name the
    forwarder labels it with where it gives no id): a down upstream makes the cell red `down`, a degraded one amber `degraded`, with why; whatever the
    plan said of the cell is kept in its detail, and a worse state of the plan's stays."""
    out = []
    for row in rows_:
        h = _upstream_of(row, healths) if row.get("kind") == "model" else None
        if h is None or h.state not in ("down", "degraded"):
            out.append(row)
            continue
        place = row["places"]["forwarder"]
        detail = place.get("detail")
        upstream = f"upstream {h.state}: {h.why}"
        state = _worst((place.get("state", "in sync"), h.state))
        cell = {
            **place,
            "state": state,
            "upstream": h.to_json(),
            "detail": f"{upstream}; {detail}" if detail else upstream,
        }
        places = {**row["places"], "forwarder": cell}
        out.append({**row, "places": places, "state": _worst(v["state"] for k, v in places.items() if k != "desired")})
    return out


def _upstream_of(row: dict[str, Any], healths: Mapping[str, UpstreamHealth]) -> UpstreamHealth | None:
    by_id = next((h for h in healths.values() if h.model_id and h.model_id == norm_hex(str(row["id"]))), None)
    return by_id or next((h for h in healths.values() if not h.model_id and h.model == row["name"]), None)

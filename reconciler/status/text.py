"""`reconcile status` as text: the status document (reconciler.status.model) on one screen, then the RPC
endpoints' health when there are several. Every line goes through `escape_controls`: a model's name read from
the chain cannot act on the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.plan.context import utc
from reconciler.render.controls import escape_controls


def render_status(doc: dict[str, Any]) -> str:
    """The status document as one screen of text."""
    prov = doc["provider"]
    lines = [
        f"provider {prov['address']} on {doc['network']} (chain {doc['chainId']}) at block "
        f"{doc['block']['number']}, {doc['block']['time']}",
    ]
    if prov["registered"]:
        lines.append(f"  endpoint {prov['endpoint']}, stake {prov['stake']['mor']}")
    else:
        lines.append("  not registered on this chain")
    lines.append("")
    lines.append(f"  {'model':<22} {'bid price':<32} {'slots':<13} {'live':>4}  {'earned today':<16} success")
    for m in doc["models"]:
        if m["bids"]:
            price = "; ".join(f"{b['pricePerSecond']['mor']}/s = {b['pricePerHour']['mor']}/h" for b in m["bids"])
        else:
            price = "no bid"
        slots = f"{m['slots']['inFlight']}/{m['slots']['limit'] or 'unlim.'}" if m["slots"] else "unknown"
        ratio = m["successRatio"]
        success = (
            "no closed sessions"
            if ratio is None
            else f"{ratio['success']}/{ratio['total']} ({100 * ratio['success'] // ratio['total']}%)"
        )
        name = m["name"] + _label(m)
        lines.append(
            f"  {name:<22} {price:<32} {slots:<13} {m['liveSessions']:>4}  {m['earnedToday']['mor']:<16} {success}"
        )
        if m["bids"]:
            lines.append(f"    bid {', '.join(b['bidId'] for b in m['bids'])}")
    if not doc["models"]:
        lines.append("  (no models)")
    lines.append(f"  slots: {doc['slotsSource']}")
    if doc.get("weights"):
        lines.append(f"  weights: {doc['weights']} (--weights or RECONCILE_WEIGHTS; bid.market prices rank with them)")
    lines.append("")
    e = doc["earnings"]
    if e is not None:
        period = f" (period ends {_utc_or_new(e['periodEnds'])})"
        lines.append(f"live sessions {doc['liveSessions']}; earned today {e['earnedToday']['mor']}")
        lines.append(f"claimed this period {e['claimedThisPeriod']['mor']}{period}")
        lines.append(
            f"claimable now {e['claimableNow']['mor']} from {e['claimableSessions']} session(s) (`reconcile claim`)"
        )
        lines.append(f"room left under the stake cap {e['capRoom']['mor']}")
        if e["heldByCap"]["wei"] > 0:
            lines.append(
                f"earned but held back by the stake cap {e['heldByCap']['mor']}: claimable once a new period "
                "starts (or raise provider.stake)"
            )
    lines.extend(_margins(doc))
    fwd = doc.get("forwarder") or {}
    if fwd:
        lines.append(f"forwarder: {fwd['state']}" + (f" ({fwd['why']})" if fwd.get("why") else ""))
    lines.extend(_serving(doc))
    d = doc["drift"]
    if d["drift"]:
        lines.append(f"drift: yes, {len(d['pending'])} pending action(s) (`reconcile plan` for details)")
        for a in d["pending"][:10]:
            lines.append(f"  {a['verb']:<7} {a['id']}")
        if len(d["pending"]) > 10:
            lines.append(f"  … and {len(d['pending']) - 10} more")
    elif fwd.get("state") == "down":
        lines.append("drift: none on the chain or in the files (the proxy was not checked)")
    else:
        lines.append("drift: no")
    for err in d["errors"]:
        lines.append(f"error in the plan: {err}")
    for note in doc.get("chainNotes") or ():
        lines.append(f"warning: {note}")
    return "".join(escape_controls(line) + "\n" for line in lines)


def _margins(doc: Mapping[str, Any]) -> list[str]:
    """Today's margin per model (reconciler.status.margins): MOR earned and its USD value, the upstream's cost
    for the measured tokens or the subscription's share, the margin, and how busy the slots were."""
    section = doc.get("margins")
    if not section or not section.get("days"):
        return []
    today = section["days"][-1]
    out = [f"margins today ({today['day']} UTC, {today['spanSeconds']} s so far; usage from {section['usageSource']})"]
    for m in today["models"]:
        t = m["tokens"]
        earned = m["earned"]["mor"] + (f" = {m['earnedUsd']} USD" if m["earnedUsd"] is not None else "")
        if m["upstreamCostUsd"] is None:
            cost = "cost unknown (no cost model)" if m["costBasis"] is None else "cost unknown (morUsd not known here)"
        else:
            cost = f"cost {m['upstreamCostUsd']} USD ({m['costBasis']})"
        margin = f", margin {m['marginUsd']} USD" if m["marginUsd"] is not None else ""
        busy = f", slots {100 * m['slotUtilisation']:.2f}% busy" if m["slotUtilisation"] is not None else ""
        out.append(f"  {m['name']}: earned {earned}, {cost}{margin}")
        out.append(
            f"    tokens {t['prompt']} prompt ({t['cached']} cached, {t['cacheWrite']} cache writes), "
            f"{t['completion']} completion; served {m['servedSeconds']} s{busy}"
        )
    return out


def _serving(doc: Mapping[str, Any]) -> list[str]:
    """The router as probed now, then the upstreams and router as the watcher's last run judged them."""
    out = [f"router: {_state(doc['router'])}"] if doc.get("router") else []
    if "watcherHealth" not in doc:
        return out
    h = doc["watcherHealth"]
    if h is None:
        return [*out, "upstream health: judged only by a running watcher (`reconcile watch`), from the forwarder's "
                "counters between its runs; its --state-dir has no run that judged it"]  # fmt: skip
    seen = f"(the watcher's last run, {h['age']} ago)"
    out += [f"upstream {m} {seen}: {_state(x)}" for m, x in sorted((h.get("upstreams") or {}).items())]
    if h.get("router"):
        out.append(f"router {seen}: {_state(h['router'])}")
    return out


def _state(x: Mapping[str, Any]) -> str:
    return str(x.get("state", "unknown")) + (f" ({x['why']})" if x.get("why") else "")


def _label(row: dict[str, Any]) -> str:
    if row["declared"]:
        return ""
    if row.get("draining"):
        return " (draining)"
    return " (absent)" if row.get("absent") else " (undeclared)"


def _utc_or_new(ts: int | None) -> str:
    return "at the next claim, which opens a new 365-day period" if ts is None else utc(ts)


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
    return escape_controls("RPC endpoints: " + "; ".join(parts)) + "\n"

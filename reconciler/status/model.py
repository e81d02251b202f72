"""`reconcile status` as data: one screen of the provider's business, built purely from one reading.

Inputs are the desired state, one chain reading (every session, for what is claimable), the plan made from
that reading (drift = its pending actions) and the forwarder's slots. The JSON form is the source of truth;
the text form (reconciler.status.text) and the page (reconciler.status.page) build on it. Money stays int wei
in JSON (with a MOR string beside it for people).
"""

from __future__ import annotations

from typing import Any

from reconciler.desired.model import Desired
from reconciler.market.ids import norm_hex
from reconciler.market.units import format_mor
from reconciler.observe.model import ChainState
from reconciler.observe.slots import SlotsReading
from reconciler.plan.context import utc
from reconciler.plan.model import Plan
from reconciler.sessions import rules as session_rules
from reconciler.sessions.claim import claimable, stake_cap, terms, unpaid

HOUR = 3600


def money(wei: int) -> dict[str, Any]:
    return {"wei": wei, "mor": format_mor(wei)}


def accrued_since(chain: ChainState, since: int, model_id: str | None = None) -> int:
    """What the provider's sessions earned from `since` to the reading's time (served seconds x bid price)."""
    now = chain.block_timestamp
    total = 0
    for s in chain.sessions:
        if model_id is not None and norm_hex(s.model_id) != norm_hex(model_id):
            continue
        end = min(session_rules.session_end(terms(s)), now)
        start = max(s.opened_at, since)
        if end > start:
            total += (end - start) * s.price_per_second
    return total


def _model_rows(desired: Desired, chain: ChainState, slots: SlotsReading) -> list[dict[str, Any]]:
    declared = [m for m in desired.models if not m.absent]
    absent = {norm_hex(m.model_id): (m.name or m.key) for m in desired.models if m.absent}
    names = {norm_hex(m.model_id): (m.name or m.key) for m in declared}
    order = list(names)
    # what sells or serves on chain without being declared (any more) is shown too
    for model_id in [b.model_id for b in chain.active_bids()] + [s.model_id for s in chain.live_sessions()]:
        if norm_hex(model_id) not in names:
            on_chain = chain.model(model_id)
            name = absent.get(norm_hex(model_id)) or (on_chain.name if on_chain else "")
            names[norm_hex(model_id)] = name or model_id[:10] + "…"
            order.append(norm_hex(model_id))
    day = session_rules.start_of_day(chain.block_timestamp)
    rows = []
    for mid in order:
        bids = [b for b in chain.active_bids() if norm_hex(b.model_id) == mid]
        stats = chain.stats(mid) or next((st for st in chain.model_stats if norm_hex(st.model_id) == mid), None)
        live = [s for s in chain.live_sessions() if norm_hex(s.model_id) == mid]
        slot = slots.by_model.get(mid) if slots.known else None
        rows.append(
            {
                "name": names[mid],
                "modelId": mid,
                "declared": any(norm_hex(m.model_id) == mid for m in declared),
                "absent": mid in absent,  # declared `absent: true`: on its way out
                "draining": mid in absent and bool(live),  # ... and still serving live sessions
                "bids": [
                    {
                        "bidId": b.bid_id,
                        "pricePerSecond": money(b.price_per_second),
                        "pricePerHour": money(b.price_per_second * HOUR),
                    }
                    for b in bids
                ],
                "liveSessions": len(live),
                "liveUntil": max((s.ends_at for s in live), default=None),
                "earnedToday": money(accrued_since(chain, day, mid)),
                "slots": None if slot is None else {"inFlight": slot.in_flight, "limit": slot.limit},
                "successRatio": (
                    None
                    if stats is None or stats.total_count == 0
                    else {"success": stats.success_count, "total": stats.total_count}
                ),
            }
        )
    return rows


def _forwarder(desired: Desired, plan: Plan) -> dict[str, str]:
    """The forwarder as the plan read it: down (with why) when its admin API could not be read, never in sync."""
    if (unchecked := plan.proxy_unchecked) is not None:
        return {"state": "down", "why": unchecked}
    if desired.proxy is None or not desired.proxy.admin_url:
        return {"state": "unknown", "why": "no proxy.adminUrl"}
    return {"state": "up"}


def build_status(desired: Desired, chain: ChainState, plan: Plan, slots: SlotsReading) -> dict[str, Any]:
    """Pure: the status document (JSON-ready)."""
    now = chain.block_timestamp
    p = chain.provider
    registered = p is not None and p.created_at != 0 and not p.is_deleted
    earnings: dict[str, Any] | None = None
    if p is not None and registered:
        cap = stake_cap(p)
        period_open = now <= p.limit_period_end
        items = claimable(chain)
        claimable_now, unpaid_now = sum(i.amount for i in items), unpaid(chain)
        earnings = {
            "earnedToday": money(accrued_since(chain, session_rules.start_of_day(now))),
            "claimedThisPeriod": money(p.limit_period_earned if period_open else 0),
            "periodEnds": p.limit_period_end if period_open else None,
            "claimableNow": money(claimable_now),
            "claimableSessions": len(items),
            "unpaid": money(unpaid_now),
            "heldByCap": money(max(unpaid_now - claimable_now, 0)),
            "capRoom": money(max(session_rules.cap_room(cap, now), 0)),
        }
    pending = plan.pending
    return {
        "network": plan.network.name,
        "chainId": chain.chain_id,
        "block": {"number": chain.block_number, "timestamp": now, "time": utc(now)},
        "provider": {
            "address": desired.provider.address,
            "registered": registered,
            "endpoint": p.endpoint if p is not None and registered else None,
            "stake": money(p.stake if p is not None and registered else 0),
        },
        "models": _model_rows(desired, chain, slots),
        "liveSessions": len(chain.live_sessions()),
        "earnings": earnings,
        "slotsSource": "forwarder /metrics" if slots.known else f"unknown ({slots.note})",
        "forwarder": _forwarder(desired, plan),
        "drift": {
            "drift": bool(pending),
            "pending": [{"id": a.id, "verb": a.verb, "target": a.target} for a in pending],
            "errors": list(plan.errors) + [e for a in plan.actions for e in a.errors],
        },
        "chainNotes": list(chain.notes),  # what others wrote that was skipped or is shown repaired
    }

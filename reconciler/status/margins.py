"""The margins section of `reconcile status` (JSON and text), the page and the watcher's /metrics: per model and
UTC day, the MOR its sessions earned and its USD value, the upstream's cost for the measured usage, the margin,
and how busy its slots were.

Inputs are one chain reading (what the sessions earned, reconciler.status.model.accrued_since), the forwarder's
usage per day (reconciler.status.usage_days) and the resolved `morUsd` references; the arithmetic is
reconciler.market.margin's. Pure. Money stays int wei (with MOR text); USD is text to the millionth, exact
fractions underneath.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from reconciler.desired.model import CostModel, Desired
from reconciler.market.ids import norm_hex
from reconciler.market.margin import (
    Usage,
    day_margin,
    measured_tokens_per_second,
    price_at_measured,
    usd_text,
)
from reconciler.market.pricing import to_fraction
from reconciler.observe.model import ChainState
from reconciler.sessions import rules as session_rules
from reconciler.status.daily import DAY, day_of
from reconciler.status.model import accrued_since, money

DAYS_SHOWN = 7


def mor_usd_of(cm: CostModel | None, ref_values: Mapping[str, str | None]) -> Fraction | None:
    """The cost model's USD per MOR: its number, or its reference's value read here (None: not known)."""
    if cm is None:
        return None
    if isinstance(cm.mor_usd, Fraction):
        return cm.mor_usd
    raw = ref_values.get(str(cm.mor_usd))
    try:
        value = to_fraction(raw) if raw else None
    except (ValueError, ZeroDivisionError):
        return None
    return value if value is not None and value > 0 else None


def _usd(value: Fraction | None) -> str | None:
    return None if value is None else usd_text(value)


def _ratio(value: Fraction | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _row(
    name: str, mid: str, cm: CostModel | None, mor_usd: Fraction | None, slots: int | None, earned: int,
    usage: Usage, span: int,
) -> dict[str, Any]:  # fmt: skip
    m = day_margin(earned_wei=earned, usage=usage, cost_model=cm, mor_usd=mor_usd, slots=slots, span=span)
    tps = measured_tokens_per_second(usage)
    at_measured = price_at_measured(cm, usage, mor_usd) if cm is not None and mor_usd is not None else None
    return {
        "name": name,
        "modelId": mid,
        "costBasis": m.basis,
        "morUsd": None if mor_usd is None else str(mor_usd),
        "earned": money(earned),
        "earnedUsd": _usd(m.earned_usd),
        "upstreamCostUsd": _usd(m.cost_usd),
        "marginUsd": _usd(m.margin_usd),
        "tokens": {
            "prompt": usage.prompt,
            "completion": usage.completion,
            "cached": usage.cached,
            "cacheWrite": usage.cache_write,
        },
        "servedSeconds": f"{float(usage.seconds):.3f}",
        "slots": slots,
        "slotUtilisation": _ratio(m.utilisation, 4),
        "measuredTokensPerSecond": _ratio(tps, 2),
        "priceAtMeasured": None if at_measured is None else money(at_measured),
    }


def _total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def add(key: str) -> str | None:
        values = [Fraction(r[key]) for r in rows if r[key] is not None]
        return usd_text(sum(values, Fraction(0))) if values else None

    return {
        "earned": money(sum(r["earned"]["wei"] for r in rows)),
        "earnedUsd": add("earnedUsd"),
        "upstreamCostUsd": add("upstreamCostUsd"),
        "marginUsd": add("marginUsd"),
    }


def margin_section(
    desired: Desired,
    chain: ChainState,
    usage_days: Mapping[str, Mapping[str, Usage]],
    ref_values: Mapping[str, str | None],
    usage_source: str = "forwarder /metrics",
    days: int = DAYS_SHOWN,
) -> dict[str, Any]:
    """Pure: per UTC day (of the chain's clock; the last `days` days with earnings or usage, and today, oldest
    first), each declared model's figures and the day's totals. A past day spans 86,400 s, today until now."""
    now = chain.block_timestamp
    today = session_rules.start_of_day(now)
    models = [m for m in desired.models if not m.absent]
    out = []
    for start in range(today - (days - 1) * DAY, today + 1, DAY):
        day = day_of(start)
        span = min(now, start + DAY) - start
        usage = {norm_hex(k): v for k, v in usage_days.get(day, {}).items()}
        rows = []
        for m in models:
            mid = norm_hex(m.model_id)
            earned = accrued_since(chain, start, mid) - (accrued_since(chain, start + DAY, mid) if start < today else 0)
            cm = m.bid.cost_model if m.bid is not None else None
            rows.append(
                _row(m.name or m.key, mid, cm, mor_usd_of(cm, ref_values), m.concurrent_slots, earned,
                     usage.get(mid, Usage()), span)
            )  # fmt: skip
        busy = any(r["earned"]["wei"] or r["tokens"]["prompt"] or r["servedSeconds"] != "0.000" for r in rows)
        if busy or start == today:
            out.append({"day": day, "spanSeconds": span, "models": rows, "total": _total(rows)})
    return {"days": out, "usageSource": usage_source}


def today_rows(section: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The models' rows of the section's last day (today)."""
    days = section.get("days") or []
    return list(days[-1]["models"]) if days else []

"""Shared wording for the renderers: the summary line, groups, symbols, values shown to humans."""

from __future__ import annotations

from typing import Any

from reconciler.market.units import format_mor
from reconciler.plan.model import Action, ActionKind, Plan, Status

GROUPS: list[tuple[str, tuple[ActionKind, ...]]] = [
    ("wallet", (ActionKind.MOR_APPROVE,)),
    ("provider", (ActionKind.PROVIDER_REGISTER, ActionKind.PROVIDER_UPDATE, ActionKind.PROVIDER_DEREGISTER)),
    ("models", (ActionKind.MODEL_REGISTER, ActionKind.MODEL_UPDATE, ActionKind.MODEL_DEREGISTER)),
    ("bids", (ActionKind.BID_POST, ActionKind.BID_DELETE)),
    (
        "proxy",
        (
            ActionKind.PROXY_WRITE_CONFIG,
            ActionKind.PROXY_REMOVE,
            ActionKind.PROXY_UNMANAGED,
            ActionKind.PROXY_RELOAD,
            ActionKind.PROXY_RESTART_REQUIRED,
        ),
    ),
]

SYMBOLS = {"create": "+", "update": "~", "delete": "-"}
STATUS_SYMBOL = {
    Status.HELD: "‖",
    Status.DRAINING: "⧗",
    Status.UNMANAGED: "?",
    Status.MANUAL: "!",
    Status.RESTART_REQUIRED: "↻",
}


def symbol(a: Action) -> str:
    return SYMBOLS[a.verb] if a.pending else STATUS_SYMBOL[a.status]


def gas_text(gas: int, gas_wei: int) -> str:
    eth = gas_wei / 10**18
    return f"~{gas:,} (~{eth:.6f} ETH)"


def summary_line(plan: Plan) -> str:
    s = plan.summary()
    stake = f"{'+' if s.stake >= 0 else '-'}{format_mor(abs(s.stake))}"
    line = (
        f"{s.create} to create, {s.update} to update, {s.delete} to delete; "
        f"fees {format_mor(s.fees)}, stake {stake}, gas {gas_text(s.gas, s.gas_wei)}"
    )
    extra = [
        f"{n} {label}"
        for n, label in (
            (s.held, "held"),
            (s.draining, "draining"),
            (s.unmanaged, "unmanaged"),
            (s.manual, "manual"),
            (s.restart_required, "restart required"),
        )
        if n
    ]
    return line + (f" ({', '.join(extra)})" if extra else "")


MONEY_KEYS = {"stake", "fee", "allowance"}


def show_value(key: str, value: Any) -> str:
    if key in MONEY_KEYS and isinstance(value, int):
        return format_mor(value)
    if key == "pricePerSecond" and isinstance(value, int):
        return f"{value} wei/s ({format_mor(value)}/s)"
    if key == "entries" and isinstance(value, list):
        return f"{len(value)} entr{'y' if len(value) == 1 else 'ies'}"
    if key == "version" and isinstance(value, str):
        return value[:12] + "…"
    return repr(value) if isinstance(value, str | list) else str(value)


def field_lines(a: Action) -> list[str]:
    """`key: before -> after` for every field that differs (or is new / removed)."""
    before, after = dict(a.before or {}), dict(a.after or {})
    lines = []
    if a.before is None or a.after is None:
        return [f"{key}: {show_value(key, value)}" for key, value in (after or before).items()]
    for key, c in after.items():
        b = before.get(key)
        if key not in before:
            lines.append(f"{key}: {show_value(key, c)}")
        elif b != c:
            lines.append(f"{key}: {show_value(key, b)} -> {show_value(key, c)}")
    return lines


def cost_text(a: Action) -> str:
    parts = []
    if a.cost.fee:
        parts.append(f"fee {format_mor(a.cost.fee)} paid (kept by the marketplace)")
    if a.cost.stake > 0:
        parts.append(f"stake +{format_mor(a.cost.stake)}")
    elif a.cost.stake < 0:
        parts.append(f"stake refund {format_mor(-a.cost.stake)}")
    if a.cost.gas:
        parts.append(f"gas {gas_text(a.cost.gas, a.cost.gas_wei)}")
    return ", ".join(parts)


def grouped(plan: Plan) -> list[tuple[str, list[Action]]]:
    """The plan's actions by group, in plan order; a kind no group names is shown under "other", never dropped."""
    out = []
    for name, kinds in GROUPS:
        items = [a for a in plan.actions if a.kind in kinds]
        if items:
            out.append((name, items))
    named = {k for _name, kinds in GROUPS for k in kinds}
    rest = [a for a in plan.actions if a.kind not in named]
    if rest:
        out.append(("other", rest))
    return out

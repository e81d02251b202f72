"""The plan for a terminal (a fleet's: each provider's in turn, then the fleet's totals): grouped, colored only on a TTY (NO_COLOR honoured), summary line last. Every line is
put through `escape_controls` before it is coloured, so nothing taken from YAML or chain acts on the terminal or
adds a line of its own."""

from __future__ import annotations

import os
from typing import TextIO

from reconciler.market.units import format_mor
from reconciler.plan.fleet import FleetPlan
from reconciler.plan.model import Action, Plan
from reconciler.render.common import cost_text, field_lines, gas_text, grouped, summary_line, symbol
from reconciler.render.controls import escape_controls

COLORS = {"create": "32", "update": "33", "delete": "31", "reported": "36", "error": "31;1", "dim": "2"}


def use_color(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR")


def render_text(plan: Plan, color: bool = False, verbose: bool = False) -> str:
    def paint(text: str, what: str) -> str:
        text = escape_controls(text)
        return f"\033[{COLORS[what]}m{text}\033[0m" if color else text

    n = plan.network
    lines = [
        escape_controls(
            f"network {n.name} (chain {n.chain_id}), Diamond {n.diamond}, block {plan.block.number} "
            f"({plan.block.hash[:12]}…)"
        ),
        escape_controls(f"provider {n.provider}" + (f", signer {n.signer} (delegate)" if n.delegate else "")),
    ]
    if (unchecked := plan.proxy_unchecked) is not None:
        lines.append(
            paint(
                f"the proxy could not be reached: {unchecked}; this plan covers the chain and the files only",
                "reported",
            )
        )
    if verbose:
        lines.append(f"chain read in {plan.rpc_round_trips} RPC round trip(s)")
    lines.append("")
    if not plan.actions and unchecked is not None:
        lines.append(f"Nothing to change on the chain or in the files; {escape_controls(unchecked)}.")
    elif not plan.actions:
        lines.append("No changes: the chain and the proxy match the desired state.")
    for group, actions in grouped(plan):
        lines.append(paint(f"# {group}", "dim") if color else f"# {group}")
        for a in actions:
            lines += _action_lines(a, paint, verbose)
        lines.append("")
    for w in plan.warnings:
        lines.append(paint(f"warning: {w}", "reported"))
    for e in plan.errors:
        lines.append(paint(f"error: {e}", "error"))
    if plan.warnings or plan.errors:
        lines.append("")
    lines.append(("Plan: " if plan.pending else "") + summary_line(plan))
    return "\n".join(lines) + "\n"


def _action_lines(a: Action, paint, verbose: bool) -> list[str]:  # type: ignore[no-untyped-def]
    what = a.verb if a.pending else "reported"
    status = "" if a.pending else f" [{a.status.value}]"
    out = [paint(f"  {symbol(a)} {a.kind.shown} {a.target}{status}", what)]
    out.append(escape_controls(f"      {a.reason}"))
    for line in field_lines(a):
        out.append(escape_controls(f"      {line}"))
    cost = cost_text(a)
    if cost and (a.pending or verbose):
        out.append(f"      cost: {cost}")
    for w in a.warnings:
        out.append(paint(f"      warning: {w}", "reported"))
    for e in a.errors:
        out.append(paint(f"      error: {e}", "error"))
    if verbose and a.depends_on:
        out.append(escape_controls(f"      after: {', '.join(a.depends_on)}"))
    return out


def render_fleet_text(fleet: FleetPlan, color: bool = False, verbose: bool = False) -> str:
    """Every provider's plan under its name, in fleet.yaml's order, then what the fleet would do per network
    (fees and stakes in that network's MOR, gas in its coin) and one line for the whole fleet."""
    out: list[str] = []
    for m in fleet.members:
        out.append(escape_controls(f"== provider {m.name} ({m.network}) =="))
        if m.plan is None:
            line = f"error: {m.error}"
            out.append(f"\033[{COLORS['error']}m{escape_controls(line)}\033[0m" if color else escape_controls(line))
            out.append("")
            continue
        out.append(render_text(m.plan, color=color, verbose=verbose))
    totals = fleet.totals()
    out.append(f"Fleet: {_providers(len(fleet.members))} on {len(totals)} network{'s' if len(totals) != 1 else ''}")
    for t in totals:
        stake = f"{'+' if t.stake >= 0 else '-'}{format_mor(abs(t.stake))}"
        failed = f" ({t.failed} not planned)" if t.failed else ""
        out.append(
            escape_controls(
                f"  {t.network}: {_providers(t.providers)}{failed}; {t.create} to create, {t.update} to update, "
                f"{t.delete} to delete; fees {format_mor(t.fees)}, stake {stake}, gas {gas_text(t.gas, t.gas_wei)}"
            )
        )
    if fleet.failed:
        names = ", ".join(m.name for m in fleet.failed)
        out.append(escape_controls(f"{_providers(len(fleet.failed))} could not be planned: {names}"))
    s = [m.plan.summary() for m in fleet.planned if m.plan is not None]
    changing = sum(1 for m in fleet.planned if m.plan is not None and m.plan.pending)
    out.append(
        f"Fleet plan: {sum(x.create for x in s)} to create, {sum(x.update for x in s)} to update, "
        f"{sum(x.delete for x in s)} to delete; {changing} of {_providers(len(fleet.members))} with changes"
    )
    return "\n".join(out) + "\n"


def _providers(n: int) -> str:
    return f"{n} provider{'s' if n != 1 else ''}"

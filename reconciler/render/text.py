"""The plan for a terminal: grouped, colored only on a TTY (NO_COLOR honoured), summary line last. Every line is
put through `escape_controls` before it is coloured, so nothing taken from YAML or chain acts on the terminal or
adds a line of its own."""

from __future__ import annotations

import os
from typing import TextIO

from reconciler.plan.model import Action, Plan
from reconciler.render.common import cost_text, field_lines, grouped, summary_line, symbol
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

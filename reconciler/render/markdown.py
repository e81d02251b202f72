"""The plan as a pull-request comment: summary table first, cost line, destructive changes called out,
details in a collapsible block, never longer than GitHub's 65,536-character limit (details are cut,
never the summary).

Every value taken from YAML or chain (names, targets, reasons, field values, warnings, errors) is written as a
code span it cannot break out of (`code`): a name in a pull request or on chain cannot add a heading, a link, an
image, a mention or HTML to the comment, and its control characters are shown escaped."""

from __future__ import annotations

import re

from reconciler.market.units import format_mor
from reconciler.plan.model import Plan, Status
from reconciler.render.common import cost_text, field_lines, gas_text, grouped, symbol
from reconciler.render.controls import escape_controls

GITHUB_COMMENT_LIMIT = 65_536


def render_markdown(plan: Plan, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    s = plan.summary()
    n = plan.network
    head = [
        f"### `reconcile plan`: {escape_controls(n.name)} (chain {n.chain_id}), block {plan.block.number}",  # a preset
        "",
        "| | count |",
        "|---|---:|",
        f"| to create | {s.create} |",
        f"| to update | {s.update} |",
        f"| to delete | {s.delete} |",
    ]
    for label, count in (
        ("held", s.held),
        ("draining", s.draining),
        ("unmanaged", s.unmanaged),
        ("manual", s.manual),
        ("restart required", s.restart_required),
    ):
        if count:
            head.append(f"| {label} (not applied) | {count} |")
    stake = f"{'+' if s.stake >= 0 else '-'}{format_mor(abs(s.stake))}"
    head += [
        "",
        f"**Cost:** fees {format_mor(s.fees)} paid (kept by the marketplace), stake {stake}, gas {gas_text(s.gas, s.gas_wei)}; "
        f"MOR leaving the wallet: {format_mor(s.mor_out)}",
        "",
    ]
    if (unchecked := plan.proxy_unchecked) is not None:
        head += [
            "> [!NOTE]",
            f"> {code(unchecked)}: the proxy could not be read from here; this plan covers the chain and files only.",
            "",
        ]
    destructive = [a for a in plan.pending if a.verb == "delete"]
    reposts = [a for a in plan.pending if a.kind.value == "bid.post" and a.before is not None]
    if destructive or reposts:
        head += ["> [!WARNING]", "> **Destructive or irreversible changes:**"]
        head += [f"> - `{a.kind.shown}` {code(a.target)}: {code(a.reason)}" for a in destructive]
        head += [f"> - `bid.post` {code(a.target)}: {code(a.reason)}" for a in reposts]
        head.append("")
    if plan.errors or any(a.errors for a in plan.actions):
        head += ["> [!CAUTION]", "> **Errors (apply would refuse):**"]
        head += [f"> - {code(e)}" for e in plan.errors]
        head += [f"> - `{a.kind.shown}` {code(a.target)}: {code(e)}" for a in plan.actions for e in a.errors]
        head.append("")
    draining = [a for a in plan.actions if a.status is Status.DRAINING]
    if draining:
        head += ["**Draining** (kept in the proxy while buyers' sessions run; removed by a later apply):"]
        head += [f"- {code(a.target)}: {code(a.reason)}" for a in draining]
        head.append("")
    if plan.warnings:
        head += ["**Warnings:**", *[f"- {code(w)}" for w in plan.warnings], ""]
    details = [f"<details><summary>All {len(plan.actions)} actions</summary>", ""]
    for group, actions in grouped(plan):
        details += [f"#### {group}", ""]
        for a in actions:
            status = "" if a.pending else f" **[{a.status.value}]**"
            details.append(f"- `{symbol(a)} {a.kind.shown}` {code(a.target)}{status}: {code(a.reason)}")
            details += [f"  - {code(line)}" for line in field_lines(a)]
            cost = cost_text(a)
            if cost:
                details.append(f"  - cost: {cost}")
            details += [f"  - warning: {code(w)}" for w in a.warnings]
        details.append("")
    closing = ["</details>", ""]
    text = "\n".join(head)
    body = "\n".join(details)
    end = "\n".join(closing)
    if len(text) + len(body) + len(end) + 1 <= limit:
        return text + "\n" + body + "\n" + end
    note = "\n\n_…details truncated to fit the comment limit; run `reconcile plan --format json` for all of them._\n"
    room = limit - len(text) - len(end) - len(note) - 2
    if room < 0:  # the summary alone is too long: keep it whole, drop the details
        return text[: limit - 1] if len(text) >= limit else text
    cut = body[:room]
    cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
    return text + "\n" + cut + note + end


def code(value: str) -> str:
    """`value` as one inline code span (CommonMark), shown literally whatever it holds: control characters and
    newlines escaped, so the span stays on its line; a backtick fence longer than any run of backticks inside;
    a space inside each fence where CommonMark would otherwise strip one or join a backtick to the fence."""
    text = escape_controls(value)
    if not text.strip(" "):
        return "` `" if not text else f"`{text}`"  # a span of spaces only keeps them all
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"

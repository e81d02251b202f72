"""The plan as a pull-request comment (a fleet's: one comment, every provider in it): summary table first, cost line, destructive changes called out,
details in a collapsible block, never longer than GitHub's 65,536-character limit (details are cut,
never the summary).

Every value taken from YAML or chain (names, targets, reasons, field values, warnings, errors) is written as a
code span it cannot break out of (`code`): a name in a pull request or on chain cannot add a heading, a link, an
image, a mention or HTML to the comment, and its control characters are shown escaped."""

from __future__ import annotations

import re

from reconciler.market.units import format_mor
from reconciler.plan.fleet import FleetPlan
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


def render_fleet_markdown(fleet: FleetPlan, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """One comment for the whole fleet: a table of every provider and the totals per network first, then each
    provider's plan under its name. Too long for `limit`, the providers' details are cut, each on its own:
    the small ones stay whole and the room left is shared equally among the big ones."""
    head = [
        f"### `reconcile plan`: fleet of {len(fleet.members)} provider{'s' if len(fleet.members) != 1 else ''}",
        "",
        "| provider | network | to create | to update | to delete | fees | stake | |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for m in fleet.members:
        if m.plan is None:
            head.append(f"| {code(m.name)} | {code(m.network)} | | | | | | **could not be planned** |")
            continue
        s = m.plan.summary()
        note = "**errors**" if m.plan.has_errors else ("changes" if m.plan.pending else "no changes")
        head.append(
            f"| {code(m.name)} | {code(m.network)} | {s.create} | {s.update} | {s.delete} | {format_mor(s.fees)} "
            f"| {_signed(s.stake)} | {note} |"
        )
    head += ["", "**Per network:**"]
    for t in fleet.totals():
        head.append(
            f"- {code(t.network)}: {t.providers} provider{'s' if t.providers != 1 else ''}; fees {format_mor(t.fees)} "
            f"paid, stake {_signed(t.stake)}, gas {gas_text(t.gas, t.gas_wei)}; MOR leaving the wallets: "
            f"{format_mor(t.mor_out)}"
        )
    head.append("")
    if fleet.failed:
        head += ["> [!CAUTION]", "> **Providers that could not be planned:**"]
        head += [f"> - {code(m.name)}: {code(m.error or 'unknown error')}" for m in fleet.failed]
        head.append("")
    text = "\n".join(head) + "\n"
    titles, bodies = [], []
    for m in fleet.members:
        if m.plan is None:
            titles.append(f"#### provider {code(m.name)}: could not be planned\n\n")
            bodies.append(f"{code(m.error or 'unknown error')}\n\n")
            continue
        n = m.plan.network
        titles.append(
            f"#### provider {code(m.name)}: {escape_controls(n.name)} (chain {n.chain_id}), block {m.plan.block.number}\n"
        )
        bodies.append(_without_title(render_markdown(m.plan)) + "\n")
    room = limit - len(text) - sum(len(t) for t in titles)
    if sum(len(b) for b in bodies) > room:
        caps = _shares([len(b) for b in bodies], max(room, 0))
        for k, m in enumerate(fleet.members):
            if m.plan is not None and len(bodies[k]) > caps[k]:
                bodies[k] = _without_title(render_markdown(m.plan, limit=max(caps[k], 1))) + "\n"
            bodies[k] = bodies[k][: caps[k]]
    return text + "".join(t + b for t, b in zip(titles, bodies, strict=True))


def _without_title(md: str) -> str:
    """A provider's plan without its `###` title line (the fleet's comment gives each provider its own)."""
    return md.split("\n", 1)[1] if "\n" in md else ""


def _shares(sizes: list[int], room: int) -> list[int]:
    """Room for each part: the smallest ones whole while they fit an equal share, the rest split equally."""
    caps = [0] * len(sizes)
    left = room
    order = sorted(range(len(sizes)), key=lambda k: sizes[k])
    for i, k in enumerate(order):
        share = left // (len(sizes) - i)
        caps[k] = min(sizes[k], share)
        left -= caps[k]
    return caps


def _signed(wei: int) -> str:
    return f"{'+' if wei >= 0 else '-'}{format_mor(abs(wei))}"

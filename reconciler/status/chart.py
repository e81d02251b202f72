"""Earnings and spend per day as an inline SVG bar chart, drawn on the server (no script, no library).

Why server-side: the page must work with no network, no CDN and no framework, and `reconcile status --format
html` must be one self-contained file; an SVG string does both. Each day with data is one `<g class="point">`
(two bars, earned and spent, and a tooltip); days without data draw nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from reconciler.market.units import format_mor

WIDTH, HEIGHT = 760, 230
LEFT, RIGHT, TOP, BOTTOM = 78, 12, 14, 34
EARNED, SPENT = "#2f9e44", "#e8590c"


def _mor_axis(wei: int) -> str:
    """A short axis label: 1.25 MOR, 0.003 MOR."""
    value = wei / 10**18
    if value == 0:
        return "0"
    if value >= 100:
        return f"{value:,.0f} MOR"
    return f"{value:.3g} MOR"


def chart(days: Sequence[Mapping[str, Any]]) -> str:
    """`days`: oldest first, each {"day", "earned": {"wei"}, "spent": {"wei"}, "hasData"}."""
    n = max(len(days), 1)
    top = max([max(int(d["earned"]["wei"]), int(d["spent"]["wei"])) for d in days] + [0])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / n
    bar = max(slot * 0.36, 1.0)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="MOR earned and spent per day, last {n} days">'
    ]
    for frac in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - frac)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        label = _mor_axis(int(top * frac)) if top else ("0" if frac == 0 else "")
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{escape(label)}</text>')
    for i, d in enumerate(days):
        x = LEFT + i * slot
        if i % 5 == 0 or i == n - 1:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" class="axis">'
                f"{escape(str(d['day'])[5:])}</text>"
            )
        if not d.get("hasData"):
            continue
        earned, spent = int(d["earned"]["wei"]), int(d["spent"]["wei"])
        tip = f"{d['day']}: earned {format_mor(earned)}, spent {format_mor(spent)}"
        parts.append(f'<g class="point" data-day="{escape(str(d["day"]))}"><title>{escape(tip)}</title>')
        for j, (wei, color, cls) in enumerate(((earned, EARNED, "earned"), (spent, SPENT, "spent"))):
            h = plot_h * wei / top if top else 0.0
            h = max(h, 1.5) if wei else 0.0
            bx = x + slot / 2 - bar + j * bar
            parts.append(
                f'<rect class="{cls}" x="{bx:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{color}"/>'
            )
        parts.append("</g>")
    parts.append(
        f'<g class="legend"><rect x="{LEFT}" y="{HEIGHT - 12}" width="10" height="10" fill="{EARNED}"/>'
        f'<text x="{LEFT + 14}" y="{HEIGHT - 3}" class="axis">earned</text>'
        f'<rect x="{LEFT + 70}" y="{HEIGHT - 12}" width="10" height="10" fill="{SPENT}"/>'
        f'<text x="{LEFT + 84}" y="{HEIGHT - 3}" class="axis">spent (fees and stake)</text></g>'
    )
    parts.append("</svg>")
    return "".join(parts)

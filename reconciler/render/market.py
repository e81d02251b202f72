"""`reconcile market` as text and Markdown, from the market document (reconciler.market.report). Every string
read from the chain or the desired state goes through escape_controls (Markdown's table cells also escape `|`)."""

from __future__ import annotations

from typing import Any

from reconciler.render.controls import escape_controls


def short(hex_id: str) -> str:
    """0x1234…abcd: enough to tell providers and bids apart on one screen."""
    return hex_id if len(hex_id) <= 14 else f"{hex_id[:6]}…{hex_id[-4:]}"


def _mor(amount: str) -> str:
    return amount.removesuffix(" MOR")


def ours_line(ours: dict[str, Any]) -> str:
    """Where we stand, in one sentence: our rank and score, the price for rank 1 and to keep our rank."""
    parts = []
    if ours["rank"] is None:
        parts.append(f"no bid of ours (quality {ours['quality']:.4f})")
    else:
        parts.append(f"ours #{ours['rank']} at score {ours['score']:.2f} (quality {ours['quality']:.4f})")
    for key, label in (("first", "rank 1"), ("keep", f"keeping #{ours['rank']}")):
        target = ours.get(key)
        if target is None or (key == "keep" and ours["rank"] == 1):
            continue
        if target["price"] is None:
            parts.append(target["why"])
        else:
            parts.append(f"{label} needs ≤ {target['price']['morPerSecond']}/s")
    return "; ".join(parts)


def _row(b: dict[str, Any]) -> list[str]:
    t = b["terms"]
    return [
        str(b["rank"]),
        short(b["provider"]) + (" (ours)" if b["ours"] else ""),
        _mor(b["price"]["morPerSecond"]),
        _mor(b["price"]["morPerHour"]),
        f"{b['stats']['successCount']}/{b['stats']['totalCount']}",
        f"{t['tps']:.3f}",
        f"{t['ttft']:.3f}",
        f"{t['duration']:.3f}",
        f"{t['success']:.3f}",
        f"{t['stake']:.3f}",
        f"{b['quality']:.4f}",
        f"{b['score']:.2f}",
    ]


HEADER = ["#", "provider", "MOR/s", "MOR/h", "ok/all", "tps", "ttft", "dur", "success", "stake", "quality", "score"]


def _title(m: dict[str, Any]) -> str:
    kind = "own model" if m["own"] else "existing model"
    stats = m["modelStats"]
    return (
        f"{escape_controls(m['name'])} {short(m['modelId'])} ({kind}): {len(m['bids'])} ranked bid(s), "
        f"{stats['count']} provider(s) in the model's stats, minimum stake {m['minStake']['mor']}"
    )


def render_market_text(doc: dict[str, Any]) -> str:
    w = doc["weights"]
    lines = [
        f"market as buyers' routers rank it (block {doc['block']}); weights tps {w['tps']} ttft {w['ttft']} "
        f"duration {w['duration']} success {w['success']} stake {w['stake']} ({escape_controls(doc['weightsSource'])})",
        "score = quality / (price in MOR/s); higher is tried first",
    ]
    for m in doc["models"]:
        lines += ["", _title(m)]
        rows = [HEADER] + [_row(b) for b in m["bids"]]
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
        lines += ["  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
        if not m["bids"]:
            lines.append("  no active bid")
        for s in m["skipped"]:
            lines.append(f"  skipped by the router: {short(s['provider'])} bid {short(s['bidId'])}: {s['why']}")
        lines.append("  " + ours_line(m["ours"]))
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return escape_controls(text).replace("|", "\\|")


def render_market_markdown(doc: dict[str, Any]) -> str:
    w = doc["weights"]
    out = [
        "## Market",
        "",
        f"As buyers' routers rank it at block {doc['block']}: score = quality / (price in MOR/s), weights tps "
        f"{w['tps']}, ttft {w['ttft']}, duration {w['duration']}, success {w['success']}, stake {w['stake']} "
        f"({_cell(doc['weightsSource'])}).",
    ]
    for m in doc["models"]:
        out += ["", f"### {_cell(_title(m))}", ""]
        out.append("| " + " | ".join(HEADER) + " |")
        out.append("|" + "---|" * len(HEADER))
        out += ["| " + " | ".join(_cell(c) for c in _row(b)) + " |" for b in m["bids"]]
        for s in m["skipped"]:
            out.append(
                f"\nSkipped by the router: `{short(s['provider'])}` bid `{short(s['bidId'])}`: {_cell(s['why'])}"
            )
        out += ["", _cell(ours_line(m["ours"]))]
    return "\n".join(out) + "\n"

"""`reconcile status` on a fleet: every provider's state in one table, a row per member of fleet.yaml.

Pure: each member's status document (reconciler.status.model, the one a single provider's screen shows) or the
error its reading ended with, in; the table's rows, its JSON and its text, out. A member whose network cannot be
read keeps its row (with the error) and the others are still shown: one broken RPC endpoint does not hide the
fleet. Every text line goes through `escape_controls`, as the single screen's do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.render.controls import escape_controls


@dataclass(frozen=True)
class MemberStatus:
    """One member's reading: its status document, or why there is none."""

    name: str
    doc: Mapping[str, Any] | None = None
    error: str = ""


def fleet_row(m: MemberStatus) -> dict[str, Any]:
    """One member's row (JSON-ready): what tells the providers apart at a glance."""
    if m.doc is None:
        return {"provider": m.name, "error": m.error}
    d = m.doc
    earnings = d.get("earnings") or {}
    drift = d["drift"]
    return {
        "provider": m.name,
        "network": d["network"],
        "chainId": d["chainId"],
        "block": d["block"]["number"],
        "address": d["provider"]["address"],
        "registered": d["provider"]["registered"],
        "stake": d["provider"]["stake"],
        "models": sum(1 for r in d["models"] if r["declared"]),
        "bids": sum(len(r["bids"]) for r in d["models"]),
        "liveSessions": d["liveSessions"],
        "earnedToday": earnings.get("earnedToday"),
        "claimable": earnings.get("claimableNow"),
        "pending": len(drift["pending"]),
        "errors": list(drift["errors"]),
        "forwarder": (d.get("forwarder") or {}).get("state", "unknown"),
    }


def fleet_document(members: Sequence[MemberStatus]) -> dict[str, Any]:
    """The fleet's status as JSON: the rows in fleet.yaml order, and whether every member could be read."""
    rows = [fleet_row(m) for m in members]
    return {"fleet": rows, "unreadable": [r["provider"] for r in rows if "error" in r]}


def _short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}" if len(address) > 12 else address


def render_fleet(doc: Mapping[str, Any]) -> str:
    """The fleet's table as text, then each member's plan errors and unreadable members' errors."""
    head = ("provider", "network", "address", "stake", "models", "bids", "live", "earned today", "claimable", "drift")
    table: list[tuple[str, ...]] = [head]
    notes: list[str] = []
    for r in doc["fleet"]:
        if "error" in r:
            table.append((r["provider"], "?", "?", "?", "?", "?", "?", "?", "?", "unreadable"))
            notes.append(f"{r['provider']}: error: {r['error']}")
            continue
        stake = r["stake"]["mor"] if r["registered"] else "not registered"
        drift = f"{r['pending']} pending" if r["pending"] else "no"
        if r["forwarder"] == "down":
            drift += " (proxy not checked)"
        table.append(
            (
                r["provider"],
                r["network"],
                _short(r["address"]),
                stake,
                str(r["models"]),
                str(r["bids"]),
                str(r["liveSessions"]),
                r["earnedToday"]["mor"] if r["earnedToday"] else "-",
                r["claimable"]["mor"] if r["claimable"] else "-",
                drift,
            )
        )
        notes += [f"{r['provider']}: error in the plan: {e}" for e in r["errors"]]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = [f"fleet of {len(doc['fleet'])} provider(s)"]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines += notes
    lines.append("one provider in full: `reconcile status PATH --provider NAME`")
    return "".join(escape_controls(line) + "\n" for line in lines)

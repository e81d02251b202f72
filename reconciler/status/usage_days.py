"""The forwarder's measured usage per UTC day and model, kept by the watcher in the provider's folder (`usage.json`).

Why: the forwarder's counters run from its start, margins are per day. Each watcher run folds what the counters
gained since its last reading into the day of the run; counters seen for the first time, or lower than before
(the forwarder restarted), count whole on that day. `reconcile status` folds its own reading the same way, in
memory only. Folding is pure; the file is rewritten atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path

from reconciler.market.margin import Usage

FILE = "usage.json"
KEEP_DAYS = 400


@dataclass(frozen=True)
class UsageDays:
    last: Mapping[str, Usage] = field(default_factory=dict)  # the forwarder's counters at the last reading, by model id
    days: Mapping[str, Mapping[str, Usage]] = field(default_factory=dict)  # "YYYY-MM-DD" -> model id -> usage


def fold(ledger: UsageDays, counters: Mapping[str, Usage], day: str) -> UsageDays:
    """Pure: the ledger with what `counters` (one reading of the forwarder) gained since the last reading, on `day`."""
    days = {d: dict(models) for d, models in ledger.days.items()}
    on_day = days.setdefault(day, {})
    for mid, now in counters.items():
        gained = now.since(ledger.last.get(mid, Usage()))
        if gained != Usage():
            on_day[mid] = on_day.get(mid, Usage()) + gained
    if not on_day:
        del days[day]
    for old in sorted(days)[:-KEEP_DAYS]:
        del days[old]
    return UsageDays({**ledger.last, **counters}, days)


def _encode(u: Usage) -> dict[str, str]:
    return {f.name: str(getattr(u, f.name)) for f in fields(u)}


def _decode(raw: Mapping[str, str]) -> Usage:
    return Usage(
        prompt=int(raw.get("prompt", 0)),
        completion=int(raw.get("completion", 0)),
        cached=int(raw.get("cached", 0)),
        cache_write=int(raw.get("cache_write", 0)),
        seconds=Fraction(raw.get("seconds", "0")),
    )


def load(path: Path) -> UsageDays:
    """The ledger in `path`; an empty one when it is missing or unreadable (usage is reporting only)."""
    try:
        doc = json.loads(path.read_text())
        last = {str(mid): _decode(u) for mid, u in doc.get("last", {}).items()}
        days = {str(d): {str(mid): _decode(u) for mid, u in ms.items()} for d, ms in doc.get("days", {}).items()}
        return UsageDays(last, days)
    except (OSError, ValueError, AttributeError, TypeError, ZeroDivisionError):
        return UsageDays()


def save(path: Path, ledger: UsageDays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "last": {mid: _encode(u) for mid, u in sorted(ledger.last.items())},
        "days": {d: {mid: _encode(u) for mid, u in sorted(ms.items())} for d, ms in sorted(ledger.days.items())},
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)

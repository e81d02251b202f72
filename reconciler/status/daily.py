"""Earnings and spend per UTC day, aggregated by the watcher as it runs into its state dir (`daily.json`).

Why: the status page's 30-day chart must not scan history on a page load (no eth_getLogs, no session list), so
each run folds what it already has into one small file: what the sessions of its chain reading earned on each
day they cover (served seconds x bid price; a day's figure only grows, so a session that has left the reading's
window keeps the figure an earlier reading gave it) and what the run spent. Merging is pure; the file is
rewritten atomically.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.observe.model import ChainState
from reconciler.sessions import rules as session_rules
from reconciler.sessions.claim import terms

DAY = 86_400
FILE = "daily.json"
KEEP_DAYS = 400


@dataclass(frozen=True)
class DayFigures:
    earned_wei: int = 0
    spent_wei: int = 0


Days = Mapping[str, DayFigures]  # "YYYY-MM-DD" (UTC) -> figures


def day_of(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def earned_by_day(chain: ChainState) -> dict[str, int]:
    """What the reading's sessions earned on each UTC day, up to the reading's time."""
    now = chain.block_timestamp
    out: dict[str, int] = {}
    for s in chain.sessions:
        start, end = s.opened_at, min(session_rules.session_end(terms(s)), now)
        while end > start:
            day_end = session_rules.start_of_day(start) + DAY
            upto = min(end, day_end)
            day = day_of(start)
            out[day] = out.get(day, 0) + (upto - start) * s.price_per_second
            start = upto
    return out


def merge(
    days: Days, earned: Mapping[str, int] | None = None, spent: int = 0, now: float = 0.0
) -> dict[str, DayFigures]:
    """Pure: `days` with a reading's earnings (each day keeps the larger figure) and a run's spend added today."""
    out = dict(days)
    for day, wei in (earned or {}).items():
        old = out.get(day, DayFigures())
        out[day] = DayFigures(max(old.earned_wei, wei), old.spent_wei)
    if spent > 0:
        today = day_of(now)
        old = out.get(today, DayFigures())
        out[today] = DayFigures(old.earned_wei, old.spent_wei + spent)
    for day in sorted(out)[:-KEEP_DAYS]:
        del out[day]
    return out


def last_days(days: Days, now: float, count: int = 30) -> list[tuple[str, DayFigures]]:
    """The `count` UTC days ending today, oldest first, every day present (zero where nothing is known)."""
    first = session_rules.start_of_day(int(now)) - (count - 1) * DAY
    return [(day_of(first + i * DAY), days.get(day_of(first + i * DAY), DayFigures())) for i in range(count)]


def load(path: Path) -> dict[str, DayFigures]:
    try:
        doc = json.loads(path.read_text())
        return {
            str(day): DayFigures(int(v.get("earnedWei", 0)), int(v.get("spentWei", 0)))
            for day, v in doc.get("days", {}).items()
        }
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def save(path: Path, days: Days) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "days": {day: {"earnedWei": str(f.earned_wei), "spentWei": str(f.spent_wei)} for day, f in sorted(days.items())}
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)


def seed(path: Path, figures: Iterable[tuple[str, int, int]]) -> None:
    """Write figures for given days (day, earned wei, spent wei): for tests and demos of the chart."""
    days = load(path)
    for day, earned, spent in figures:
        days[day] = DayFigures(earned, spent)
    save(path, days)

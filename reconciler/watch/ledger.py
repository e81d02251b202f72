"""MOR spent per rolling day, kept on disk so a restarted watcher does not start from zero.

`policy.maxSpendPerDay` is checked against this tally before an apply sends anything, and the plan's spend is
reserved in it at once (a crash never under-counts). An append-only JSON-lines file under the state directory,
fsync'd like the journal.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from reconciler.watch.gate import budget_refusal

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Spend:
    ts: float
    wei: int
    what: str


class SpendLedger:
    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, wei: int, what: str, ts: float | None = None) -> None:
        if wei <= 0:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"ts": time.time() if ts is None else ts, "wei": str(wei), "what": what}) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> list[Spend]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                d = json.loads(line)
                out.append(Spend(float(d["ts"]), int(d["wei"]), str(d.get("what", ""))))
            except (ValueError, KeyError, TypeError):
                continue  # a torn line from a crash
        return out

    def spent_last_day(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return sum(e.wei for e in self.entries() if now - DAY_SECONDS < e.ts <= now)

    def room(self, limit: int, now: float | None = None) -> int:
        """How much more may be spent in the rolling day under `limit` (never negative)."""
        return max(limit - self.spent_last_day(now), 0)

    def reserve(self, wei: int, limit: int | None, what: str, now: float | None = None) -> str | None:
        """Record `wei` as spent if it fits the rolling-day `limit` (None: no limit); else record nothing and say
        why. Asked under apply's lock, before anything is sent: two writers sharing the state directory cannot
        both fit into the same room."""
        refusal = budget_refusal(wei, self.spent_last_day(now), limit)
        if refusal is None:
            self.record(wei, what, ts=now)
        return refusal

"""MOR spent per rolling day, kept on disk so a restarted watcher does not start from zero.

`policy.maxSpendPerDay` is checked against this tally before an apply sends anything, and the plan's spend is
reserved in it at once (a crash never under-counts). After the apply (returned or raised) the reservation is
settled to what the journal says was spent: the actions mined, plus those sent whose outcome is unknown (they may
still be mined); a reservation never settled (a crash, an unreadable journal) keeps counting in full. An
append-only JSON-lines file under the state directory, fsync'd like the journal: a reservation is
`{"ts", "wei", "what", "ref"}`, its settlement `{"ts", "wei", "what", "settles": ref}` (the latest one wins).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from reconciler import StateUnusable
from reconciler.chain.journal import OPEN_STATUSES, TxRecord, append_line
from reconciler.plan.model import Action
from reconciler.watch.gate import budget_refusal

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Spend:
    """A reservation (or an old plain entry), and its settlement once the apply ended."""

    ts: float
    wei: int
    what: str
    ref: str = ""
    settled_wei: int | None = None
    settled_ts: float | None = None

    def counted(self, now: float) -> int:
        """What it adds to the rolling day ending at `now`. Settled, it spans from its reservation to its
        settlement (its transactions were mined in between), so the settled amount leaves the day no earlier
        than the last of them could have."""
        if self.ts > now:
            return 0
        settled = self.settled_wei is not None and self.settled_ts is not None and self.settled_ts <= now
        end = self.settled_ts if settled and self.settled_ts is not None else self.ts
        if end <= now - DAY_SECONDS:
            return 0
        return self.settled_wei if settled and self.settled_wei is not None else self.wei


@dataclass(frozen=True)
class SoFar:
    """What the journal says of a confirmed plan's actions once its apply ended (returned or raised)."""

    done: tuple[str, ...]  # mined
    in_flight: tuple[str, ...]  # journaled (sent, or about to be) with no known outcome: they may still be mined
    tx_hashes: tuple[str, ...]
    spent_wei: int | None  # MOR out of done + in flight; None: a transaction the plan cannot price (keep it all)
    mined_wei: int | None = None  # MOR out of done alone: what the run line and the counter say it spent


def so_far(actions: Iterable[Action], txs: Iterable[TxRecord]) -> SoFar:
    """The plan's actions against the journal's records of the transactions this apply sent. A reverted,
    replaced or dropped transaction spent no MOR (gas is ETH); an action with no transaction was skipped
    (already in place), not reached, or a proxy write: nothing spent either."""
    plan = list(actions)
    by_id = {a.id: a for a in plan}
    statuses: dict[str, set[str]] = {}
    hashes: list[str] = []
    unpriced = False
    for t in txs:
        hashes.append(t.tx_hash)
        if t.action_id not in by_id:
            unpriced = True
        statuses.setdefault(t.action_id, set()).add(t.status)
    done = tuple(a.id for a in plan if "mined" in statuses.get(a.id, ()))
    in_flight = tuple(a.id for a in plan if a.id not in done and bool(OPEN_STATUSES & statuses.get(a.id, set())))
    spent = None if unpriced else sum(by_id[i].cost.mor_out for i in (*done, *in_flight))
    mined = None if unpriced else sum(by_id[i].cost.mor_out for i in done)
    return SoFar(done, in_flight, tuple(hashes), spent, mined)


class SpendLedger:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, entry: dict[str, str | float]) -> None:
        append_line(self.path, json.dumps(entry))

    def record(self, wei: int, what: str, ts: float | None = None, ref: str = "") -> None:
        if wei <= 0:
            return
        entry: dict[str, str | float] = {"ts": time.time() if ts is None else ts, "wei": str(wei), "what": what}
        if ref:
            entry["ref"] = ref
        self._append(entry)

    def settle(self, ref: str, wei: int, what: str, ts: float | None = None) -> None:
        """Correct the reservation `ref` to `wei`, what its apply actually spent (appended: the file stays a log)."""
        if wei < 0 or not ref:
            raise ValueError("a settlement names its reservation and spends zero or more wei")
        self._append({"ts": time.time() if ts is None else ts, "wei": str(wei), "what": what, "settles": ref})

    def entries(self) -> list[Spend]:
        """Every reservation with its latest settlement (a settlement of no known reservation is ignored)."""
        if not self.path.exists():
            return []
        out: list[Spend] = []
        index: dict[str, int] = {}
        try:
            lines = self.path.read_bytes().splitlines()
        except OSError as exc:
            raise StateUnusable(f"cannot read {self.path}: {exc.strerror or exc}") from None
        for line in lines:
            try:
                d = json.loads(line.decode())
                ts, wei, what = float(d["ts"]), int(d["wei"]), str(d.get("what", ""))
                settles = d.get("settles")
                if settles is not None:
                    i = index.get(str(settles))
                    if i is not None and wei >= 0:
                        out[i] = replace(out[i], settled_wei=wei, settled_ts=ts)
                    continue
                ref = str(d.get("ref", ""))
                if wei < 0:
                    continue  # never written here (a reservation spends more than zero): it would hide spending
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a torn line from a crash
            if ref:
                index[ref] = len(out)
            out.append(Spend(ts, wei, what, ref))
        return out

    def spent_last_day(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return sum(e.counted(now) for e in self.entries())

    def room(self, limit: int, now: float | None = None) -> int:
        """How much more may be spent in the rolling day under `limit` (never negative)."""
        return max(limit - self.spent_last_day(now), 0)

    def reserve(self, wei: int, limit: int | None, what: str, now: float | None = None, ref: str = "") -> str | None:
        """Record `wei` as spent if it fits the rolling-day `limit` (None: no limit); else record nothing and say
        why. Asked under apply's lock, before anything is sent: two writers sharing the state directory cannot
        both fit into the same room. `ref` names it for its settlement."""
        refusal = budget_refusal(wei, self.spent_last_day(now), limit)
        if refusal is None:
            self.record(wei, what, ts=now, ref=ref)
        return refusal

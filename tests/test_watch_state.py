"""The watcher's state transitions driven directly, without threads, a chain or a forwarder."""

from __future__ import annotations

from pathlib import Path

from reconciler.watch.ledger import SpendLedger

MOR = 10**18


def test_budget_refusal_asks_the_ledger(tmp_path: Path) -> None:
    ledger = SpendLedger(tmp_path / "spend.jsonl")
    t0 = 1_000_000.0
    assert ledger.reserve(MOR, 2 * MOR, "plan 5 action(s)", now=t0) is None
    assert ledger.reserve(0, 2 * MOR, "proxy only", now=t0) is None  # costs nothing: always allowed
    assert ledger.reserve(MOR, 2 * MOR, "plan 1 action(s)", now=t0 + 1) is None  # exactly at the limit
    refusal = ledger.reserve(3 * MOR // 10, 2 * MOR, "plan 1 action(s)", now=t0 + 2)
    assert refusal is not None and "maxSpendPerDay" in refusal
    assert ledger.spent_last_day(now=t0 + 2) == 2 * MOR  # a refused plan reserves nothing
    assert ledger.reserve(3 * MOR // 10, None, "no limit", now=t0 + 3) is None
    assert ledger.spent_last_day(now=t0 + 3) == 2 * MOR + 3 * MOR // 10  # still tallied

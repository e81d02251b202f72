"""Watch safety in a loop: the rolling-day spend tally survives restarts; failures back off, then stop."""

from __future__ import annotations

from pathlib import Path

from reconciler.watch.backoff import Backoff
from reconciler.watch.ledger import DAY_SECONDS, SpendLedger

MOR = 10**18


def test_rolling_day_tally_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "spend.jsonl"
    t0 = 1_000_000.0
    SpendLedger(path).record(3 * MOR // 10, "bid.post", ts=t0)
    SpendLedger(path).record(2 * MOR // 10, "provider.register", ts=t0 + 100)
    SpendLedger(path).record(0, "nothing", ts=t0 + 100)
    fresh = SpendLedger(path)  # a restarted watcher
    assert fresh.spent_last_day(now=t0 + 200) == MOR // 2
    assert fresh.room(MOR, now=t0 + 200) == MOR // 2
    assert fresh.spent_last_day(now=t0 + DAY_SECONDS + 50) == 2 * MOR // 10  # the first one rolled off
    assert fresh.room(MOR // 10, now=t0 + 200) == 0
    with path.open("a") as f:
        f.write('{"ts": 1, "wei"')  # torn line from a crash
    assert SpendLedger(path).spent_last_day(now=t0 + 200) == MOR // 2


def test_backoff_grows_caps_and_stops_until_the_files_change() -> None:
    b = Backoff(base=1, cap=4, max_failures=4)
    assert b.may_apply(0, "v1")
    b = b.failed(0, "v1")
    assert b.delay() == 1 and not b.may_apply(0.5, "v1") and b.may_apply(1, "v1")
    b = b.failed(1, "v1")
    assert b.delay() == 2
    b = b.failed(3, "v1")
    assert b.delay() == 4
    b = b.failed(7, "v1")
    assert b.delay() == 4 and b.stopped_for == "v1"
    assert not b.may_apply(10_000, "v1")  # stopped: no more tries for this desired state
    assert b.desired_changed("v1") is b
    b = b.desired_changed("v2")
    assert b.failures == 0 and b.may_apply(10_000, "v2")
    assert Backoff().failed(0, "x").succeeded() == Backoff()

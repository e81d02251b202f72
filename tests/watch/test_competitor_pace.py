"""Competitors' bid events pace the watcher (issue 31, hostile inputs): a stranger posting and deleting bids on our
model every block must not make the watcher run back to back. Each poll gives at most one trigger for them, and
a competitor trigger comes at most once per pace (the events between are counted into the next one); the pace is
a watcher's option (WatchOptions.competitor_pace), and the runs' own limits (churn guard, spend caps) hold on top. Pure: a given clock."""

from __future__ import annotations

from reconciler.watch.loop import WatchOptions
from reconciler.watch.triggers import COMPETITOR_PACE, CompetitorPace


def test_a_flood_of_competitor_events_wakes_one_run_per_pace() -> None:
    assert COMPETITOR_PACE >= 30 and WatchOptions.competitor_pace == COMPETITOR_PACE  # a watcher paces by default
    pace = CompetitorPace(60.0)
    assert pace.seen(0, 0.0) is None  # nothing seen, nothing said
    first = pace.seen(500, 1.0)  # a flood in one poll: one trigger, counting them all
    assert first is not None and first.kind == "chain" and "500 competitor bid event(s)" in first.detail
    woken = [pace.seen(40, 1.0 + 5 * n) for n in range(1, 12)]  # a poll every 5 s, 40 more events each
    assert woken == [None] * 11  # within the pace: counted, no run
    later = pace.seen(1, 61.0)
    assert later is not None and "441 competitor bid event(s)" in later.detail  # everything since, in one
    assert pace.seen(0, 200.0) is None  # nothing new: no run however long it has been
    assert pace.seen(3, 201.0) is not None  # a lone move after a quiet pace: a run at once
    unpaced = CompetitorPace(0.0)
    assert all(unpaced.seen(1, float(t)) is not None for t in range(3))  # 0: every poll (the old behaviour)

"""The forwarder alerts: down once per cause (not every run), up once after a down, nothing for unknown."""

from __future__ import annotations

from reconciler.observe.forwarder_health import ForwarderHealth
from reconciler.watch.metrics import WatchMetrics
from reconciler.watch.serving import forwarder_seen
from reconciler.watch.state import WatchState


def _posted(readings: list[ForwarderHealth]) -> list[str]:
    state, posted = WatchState(), []
    for health in readings:
        state, alerts = forwarder_seen(state, health)
        for alert in alerts:
            state, post = state.notice(alert)
            if post:
                posted.append(alert.event)
    return posted


def test_down_is_posted_once_per_cause_and_up_once_after_it() -> None:
    up, down = ForwarderHealth("up"), ForwarderHealth("down", "admin /healthz unreachable (ConnectError)")
    assert _posted([up, up]) == []
    assert _posted([up, down, down, down]) == ["forwarder-down"]
    assert _posted([down, down, up, up, down]) == ["forwarder-down", "forwarder-up", "forwarder-down"]
    other = ForwarderHealth("down", "admin /healthz answered 502")
    assert _posted([down, other, other]) == ["forwarder-down", "forwarder-down"]
    assert _posted([ForwarderHealth("unknown"), ForwarderHealth("unknown")]) == []
    capped = ForwarderHealth("degraded", "at cap")
    assert _posted([down, capped, capped, up]) == ["forwarder-down", "forwarder-up", "forwarder-degraded"]


def test_the_metric_is_absent_until_known_then_one_or_zero() -> None:
    m = WatchMetrics()
    assert "reconcile_watch_forwarder_up" not in m.render()
    assert 'reconcile_watch_forwarder_state{state="unknown"} 1' in m.render()
    m.forwarder_seen("down")
    assert "reconcile_watch_forwarder_up 0\n" in m.render()
    m.forwarder_seen("degraded")
    assert "reconcile_watch_forwarder_up 1\n" in m.render()
    assert 'reconcile_watch_forwarder_state{state="degraded"} 1' in m.render()


def test_the_memory_of_since_when_the_forwarder_serves() -> None:
    """Down-since is kept from the first down reading; up-since is set only on a recovery (a watcher that never
    saw the forwarder down holds nothing back); unknown changes nothing."""
    from reconciler.plan.unserved import Serving, Since
    from reconciler.watch.serving import served_since

    up, down, unknown = ForwarderHealth("up"), ForwarderHealth("down", "x"), ForwarderHealth("unknown")
    m = Serving()
    m = served_since(m, up, 100)
    assert m.forwarder is None
    m = served_since(m, down, 200)
    m = served_since(m, down, 300)
    m = served_since(m, unknown, 350)
    assert m.forwarder == Since(down=True, at=200)
    m = served_since(m, ForwarderHealth("degraded", "at cap"), 400)
    m = served_since(m, up, 500)
    assert m.forwarder == Since(down=False, at=400)
    state = WatchState()
    assert state.serving == Serving()

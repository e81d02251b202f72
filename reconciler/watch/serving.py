"""What the watcher alerts on about what serves its models: the forwarder down or degraded, posted once per
cause, and `forwarder-up` once when it serves again after a `forwarder-down`; and since when it has (not) served,
which the planner's policy.unserved reads (reconciler.plan.unserved). Pure, on WatchState's memory."""

from __future__ import annotations

from dataclasses import replace

from reconciler.observe.forwarder_health import DEGRADED, DOWN, ForwarderHealth
from reconciler.plan.unserved import Serving, Since
from reconciler.watch.state import Alert, WatchState

DOWN_EVENT, UP_EVENT, DEGRADED_EVENT = "forwarder-down", "forwarder-up", "forwarder-degraded"


def forwarder_seen(state: WatchState, health: ForwarderHealth) -> tuple[WatchState, tuple[Alert, ...]]:
    """The alerts this reading raises (`WatchState.notice` then posts each once per key)."""
    if health.state == DOWN:
        summary = (
            f"the forwarder is down ({health.why}): its models' bids still sell sessions nothing serves, and each "
            "failed session lowers the provider's success ratio"
        )
        return state, (Alert(DOWN_EVENT, summary, key=health.why),)
    if not health.up:  # unknown: nothing to say either way
        return state, ()
    alerts: list[Alert] = []
    if DOWN_EVENT in state.alerted:
        alerts.append(Alert(UP_EVENT, "the forwarder serves again", key=None))
    state = state.cleared(DOWN_EVENT)
    if health.state == DEGRADED:
        alerts.append(Alert(DEGRADED_EVENT, f"the forwarder is degraded: {health.why}", key=health.why))
    else:
        state = state.cleared(DEGRADED_EVENT)
    return state, tuple(alerts)


def served_since(memory: Serving, health: ForwarderHealth, now: int) -> Serving:
    """The memory after a reading at `now`: down since the first down reading; served again since the first
    serving reading after a down (never seen down: nothing, so nothing is held back); unknown changes nothing."""
    was = memory.forwarder
    if health.state == DOWN:
        return memory if was is not None and was.down else replace(memory, forwarder=Since(down=True, at=now))
    if health.up and was is not None and was.down:
        return replace(memory, forwarder=Since(down=False, at=now))
    return memory

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


def test_the_memory_of_since_when_each_models_upstream_serves() -> None:
    """A model's upstream judged down is unserved from its first down judgement (keyed by model id, as the planner
    asks); it serves again only on evidence (requests judged since the last reading), never on a judgement kept
    from before or made with nothing to judge (a restarted watcher's first readings), nor on unknown."""
    from reconciler.observe.upstream_health import UpstreamHealth
    from reconciler.plan.unserved import Serving, Since
    from reconciler.watch.serving import upstreams_served_since

    mid = "0x" + "ab" * 32

    def h(state: str, fresh: bool = True, why: str = "") -> dict[str, UpstreamHealth]:
        return {mid: UpstreamHealth("m", state, why, model_id=mid, fresh=fresh)}

    m = Serving()
    m = upstreams_served_since(m, h("up"), 100)
    assert m.models == {}  # never seen down: nothing is held back
    m = upstreams_served_since(m, h("down", why="the upstream refused the key (401 ×2)"), 200)
    m = upstreams_served_since(m, h("down", fresh=False), 300)
    m = upstreams_served_since(m, h("unknown", fresh=False), 350)
    m = upstreams_served_since(m, h("up", fresh=False, why="no requests since the last run"), 380)
    assert m.of(mid) == Since(down=True, at=200) and m.of(mid.upper().replace("0X", "0x")) == m.of(mid)
    assert m.of("0x" + "cd" * 32) is None  # another model: nothing known of it
    m = upstreams_served_since(m, h("degraded", why="quota or rate limit (429 ×1)"), 400)
    m = upstreams_served_since(m, h("up"), 500)
    assert m.of(mid) == Since(down=False, at=400)
    no_id = {"name-only": UpstreamHealth("name-only", "down", "x", fresh=True)}  # an older forwarder: no model_id
    assert upstreams_served_since(Serving(), no_id, 600) == Serving()


def test_a_judgement_says_whether_it_was_made_on_requests_counted_since_the_last_reading() -> None:
    from reconciler.observe.prometheus import MetricSample
    from reconciler.observe.upstream_health import judge_upstreams, reading

    def r(ok: float, refused: float) -> object:
        labels = {"model": "m", "model_id": "0x" + "ab" * 32}
        return reading(
            [
                MetricSample("morpheus_proxy_requests_total", {**labels, "status": "200"}, ok),
                MetricSample("morpheus_proxy_upstream_errors_total", {**labels, "kind": "http_401"}, refused),
            ]
        )

    first = judge_upstreams(None, r(1, 0), {})  # type: ignore[arg-type]
    (only,) = first.values()
    assert only.state == "unknown" and not getattr(only, "fresh", False)
    down = judge_upstreams(r(1, 0), r(1, 2), first)  # type: ignore[arg-type]
    assert [(h.state, getattr(h, "fresh", None)) for h in down.values()] == [("down", True)]
    kept = judge_upstreams(r(1, 2), r(1, 2), down)  # type: ignore[arg-type]
    assert [(h.state, getattr(h, "fresh", None)) for h in kept.values()] == [("down", False)]


def test_a_model_no_longer_declared_is_forgotten() -> None:
    """A model dropped (or made absent) and declared again later starts with no memory, instead of being held as
    unserved since before it was dropped; the forwarder's memory stays."""
    from reconciler.plan.unserved import Serving, Since
    from reconciler.watch.serving import declared_only

    a, b = "0x" + "ab" * 32, "0x" + "cd" * 32
    m = Serving(Since(down=True, at=1), {a: Since(down=True, at=2), b: Since(down=False, at=3)})
    assert declared_only(m, [a.upper().replace("0X", "0x"), b]) is m
    assert declared_only(m, [b]) == Serving(Since(down=True, at=1), {b: Since(down=False, at=3)})

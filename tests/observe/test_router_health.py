"""The managed router's health (`proxy.router.url`'s /healthcheck) for the watcher's run line, metric and webhook:
up when it answers, down when it does not, unknown when no router URL is declared."""

from __future__ import annotations

from tests.support.ports import free_port
from tests.support.router_stub import router_stub


def test_a_router_that_answers_is_up_one_that_does_not_is_down() -> None:
    from reconciler.observe.router_health import probe_router

    assert probe_router(None).state == "unknown"
    with router_stub(status=200) as (_, url):
        assert probe_router(url).state == "up"
    with router_stub(status=503) as (_, url):
        down = probe_router(url)
        assert down.state == "down" and "503" in down.why
    gone = probe_router(f"http://127.0.0.1:{free_port()}")
    assert gone.state == "down" and "unreachable" in gone.why and not gone.up


def test_router_alerts_once_per_cause_and_its_metric() -> None:
    from reconciler.observe.router_health import RouterHealth
    from reconciler.watch.metrics import WatchMetrics
    from reconciler.watch.serving import router_seen
    from reconciler.watch.state import WatchState

    state, posted = WatchState(), []
    down = RouterHealth("down", "router /healthcheck unreachable (ConnectError)")
    for health in (RouterHealth("up"), down, down, RouterHealth("up"), RouterHealth("up"), RouterHealth("unknown")):
        state, alerts = router_seen(state, health)
        for alert in alerts:
            state, post = state.notice(alert)
            if post:
                posted.append(alert.event)
    assert posted == ["router-down", "router-up"]
    m = WatchMetrics()
    assert "reconcile_watch_router_up" not in m.render()
    m.router_seen("down")
    assert "reconcile_watch_router_up 0\n" in m.render()
    m.router_seen("up")
    assert "reconcile_watch_router_up 1\n" in m.render()


def test_the_health_is_judged_from_the_routers_observation_without_asking_again() -> None:
    """observe_router asks /healthcheck once; judge_router reads that answer: 2xx up (even when its body cannot be
    read for the loaded models), an error status or no answer down with why, no URL unknown."""
    from reconciler.observe.model import RouterState
    from reconciler.observe.router_health import judge_router

    assert judge_router(None, RouterState()).state == "unknown"
    assert judge_router("http://r", RouterState(loaded_model_ids=frozenset(), answered=True)).state == "up"
    unreadable = RouterState(note="router /healthcheck answer unreadable (JSONDecodeError)", answered=True)
    assert judge_router("http://r", unreadable).state == "up"
    down = judge_router("http://r", RouterState(note="router /healthcheck answered 503", answered=False))
    assert (down.state, down.why) == ("down", "router /healthcheck answered 503")

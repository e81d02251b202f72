"""Per-model upstream alerts and metrics: down posted once per cause, up once after it, degraded likewise; the
metric 1/0 per model (absent while unknown); the page's model row shows the upstream in its forwarder cell."""

from __future__ import annotations


def _posted(readings: list[dict[str, tuple[str, str]]]) -> list[str]:
    from reconciler.observe.upstream_health import UpstreamHealth
    from reconciler.watch.serving import upstreams_seen
    from reconciler.watch.state import WatchState

    state, posted = WatchState(), []
    for r in readings:
        healths = {m: UpstreamHealth(m, s, f"{c} ×{len(posted)}", c) for m, (s, c) in r.items()}
        state, alerts = upstreams_seen(state, healths)
        for alert in alerts:
            state, post = state.notice(alert)
            if post:
                posted.append(alert.event)
    return posted


def test_upstream_down_once_per_cause_then_up_once() -> None:
    up, refused = ("up", ""), ("down", "key-refused")
    assert _posted([{"a": up}, {"a": up}]) == []
    assert _posted([{"a": refused}, {"a": refused}, {"a": refused}]) == ["upstream-down"]
    assert _posted([{"a": refused}, {"a": up}, {"a": up}]) == ["upstream-down", "upstream-up"]
    assert _posted([{"a": refused}, {"a": refused, "b": refused}]) == ["upstream-down", "upstream-down"]
    quota = ("degraded", "quota")
    assert _posted([{"a": quota}, {"a": quota}, {"a": up}, {"a": quota}]) == ["upstream-degraded", "upstream-degraded"]
    assert _posted([{"a": ("unknown", "")}]) == []


def test_the_metric_per_model() -> None:
    from reconciler.observe.upstream_health import UpstreamHealth
    from reconciler.watch.metrics import WatchMetrics

    m = WatchMetrics()
    m.upstreams_seen({"a": UpstreamHealth("a", "down", "refused", "key-refused"), "b": UpstreamHealth("b", "unknown")})
    text = m.render()
    assert 'reconcile_watch_upstream_up{model="a"} 0\n' in text
    assert 'reconcile_watch_upstream_up{model="b"}' not in text
    assert 'reconcile_watch_upstream_state{model="a",state="down"} 1\n' in text
    assert 'reconcile_watch_upstream_state{model="b",state="unknown"} 1\n' in text


def test_the_page_cell_of_a_model_whose_upstream_is_down() -> None:
    from reconciler.observe.upstream_health import UpstreamHealth
    from reconciler.status.html import _rows
    from reconciler.status.places import with_upstreams

    row = {
        "kind": "model",
        "name": "llama <x>",
        "id": "0x" + "ab" * 32,
        "state": "in sync",
        "places": {p: {"state": "in sync"} for p in ("desired", "chain", "forwarder", "router")},
    }
    healths = {"llama <x>": UpstreamHealth("llama <x>", "down", "the upstream refused the key (401 ×3)", "key-refused")}
    (out,) = with_upstreams([row], healths)
    assert out["places"]["forwarder"]["state"] == "down" and out["state"] == "down"
    assert "401" in out["places"]["forwarder"]["detail"]
    html = _rows({"rows": [out]})
    assert 'data-place="forwarder" data-state="down"' in html and "llama &lt;x&gt;" in html


def test_every_serving_event_is_one_the_webhook_sends() -> None:
    from reconciler.watch import serving
    from reconciler.watch.notify import EVENTS

    names = [
        v
        for k, v in vars(serving).items()
        if k.isupper() and isinstance(v, str) and k.endswith(("_EVENT", "_UP", "_DOWN", "_DEGRADED"))
    ]
    assert len(names) == 8 and set(names) <= set(EVENTS)


def test_the_page_matches_a_model_by_id_where_the_forwarder_gives_one() -> None:
    from reconciler.observe.upstream_health import UpstreamHealth
    from reconciler.status.places import with_upstreams

    mid = "0x" + "cd" * 32
    row = {
        "kind": "model",
        "name": "My model",  # the page's name; the forwarder labels the upstream's model name
        "id": mid,
        "state": "in sync",
        "places": {p: {"state": "in sync"} for p in ("desired", "chain", "forwarder", "router")},
    }
    quota = UpstreamHealth("gpt-4o-mini", "degraded", "quota or rate limit (429 ×2)", "quota", model_id=mid)
    (out,) = with_upstreams([row], {mid: quota})
    assert out["places"]["forwarder"]["state"] == "degraded" and out["state"] == "degraded"
    other = UpstreamHealth("My model", "down", "x", "key-refused", model_id="0x" + "ef" * 32)
    assert with_upstreams([row], {"o": other}) == [row]  # another model's id: not this row, whatever its name

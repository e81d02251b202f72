"""The forwarder is part of the state (issue 29): a forwarder that cannot be read is a red "down" in the rows'
forwarder place and on the page, never a green "in sync"."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from reconciler.observe.model import ForwarderState
from reconciler.observe.router_health import RouterHealth
from reconciler.observe.slots import SlotsReading
from reconciler.plan.planner import plan
from reconciler.status import places
from reconciler.status.html import render_body
from reconciler.status.model import build_status
from reconciler.status.page import Observation, PageInputs, build_page
from reconciler.status.text import render_status
from tests.plan.test_planner import converged_world
from tests.support.planfactory import desired_from

ADMIN = "  modelsConfigPath: /tmp/never-written/forwarder.json\n"


def _world(reachable: bool):  # type: ignore[no-untyped-def]
    _d, o = converged_world()
    d = desired_from(**{ADMIN: ADMIN + "  adminUrl: http://127.0.0.1:9\n  adminToken: env:FWD_TOKEN\n"})
    if reachable:
        served = o.proxy.file
        o = replace(o, proxy=ForwarderState(file=o.proxy.file, served=served, admin_configured=True, reachable=True))
    else:
        o = replace(
            o, proxy=ForwarderState(file=o.proxy.file, admin_configured=True, reachable=False, note="ConnectError")
        )
    return d, o, plan(d, o)


def test_a_forwarder_that_answers_is_in_sync() -> None:
    d, o, p = _world(reachable=True)
    rows = places.rows(d, p, o.chain)
    assert {r["places"]["forwarder"]["state"] for r in rows} == {"in sync"}


def test_a_forwarder_that_cannot_be_read_is_down_in_every_row_and_red_on_the_page() -> None:
    d, o, p = _world(reachable=False)
    rows = places.rows(d, p, o.chain)
    for r in rows:
        fwd = r["places"]["forwarder"]
        assert fwd["state"] == "down", r
        assert "ConnectError" in fwd["detail"]
        assert r["state"] == "down"
    doc = build_page(PageInputs(now=o.now, observation=Observation(d, o.chain, p, "base-sepolia")))
    html = render_body(doc)
    assert 'data-place="forwarder" data-state="down"' in html
    assert 'data-place="forwarder" data-state="in sync"' not in html
    assert "badge s-down" in html


HOSTILE = "<img src=x onerror=alert(1)>"


def _health_run(ts: int) -> dict[str, Any]:
    return {
        "event": "run",
        "ts": ts,
        "trigger": ["timer"],
        "result": "no-changes",
        "txs": 0,
        "mode": "apply",
        "forwarder": {"state": "up"},
        "upstreams": {"llama-up": {"state": "down", "why": f"key refused (401 x3) {HOSTILE}"}},
        "router": {"state": "down", "why": f"router /healthcheck answered 503 {HOSTILE}"},
    }


def test_the_page_document_and_page_carry_the_last_runs_upstream_and_router_health() -> None:
    d, o, p = _world(reachable=True)
    later = {"event": "run", "ts": o.now + 60, "trigger": ["file"], "result": "invalid", "txs": 0, "mode": "apply"}
    runs = [_health_run(o.now), later]  # the newest run judged nothing: the one before it says how things stood
    doc = build_page(PageInputs(now=o.now + 180, observation=Observation(d, o.chain, p, "net"), runs=runs))
    health = doc["health"]
    assert health["router"]["state"] == "down" and "503" in health["router"]["why"]
    assert health["upstreams"]["llama-up"]["state"] == "down"
    assert health["forwarder"] == {"state": "up"}
    assert health["age"] == "3 min"
    html = render_body(doc)
    assert '<tr data-part="router" data-state="down">' in html
    assert '<tr data-part="upstream" data-state="down">' in html
    assert 'data-label="why"' in html and "503" in html
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert build_page(PageInputs(now=o.now, observation=Observation(d, o.chain, p, "net")))["health"] is None


def test_status_text_and_json_show_the_watchers_last_upstream_and_router_health() -> None:
    from reconciler.status.serving import with_serving  # the module this issue adds

    d, o, p = _world(reachable=True)
    doc = build_status(d, o.chain, p, SlotsReading(False))
    without = with_serving(doc, runs=[], now=o.now, router=None)
    assert without["watcherHealth"] is None
    text = render_status(without)
    assert "upstream health: judged only by a running watcher" in text
    doc = with_serving(doc, runs=[_health_run(o.now)], now=o.now + 120, router=RouterHealth("down", "unreachable"))
    assert json.loads(json.dumps(doc))["watcherHealth"]["upstreams"]["llama-up"]["state"] == "down"
    assert doc["router"] == {"state": "down", "why": "unreachable"}
    text = render_status(doc)
    assert "upstream llama-up (the watcher's last run, 2 min ago): down (key refused (401 x3)" in text
    assert "router: down (unreachable)" in text
    assert "router (the watcher's last run, 2 min ago): down (router /healthcheck answered 503" in text

"""The forwarder is part of the state (issue 29): a forwarder that cannot be read is a red "down" in the rows'
forwarder place and on the page, never a green "in sync"."""

from __future__ import annotations

from dataclasses import replace

from reconciler.observe.model import ForwarderState
from reconciler.plan.planner import plan
from reconciler.status import places
from reconciler.status.html import render_body
from reconciler.status.page import Observation, PageInputs, build_page
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

"""A plan made where the forwarder's admin API cannot be read never says "No changes": it says the proxy was not
checked, and why (issue 29). Its exit code still covers the chain part (tests/plan/test_plan_devnet.py)."""

from __future__ import annotations

from dataclasses import replace

from reconciler.observe.model import ForwarderState
from reconciler.plan.codec import plan_from_json, plan_to_json
from reconciler.plan.planner import plan
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from tests.plan.test_planner import converged_world
from tests.support.planfactory import desired_from

ADMIN = "  modelsConfigPath: /tmp/never-written/forwarder.json\n"


def _unread_proxy_plan():  # type: ignore[no-untyped-def]
    _d, o = converged_world()
    d = desired_from(**{ADMIN: ADMIN + "  adminUrl: http://127.0.0.1:9\n  adminToken: env:FWD_TOKEN\n"})
    o = replace(o, proxy=ForwarderState(file=o.proxy.file, admin_configured=True, reachable=False, note="ConnectError"))
    return plan(d, o)


def test_a_plan_that_could_not_read_the_proxy_never_says_no_changes() -> None:
    p = _unread_proxy_plan()
    assert not p.pending and not p.proxy_observed
    for out in (render_text(p), render_text(p, verbose=True), render_markdown(p)):
        assert "No changes" not in out and "no changes" not in out.lower()
        assert "proxy not checked (ConnectError)" in out
    assert "proxy not checked (ConnectError)" in render_text(plan_from_json(plan_to_json(p)))

"""Apply keeps the rule of plan and status (issue 26, "Why" row 2): a reload's credential goes only to loopback
or a host the operator trusts; otherwise apply refuses before any transaction, and the reload client itself
sends nothing (a real loopback server, reached by a name the rule does not take for loopback, records it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.apply.proxy_config import ProxyReloadError, reload_forwarder
from reconciler.apply.refusals import ApplyError, refuse_untrusted
from reconciler.desired.model import Desired
from reconciler.observe.model import ForwarderState
from reconciler.plan.planner import plan
from tests.support.planfactory import desired_from, observed
from tests.support.recorder import loopback_alias, recording_server

TOKEN = "admin-token-that-must-stay-home"


def _desired(url: str, tmp_path: Path) -> Desired:
    return desired_from(
        **{
            "  modelsConfigPath: /tmp/never-written/forwarder.json": f"  modelsConfigPath: {tmp_path / 'f.json'}\n"
            f"  adminUrl: {url}\n  adminToken: env:ADMIN_TOKEN"
        }
    )


def test_apply_refuses_a_reload_bound_for_an_untrusted_host(tmp_path: Path) -> None:
    d = _desired("https://collector.example.net:9000", tmp_path)
    p = plan(d, observed(proxy=ForwarderState(admin_configured=True, reachable=False)))
    with pytest.raises(ApplyError) as exc:
        refuse_untrusted(d, p, {})
    message = str(exc.value)
    assert (
        "nothing was sent" in message and "not checked: collector.example.net is not a trusted destination" in message
    )
    assert "--trust-host collector.example.net" in message
    refuse_untrusted(d, p, {"RECONCILE_TRUSTED_HOSTS": "collector.example.net"})
    refuse_untrusted(_desired("http://127.0.0.1:9000", tmp_path), p, {})


def test_the_reload_client_sends_nothing_to_an_untrusted_host() -> None:
    with recording_server() as recorder:
        url = f"http://{loopback_alias()}:{recorder.port}"
        with pytest.raises(ProxyReloadError, match="is not a trusted destination"):
            reload_forwarder(url, TOKEN, "v1")
        assert recorder.requests == []

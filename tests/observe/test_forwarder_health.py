"""The forwarder's health from what its admin API answered (pure), and from a real forwarder process."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.observe.forwarder_admin import AdminCallFailed, ForwarderAdmin, UntrustedDestination
from reconciler.observe.forwarder_health import AT_CAP, judge, probe
from reconciler.observe.prometheus import MetricSample
from tests.support.ports import free_port
from tests.support.watch_helpers import forwarder_process


def test_each_answer_gives_its_state() -> None:
    refused = AdminCallFailed("/healthz", None, "ConnectError")
    assert judge(refused, None, []).state == "down"
    assert judge(refused, None, []).why == "admin /healthz unreachable (ConnectError)"
    assert judge(UntrustedDestination("/healthz", "example.com"), None, []).state == "unknown"
    assert judge(None, AdminCallFailed("/admin/config", 401, "HTTPStatusError"), []).state == "degraded"
    assert judge(None, "v1", [MetricSample(AT_CAP, {}, 1.0)]).state == "degraded"
    up = judge(None, "v1", [MetricSample(AT_CAP, {}, 0.0)])
    assert (up.state, up.version, up.up) == ("up", "v1", True)
    assert not judge(refused, None, []).up


def test_a_real_forwarder_is_up_then_down_once_stopped(tmp_path: Path) -> None:
    config = tmp_path / "models.json"
    config.write_text(json.dumps({"models": []}))
    with forwarder_process(config, "tok") as (_port, admin_port):
        admin = ForwarderAdmin(f"http://127.0.0.1:{admin_port}", "tok")
        health = probe(admin)
        assert health.state == "up" and health.version, health
        assert probe(ForwarderAdmin(f"http://127.0.0.1:{admin_port}", "wrong")).state == "degraded"
    assert probe(admin).state == "down"  # forwarder_process stopped it with SIGTERM
    assert probe(ForwarderAdmin(f"http://127.0.0.1:{free_port()}", "tok")).state == "down"
    assert probe(None).state == "unknown"

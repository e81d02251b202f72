"""The watcher's /metrics and /healthz over real HTTP."""

from __future__ import annotations

import httpx

from reconciler.watch.metrics import MetricsServer, WatchMetrics


def test_metrics_and_health_over_http() -> None:
    m = WatchMetrics(auto_apply=True)
    m.run_finished("converged", pending=0, spent_wei=3 * 10**17)
    m.run_finished("failed", pending=2, error='bid.post reverted: "quoted"\nsecond line')
    m.alerted("failure")
    server = MetricsServer(m, "127.0.0.1", 0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(base + "/healthz").text == "ok\n"
        text = httpx.get(base + "/metrics").text
        assert httpx.get(base + "/nope").status_code == 404
    finally:
        server.stop()
    assert 'reconcile_watch_runs_total{result="converged"} 1' in text
    assert 'reconcile_watch_runs_total{result="failed"} 1' in text
    assert "reconcile_watch_pending_actions 2" in text
    assert "reconcile_watch_mor_spent_wei_total 300000000000000000" in text
    assert 'reconcile_watch_alerts_total{event="failure"} 1' in text
    assert 'message="bid.post reverted: \\"quoted\\"\\nsecond line"} 1' in text
    assert "reconcile_watch_auto_apply 1" in text
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert float(samples["reconcile_watch_last_success_timestamp_seconds"]) > 0


def test_last_success_moves_only_for_a_successful_run() -> None:
    m = WatchMetrics()
    m.run_finished("invalid-desired-state", pending=0)
    m.run_finished("drift-reported", pending=1)
    m.run_finished("no-changes", pending=0, success=False)  # went on with the last good state: not a success
    assert m.last_success == 0.0 and m.last_run > 0
    m.run_finished("no-changes", pending=0)
    assert m.last_success > 0


def test_a_fleet_watchers_metrics_carry_its_providers_name_and_a_single_ones_do_not() -> None:
    from reconciler.observe.prometheus import parse

    def fed(m: WatchMetrics) -> str:
        m.run_finished("converged", pending=0, spent_wei=7)
        m.alerted("failure")
        m.endpoints_seen({"env:RPC_URL": 1})
        m.funds(10**18, 5 * 10**18)
        m.forwarder_seen("up")
        return m.render()

    fleet, single = fed(WatchMetrics(auto_apply=True, provider="base-east")), fed(WatchMetrics(auto_apply=True))
    assert 'reconcile_watch_runs_total{provider="base-east",result="converged"} 1' in fleet
    assert 'reconcile_watch_pending_actions{provider="base-east"} 0' in fleet
    assert 'reconcile_watch_rpc_endpoint_up{provider="base-east",endpoint="env:RPC_URL"} 1' in fleet
    samples = parse(fleet)
    assert len(samples) == len(parse(single)) > 20
    assert all(s.labels.get("provider") == "base-east" for s in samples)
    assert "provider=" not in single  # a single provider's metrics are as they were
    assert [ln for ln in fleet.splitlines() if ln.startswith("#")] == [
        ln for ln in single.splitlines() if ln.startswith("#")
    ]

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

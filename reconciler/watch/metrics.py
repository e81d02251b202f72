"""The watcher's /metrics (Prometheus text) and /healthz, served from a small stdlib HTTP thread.

Numbers only, no secrets: runs by result, last success time, pending drift actions, MOR spent (wei), the
last error's text (already secret-free), whether auto-apply is suspended.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass
class WatchMetrics:
    runs: dict[str, int] = field(default_factory=dict)  # result -> count
    last_success: float = 0.0
    last_run: float = 0.0
    pending_actions: int = 0
    mor_spent_wei: int = 0
    last_error: str = ""
    suspended: bool = False
    auto_apply: bool = False
    blocked_manual: bool = False  # the last run could not apply until a person acts (reconcile approve)
    alerts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run_finished(self, result: str, pending: int, spent_wei: int = 0, error: str = "") -> None:
        with self._lock:
            now = time.time()
            self.runs[result] = self.runs.get(result, 0) + 1
            self.last_run = now
            self.pending_actions = pending
            self.mor_spent_wei += spent_wei
            if result in ("converged", "no-changes", "drift-reported"):
                self.last_success = now
            self.last_error = error
            self.blocked_manual = result == "blocked-manual"

    def alerted(self, event: str) -> None:
        with self._lock:
            self.alerts[event] = self.alerts.get(event, 0) + 1

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP reconcile_watch_runs_total Watch runs by result.",
                "# TYPE reconcile_watch_runs_total counter",
            ]
            lines += [f'reconcile_watch_runs_total{{result="{_escape(r)}"}} {n}' for r, n in sorted(self.runs.items())]
            lines += [
                "# HELP reconcile_watch_last_success_timestamp_seconds Unix time of the last successful run.",
                "# TYPE reconcile_watch_last_success_timestamp_seconds gauge",
                f"reconcile_watch_last_success_timestamp_seconds {self.last_success:.3f}",
                "# HELP reconcile_watch_last_run_timestamp_seconds Unix time of the last run.",
                "# TYPE reconcile_watch_last_run_timestamp_seconds gauge",
                f"reconcile_watch_last_run_timestamp_seconds {self.last_run:.3f}",
                "# HELP reconcile_watch_pending_actions Actions pending after the last run (drift not yet converged).",
                "# TYPE reconcile_watch_pending_actions gauge",
                f"reconcile_watch_pending_actions {self.pending_actions}",
                "# HELP reconcile_watch_mor_spent_wei_total MOR spent by this watcher (fees and stake), in wei.",
                "# TYPE reconcile_watch_mor_spent_wei_total counter",
                f"reconcile_watch_mor_spent_wei_total {self.mor_spent_wei}",
                "# HELP reconcile_watch_suspended 1 when auto-apply is suspended (policy.suspend or --suspend).",
                "# TYPE reconcile_watch_suspended gauge",
                f"reconcile_watch_suspended {int(self.suspended)}",
                "# HELP reconcile_watch_auto_apply 1 when the watcher applies, 0 when it only alerts.",
                "# TYPE reconcile_watch_auto_apply gauge",
                f"reconcile_watch_auto_apply {int(self.auto_apply)}",
                "# HELP reconcile_watch_blocked_manual 1 when the last run waits for a manual step (reconcile approve).",
                "# TYPE reconcile_watch_blocked_manual gauge",
                f"reconcile_watch_blocked_manual {int(self.blocked_manual)}",
                "# HELP reconcile_watch_alerts_total Alerts raised, by event.",
                "# TYPE reconcile_watch_alerts_total counter",
            ]
            lines += [
                f'reconcile_watch_alerts_total{{event="{_escape(e)}"}} {n}' for e, n in sorted(self.alerts.items())
            ]
            lines += [
                "# HELP reconcile_watch_last_error_info The last run's error (empty when it succeeded).",
                "# TYPE reconcile_watch_last_error_info gauge",
                f'reconcile_watch_last_error_info{{message="{_escape(self.last_error[:300])}"}} {int(bool(self.last_error))}',
            ]
            return "\n".join(lines) + "\n"


class MetricsServer:
    """`/metrics` and `/healthz` on host:port in a daemon thread; `stop()` closes the socket."""

    def __init__(self, metrics: WatchMetrics, host: str, port: int) -> None:
        self.metrics = metrics
        handler = _handler_for(metrics)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="watch-metrics", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _handler_for(metrics: WatchMetrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, ctype, code = metrics.render().encode(), "text/plain; version=0.0.4", 200
            elif self.path == "/healthz":
                body, ctype, code = b"ok\n", "text/plain", 200
            else:
                body, ctype, code = b"not found\n", "text/plain", 404
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the watcher logs its own lines
            return

    return Handler

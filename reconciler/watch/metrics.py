"""The watcher's /metrics (Prometheus text), served with /healthz and the status page by reconciler.status.server.

Numbers only, no secrets: runs by result, last success time, pending drift actions, MOR spent (wei), the
last error's text (already secret-free), whether auto-apply is suspended, another writer seen, the backoff,
and the signer's ETH and the payer's MOR (so alert rules can fire on low funds, examples/monitoring).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.observe.upstream_health import UpstreamHealth
from reconciler.watch.record import SUCCESS_RESULTS


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labelled(line: str, label: str) -> str:
    """A sample line with `label` (e.g. `provider="base-east"`) as its first label; comments as they are."""
    if not line or line.startswith("#"):
        return line
    name, value = line.rsplit(" ", 1)
    if name.endswith("}"):
        metric, _, labels = name.partition("{")
        return f"{metric}{{{label},{labels} {value}"
    return f"{name}{{{label}}} {value}"


def _model_labels(model: tuple[str, str]) -> str:
    """`model="name"` and, where the forwarder labels it, `model_id="0x…"`."""
    name, mid = model
    return f'model="{_escape(name)}"' + (f',model_id="{_escape(mid)}"' if mid else "")


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
    last_result: str = ""  # the last run's result (one series, for alert rules on blocked states)
    desired_invalid: bool = False  # the last run found the desired-state files invalid (it may have used the last good)
    held_actions: int = 0  # changes the last run's plan held back (churn guard, router loading)
    held_until: float = 0.0  # the latest time one of them may go (0: not known)
    alerts: dict[str, int] = field(default_factory=dict)
    endpoints: dict[str, int] = field(default_factory=dict)  # RPC endpoint label -> 1 up, 0 down or lagging
    writer_conflict: bool = False
    failures: int = 0  # failed applies in a row (the backoff)
    backing_off: bool = False  # applying waits for the backoff, or stopped after --max-failures
    signer_eth_wei: int | None = None  # None until a run has read it
    payer_mor_wei: int | None = None
    low_funds: dict[str, bool] = field(default_factory=dict)  # "eth" | "mor" -> below policy.alerts
    forwarder: str = "unknown"  # up | degraded | down | unknown (reconciler.observe.forwarder_health)
    router: str = "unknown"  # up | down | unknown (reconciler.observe.router_health)
    upstreams: dict[tuple[str, str], str] = field(default_factory=dict)  # (model, model_id) -> state (upstream_health)
    provider: str = ""  # a fleet member's name: every sample carries provider="name" ("" for a single provider)
    margins: list[dict[str, Any]] = field(default_factory=list)  # today's rows of reconciler.status.margins
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run_finished(
        self,
        result: str,
        pending: int,
        spent_wei: int = 0,
        error: str = "",
        *,
        success: bool | None = None,
        desired_invalid: bool = False,
        held: int = 0,
        held_until: float = 0.0,
    ) -> None:
        """Count a finished run. `success` (RunRecord.succeeded): a valid desired state fully applied or already in
        place; left out, the result decides (converged, no-changes)."""
        with self._lock:
            now = time.time()
            self.runs[result] = self.runs.get(result, 0) + 1
            self.last_run = now
            self.pending_actions = pending
            self.mor_spent_wei += spent_wei
            if success if success is not None else result in SUCCESS_RESULTS:
                self.last_success = now
            self.last_error = error
            self.last_result = result
            self.blocked_manual = result == "blocked-manual"
            self.desired_invalid = desired_invalid or result == "invalid-desired-state"
            self.held_actions, self.held_until = held, held_until

    def endpoints_seen(self, up: dict[str, int]) -> None:
        with self._lock:
            self.endpoints = dict(up)

    def alerted(self, event: str) -> None:
        with self._lock:
            self.alerts[event] = self.alerts.get(event, 0) + 1

    def standing(self, *, writer_conflict: bool, failures: int, backing_off: bool) -> None:
        with self._lock:
            self.writer_conflict, self.failures, self.backing_off = writer_conflict, failures, backing_off

    def forwarder_seen(self, state: str) -> None:
        with self._lock:
            self.forwarder = state

    def router_seen(self, state: str) -> None:
        with self._lock:
            self.router = state

    def upstreams_seen(self, healths: Mapping[str, UpstreamHealth]) -> None:
        with self._lock:
            self.upstreams = {(h.model, h.model_id): h.state for h in healths.values()}

    def margins_seen(self, rows: list[dict[str, Any]]) -> None:
        """Today's margin rows per model (reconciler.status.margins), as the last run computed them."""
        with self._lock:
            self.margins = list(rows)

    def funds(self, eth_wei: int | None, mor_wei: int | None, low: dict[str, bool] | None = None) -> None:
        with self._lock:
            if eth_wei is not None:
                self.signer_eth_wei = eth_wei
            if mor_wei is not None:
                self.payer_mor_wei = mor_wei
            if low is not None:
                self.low_funds = dict(low)

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
                "# HELP reconcile_watch_last_run_result 1 for the last run's result (one series).",
                "# TYPE reconcile_watch_last_run_result gauge",
                *(
                    [f'reconcile_watch_last_run_result{{result="{_escape(self.last_result)}"}} 1']
                    if self.last_result
                    else []
                ),
                "# HELP reconcile_watch_desired_invalid 1 when the last run found the desired-state files invalid.",
                "# TYPE reconcile_watch_desired_invalid gauge",
                f"reconcile_watch_desired_invalid {int(self.desired_invalid)}",
                "# HELP reconcile_watch_held_actions Changes the last run's plan held back (churn guard, router).",
                "# TYPE reconcile_watch_held_actions gauge",
                f"reconcile_watch_held_actions {self.held_actions}",
                "# HELP reconcile_watch_held_until_timestamp_seconds When the last held change may go (0: not known).",
                "# TYPE reconcile_watch_held_until_timestamp_seconds gauge",
                f"reconcile_watch_held_until_timestamp_seconds {self.held_until:.3f}",
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
                "# HELP reconcile_watch_writer_conflict 1 when another writer used the signer's key (only reporting).",
                "# TYPE reconcile_watch_writer_conflict gauge",
                f"reconcile_watch_writer_conflict {int(self.writer_conflict)}",
                "# HELP reconcile_watch_consecutive_failures Failed applies in a row (0 after a success).",
                "# TYPE reconcile_watch_consecutive_failures gauge",
                f"reconcile_watch_consecutive_failures {self.failures}",
                "# HELP reconcile_watch_backing_off 1 while applying waits for the backoff or stopped after failures.",
                "# TYPE reconcile_watch_backing_off gauge",
                f"reconcile_watch_backing_off {int(self.backing_off)}",
            ]
            if self.signer_eth_wei is not None:
                lines += [
                    "# HELP reconcile_watch_signer_eth_wei The signer's ETH balance at the last run, in wei.",
                    "# TYPE reconcile_watch_signer_eth_wei gauge",
                    f"reconcile_watch_signer_eth_wei {self.signer_eth_wei}",
                ]
            if self.payer_mor_wei is not None:
                lines += [
                    "# HELP reconcile_watch_payer_mor_wei The MOR balance that pays fees and stakes, in wei.",
                    "# TYPE reconcile_watch_payer_mor_wei gauge",
                    f"reconcile_watch_payer_mor_wei {self.payer_mor_wei}",
                ]
            lines += [
                "# HELP reconcile_watch_low_funds 1 when a balance is below policy.alerts (what: eth, mor).",
                "# TYPE reconcile_watch_low_funds gauge",
            ]
            lines += [
                f'reconcile_watch_low_funds{{what="{w}"}} {int(self.low_funds.get(w, False))}' for w in ("eth", "mor")
            ]
            lines += [
                "# HELP reconcile_watch_forwarder_state 1 for the forwarder's state at the last run (up, degraded, "
                "down, unknown).",
                "# TYPE reconcile_watch_forwarder_state gauge",
            ]
            lines += [
                f'reconcile_watch_forwarder_state{{state="{s}"}} {int(self.forwarder == s)}'
                for s in ("up", "degraded", "down", "unknown")
            ]
            if self.forwarder != "unknown":  # absent while unknown (no proxy.adminUrl, not asked): no false alarm
                lines += [
                    "# HELP reconcile_watch_forwarder_up 1 when the forwarder's admin API answered /healthz at the "
                    "last run (degraded included), 0 when it did not.",
                    "# TYPE reconcile_watch_forwarder_up gauge",
                    f"reconcile_watch_forwarder_up {int(self.forwarder in ('up', 'degraded'))}",
                ]
            if self.router != "unknown":  # absent while unknown (no proxy.router.url): no false alarm
                lines += [
                    "# HELP reconcile_watch_router_up 1 when the managed router answered /healthcheck at the last run, "
                    "0 when it did not.",
                    "# TYPE reconcile_watch_router_up gauge",
                    f"reconcile_watch_router_up {int(self.router == 'up')}",
                ]
            lines += [
                "# HELP reconcile_watch_upstream_state 1 for each model's upstream state at the last run (up, "
                "degraded, down, unknown; from the forwarder's per-model upstream errors).",
                "# TYPE reconcile_watch_upstream_state gauge",
            ]
            lines += [
                f'reconcile_watch_upstream_state{{{_model_labels(m)},state="{s}"}} 1'
                for m, s in sorted(self.upstreams.items())
            ]
            lines += [
                "# HELP reconcile_watch_upstream_up 1 when a model's upstream answered (degraded included), 0 when it "
                "is down (absent while unknown).",
                "# TYPE reconcile_watch_upstream_up gauge",
            ]
            lines += [
                f"reconcile_watch_upstream_up{{{_model_labels(m)}}} {int(s in ('up', 'degraded'))}"
                for m, s in sorted(self.upstreams.items())
                if s != "unknown"
            ]
            lines += _margin_lines(self.margins)
            lines += [
                "# HELP reconcile_watch_rpc_endpoint_up 1 when the RPC endpoint (by its reference) is used for reads.",
                "# TYPE reconcile_watch_rpc_endpoint_up gauge",
            ]
            lines += [
                f'reconcile_watch_rpc_endpoint_up{{endpoint="{_escape(e)}"}} {n}'
                for e, n in sorted(self.endpoints.items())
            ]
            if self.provider:  # one scrape config for the whole fleet tells the hosts apart by this label
                label = f'provider="{_escape(self.provider)}"'
                lines = [_labelled(line, label) for line in lines]
            return "\n".join(lines) + "\n"


MARGIN_GAUGES = (  # name, help, the row's value (None: the series is left out)
    ("earned_today_wei", "MOR (wei) the model's sessions earned today (UTC).", lambda r: r["earned"]["wei"]),
    ("earned_today_usd", "Today's MOR earned in USD at the cost model's morUsd.", lambda r: r["earnedUsd"]),
    (
        "upstream_cost_today_usd",
        "Today's upstream cost in USD: the measured tokens at the perToken prices, or the "
        "subscription's share of the day so far.",
        lambda r: r["upstreamCostUsd"],
    ),
    ("margin_today_usd", "Today's margin in USD: earned less upstream cost.", lambda r: r["marginUsd"]),
    (
        "served_seconds_today",
        "Seconds the forwarder had an upstream request open for the model today.",
        lambda r: r["servedSeconds"],
    ),
    (
        "slot_utilisation_today",
        "Today's served seconds over the seconds its concurrentSlots offered (0-1).",
        lambda r: r["slotUtilisation"],
    ),
)


def _margin_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Today's margins per model (the watcher's last run), as gauges; a figure not known is left out."""
    lines: list[str] = []
    for name, help_, value in MARGIN_GAUGES:
        metric = f"reconcile_watch_model_{name}"
        lines += [f"# HELP {metric} {help_}", f"# TYPE {metric} gauge"]
        for r in rows:
            v = value(r)
            if v is not None:
                lines.append(f"{metric}{{{_model_labels((r['name'], r['modelId']))}}} {v}")
    metric = "reconcile_watch_model_tokens_today"
    lines += [f"# HELP {metric} Tokens the forwarder counted for the model today, by type (prompt, completion, "
              "cached, cache_write).", f"# TYPE {metric} gauge"]  # fmt: skip
    for r in rows:
        for kind, key in (("prompt", "prompt"), ("completion", "completion"), ("cached", "cached"),
                          ("cache_write", "cacheWrite")):  # fmt: skip
            lines.append(f'{metric}{{{_model_labels((r["name"], r["modelId"]))},type="{kind}"}} {r["tokens"][key]}')
    return lines


def MetricsServer(metrics: WatchMetrics, host: str, port: int, token: str | None = None) -> WatchServer:
    """The metrics-only server of earlier versions: the watcher's HTTP surface without the status page."""
    from reconciler.status.server import WatchServer

    return WatchServer(metrics, host, port, token)


if TYPE_CHECKING:
    from reconciler.status.server import WatchServer

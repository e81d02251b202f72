"""The forwarder's health as the watcher, its metrics, its webhook and the status page report it:
`up | degraded | down | unknown`, with why.

Why a state of its own: the plan says what differs from the desired state; whether the forwarder serves at all is
another question, and a plan made while it is stopped would otherwise look like "nothing to change". `judge` is
pure (what each admin call answered -> the health); `probe` asks the admin API (/healthz, the served config's
version, /metrics for the data plane's connection cap) and never raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.observe.forwarder_admin import AdminCallFailed, ForwarderAdmin, UntrustedDestination
from reconciler.observe.health import DEGRADED, DOWN, UNKNOWN, UP, Judged
from reconciler.observe.prometheus import MetricSample

AT_CAP = "morpheus_proxy_client_connections_at_cap"


@dataclass(frozen=True)
class ForwarderHealth(Judged):
    state: str  # up | degraded | down | unknown
    why: str = ""  # what made it so (empty when up)
    version: str | None = None  # the config version it serves, when read
    # its /metrics as read (for each model's upstream health, reconciler.observe.upstream_health); () when unread
    samples: tuple[MetricSample, ...] = field(default=(), compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.version:
            out["version"] = self.version
        return out


def judge(
    healthz: AdminCallFailed | None,
    version: str | AdminCallFailed | None,
    metrics: Sequence[MetricSample] | AdminCallFailed,
) -> ForwarderHealth:
    """The health from what /healthz, /admin/config (its version) and /metrics answered (an AdminCallFailed where
    the call failed). /healthz not answering is down; answering with the rest unreadable is degraded."""
    if isinstance(healthz, UntrustedDestination):
        return ForwarderHealth(UNKNOWN, "admin API not asked: its host is not trusted with the token")
    if healthz is not None:
        return ForwarderHealth(DOWN, f"admin {healthz.path} {_failure(healthz)}")
    if isinstance(version, AdminCallFailed):
        samples = () if isinstance(metrics, AdminCallFailed) else tuple(metrics)
        return ForwarderHealth(
            DEGRADED, f"served config unreadable: admin {version.path} {_failure(version)}", None, samples
        )
    if isinstance(metrics, AdminCallFailed):
        return ForwarderHealth(UP, f"data plane not checked: admin {metrics.path} {_failure(metrics)}", version)
    if any(s.name == AT_CAP and s.value >= 1 for s in metrics):
        return ForwarderHealth(DEGRADED, "the data plane holds its cap of client connections", version, tuple(metrics))
    return ForwarderHealth(UP, "", version, tuple(metrics))


def _failure(exc: AdminCallFailed) -> str:
    return f"answered {exc.status}" if exc.status is not None else f"unreachable ({exc.cause})"


def probe(admin: ForwarderAdmin | None) -> ForwarderHealth:
    """Ask the admin API now (unknown without `proxy.adminUrl`); never raises."""
    if admin is None:
        return ForwarderHealth(UNKNOWN, "no proxy.adminUrl")
    try:
        admin.healthz()
    except AdminCallFailed as exc:
        return judge(exc, None, [])
    version: str | AdminCallFailed | None
    try:
        version = admin.config(timeout=2.0).version
    except AdminCallFailed as exc:
        version = exc
    metrics: Sequence[MetricSample] | AdminCallFailed
    try:
        metrics = admin.metrics(timeout=2.0)
    except AdminCallFailed as exc:
        metrics = exc
    return judge(None, version, metrics)

"""What serves the provider's models, as the watcher last judged it: the forwarder, each model's upstream and the
router, from its newest run line that carries them (`forwarder`, `upstreams`, `router`), with that run's age.

Why from the run lines: an upstream's health is judged from what the forwarder's counters gained between two of
the watcher's runs, so only a running watcher knows it; the page, `/api/status` and `reconcile status
--state-dir` read it from the same lines, so they agree. Pure: the lines and the clock are inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.observe.router_health import RouterHealth
from reconciler.plan.context import utc

KEYS = ("forwarder", "upstreams", "router")


def last_health(runs: Sequence[Mapping[str, Any]], now: float) -> dict[str, Any] | None:
    """The newest run's serving health (None when no run judged any): each part's `{state, why}` (None where that
    run did not judge it), the upstreams by the model name the forwarder labels them with, when and how long ago."""
    for run in reversed(runs):
        if any(run.get(k) for k in KEYS):
            ts = int(run.get("ts") or 0)
            return {
                "forwarder": run.get("forwarder") or None,
                "upstreams": dict(run.get("upstreams") or {}),
                "router": run.get("router") or None,
                "time": utc(ts),
                "age": age(now - ts),
            }
    return None


def with_serving(
    doc: Mapping[str, Any], runs: Sequence[Mapping[str, Any]], now: float, router: RouterHealth | None
) -> dict[str, Any]:
    """The status document with the watcher's last serving health (`watcherHealth`, None without a run that
    judged it) and the router's health as `status` probed it now (`router`, only where `proxy.router` is set)."""
    out = dict(doc) | {"watcherHealth": last_health(runs, now)}
    if router is not None:
        out["router"] = router.to_json()
    return out


def age(seconds: float) -> str:
    """A duration as the page says it: `45 s`, `2 min`, `3 h`, `2 d` (rounded down)."""
    n = max(int(seconds), 0)
    if n < 60:
        return f"{n} s"
    if n < 3600:
        return f"{n // 60} min"
    if n < 86400:
        return f"{n // 3600} h"
    return f"{n // 86400} d"

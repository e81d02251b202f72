"""The managed router's health as the watcher, its metrics and its webhook report it: `up | down | unknown`.

Why: with `proxy.router` the Morpheus proxy-router serves the provider's models to buyers; a router that stopped
answering sells nothing, whatever its models-config file says. `judge_router` reads the answer the run's
observation already got (observe.proxy.observe_router asks `/healthcheck` once for the plan and for this);
`probe_router` asks it now, for a run that made no observation. Neither raises; unknown without a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import httpx

from reconciler.observe.health import DOWN, UNKNOWN, UP, Judged
from reconciler.observe.model import RouterState


@dataclass(frozen=True)
class RouterHealth(Judged):
    state: str  # up | down | unknown
    why: str = ""  # what made it so (empty when up)
    serving: ClassVar[tuple[str, ...]] = (UP,)  # a router has no degraded state


def judge_router(url: str | None, observed: RouterState) -> RouterHealth:
    """From the router's observation: up when its /healthcheck answered 2xx, down otherwise (with the
    observation's why), unknown without a URL."""
    if not url or observed.answered is None:
        return RouterHealth(UNKNOWN, "no proxy.router.url")
    if not observed.answered:
        return RouterHealth(DOWN, observed.note or "router /healthcheck did not answer")
    return RouterHealth(UP)


def probe_router(url: str | None, timeout: float = 3.0) -> RouterHealth:
    """Ask `url`/healthcheck now: up on a 2xx answer, down otherwise (with why), unknown without a URL."""
    if not url:
        return RouterHealth(UNKNOWN, "no proxy.router.url")
    try:
        r = httpx.get(url.rstrip("/") + "/healthcheck", timeout=timeout)
    except httpx.HTTPError as exc:
        return RouterHealth(DOWN, f"router /healthcheck unreachable ({type(exc).__name__})")
    if not r.is_success:
        return RouterHealth(DOWN, f"router /healthcheck answered {r.status_code}")
    return RouterHealth(UP)

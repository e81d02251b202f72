"""The managed router's health as the watcher, its metrics and its webhook report it: `up | down | unknown`.

Why: with `proxy.router` the Morpheus proxy-router serves the provider's models to buyers; a router that stopped
answering sells nothing, whatever its models-config file says. `probe_router` asks its `/healthcheck`
(`proxy.router.url`) and never raises; unknown without a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

UP, DOWN, UNKNOWN = "up", "down", "unknown"


@dataclass(frozen=True)
class RouterHealth:
    state: str  # up | down | unknown
    why: str = ""  # what made it so (empty when up)

    @property
    def up(self) -> bool:
        return self.state == UP

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, **({"why": self.why} if self.why else {})}


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

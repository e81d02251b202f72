"""Alerts from a watcher to a webhook: one JSON message per event (drift found, applied, failure, low funds,
blocked on a manual step, the forwarder down and back up).

A webhook that is down must never stop the watcher: failures are returned, not raised. The URL comes from a
reference (it may embed a token) and is never printed; messages carry no secret.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

EVENTS = (
    "drift",
    "applied",
    "failure",
    "low-funds",
    "writer-conflict",
    "invalid-desired-state",
    "git-blocked",
    "blocked-manual",
    # what serves the models (reconciler.watch.serving): once per cause, and once when it serves again
    "forwarder-down",
    "forwarder-up",
    "forwarder-degraded",
    "upstream-down",
    "upstream-up",
    "upstream-degraded",
    "router-down",
    "router-up",
)


@dataclass(frozen=True)
class Delivery:
    ok: bool
    status: int | None
    error: str | None


class Webhook:
    def __init__(self, url: str, timeout: float = 5.0, source: str = "reconcile watch") -> None:
        self._url = url
        self._timeout = timeout
        self.source = source

    def __repr__(self) -> str:  # never show the URL
        return "Webhook(<url hidden>)"

    def send(self, event: str, summary: str, details: dict[str, Any] | None = None) -> Delivery:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}")
        body = {"event": event, "summary": summary, "source": self.source, "ts": time.time(), "details": details or {}}
        try:
            r = httpx.post(self._url, json=body, timeout=self._timeout)
        except httpx.HTTPError as exc:
            return Delivery(False, None, f"webhook unreachable ({type(exc).__name__})")
        if r.status_code >= 300:
            return Delivery(False, r.status_code, f"webhook answered HTTP {r.status_code}")
        return Delivery(True, r.status_code, None)

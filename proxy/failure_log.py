"""Upstream failures in the log: one WARNING per model and reason per interval, never headers or bodies.

A failing upstream fails every request; logging each would flood the log exactly when an operator reads it.
The first failure of a kind is logged at once, repeats within the interval are counted and reported with the
next line of that kind.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("morpheus_proxy")

LOG_INTERVAL = 10.0  # seconds between two WARNINGs for the same model and reason


class FailureLog:
    """Rate-limited WARNINGs for upstream failures, keyed by (model, reason)."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[tuple[str, str], float] = {}
        self._quiet: dict[tuple[str, str], int] = {}

    def record(self, model: str, reason: str, detail: str) -> None:
        """Log `detail` (our own words, never upstream bytes) unless this kind was logged recently."""
        key = (model, reason)
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._quiet[key] = self._quiet.get(key, 0) + 1
            return
        if len(self._last) > 4096:  # models and reasons are bounded, but configs change: keep this bounded too
            self._last.clear()
            self._quiet.clear()
        self._last[key] = now
        quiet = self._quiet.pop(key, 0)
        more = f" ({quiet} more since the last report)" if quiet else ""
        log.warning("upstream failure for model %s: %s: %s%s", model, reason, detail, more)

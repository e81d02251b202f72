"""Per-upstream failure budget: stop sending before an upstream's abuse lockout trips.

Venice locks an account out for 30 s after 20 failed requests in 30 s; a retry storm (ours or a buyer's)
must never get there. Keyed by (upstream origin, key fingerprint) since lockouts are per account.
"""

from __future__ import annotations

import collections
import time


class FailureBudget:
    """Sliding-window failure counter; `allow()` is False while the window holds `limit` failures."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[tuple[str, str | None], collections.deque[float]] = {}

    def _trim(self, key: tuple[str, str | None], now: float) -> collections.deque[float]:
        q = self._events.get(key)
        if q is None:
            q = self._events[key] = collections.deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def allow(self, key: tuple[str, str | None]) -> bool:
        if self.limit <= 0 or key not in self._events:
            return True
        return len(self._trim(key, time.monotonic())) < self.limit

    def retry_after(self, key: tuple[str, str | None]) -> int:
        q = self._trim(key, time.monotonic())
        if len(q) < self.limit or not q:
            return 0
        return max(1, int(q[0] + self.window - time.monotonic()) + 1)

    def record_failure(self, key: tuple[str, str | None]) -> None:
        if self.limit > 0:
            self._trim(key, time.monotonic()).append(time.monotonic())

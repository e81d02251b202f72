"""When a watcher's apply keeps failing: back off exponentially (capped), and after N failures in a row stop
applying until the desired state changes. Pure state; the loop asks it what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Backoff:
    base: float = 5.0
    cap: float = 600.0
    max_failures: int = 5
    failures: int = 0
    next_allowed: float = 0.0
    stopped_for: str | None = None  # the desired-state fingerprint it gave up on

    def may_apply(self, now: float, desired_fingerprint: str) -> bool:
        if self.stopped_for is not None and self.stopped_for == desired_fingerprint:
            return False
        return now >= self.next_allowed

    def delay(self) -> float:
        if self.failures == 0:
            return 0.0
        return float(min(self.base * 2 ** (self.failures - 1), self.cap))

    def failed(self, now: float, desired_fingerprint: str) -> Backoff:
        n = self.failures + 1
        upd = replace(self, failures=n)
        upd = replace(upd, next_allowed=now + upd.delay())
        if n >= self.max_failures:
            upd = replace(upd, stopped_for=desired_fingerprint)
        return upd

    def succeeded(self) -> Backoff:
        return replace(self, failures=0, next_allowed=0.0, stopped_for=None)

    def desired_changed(self, desired_fingerprint: str) -> Backoff:
        """A new desired state lifts a stop (and the backoff) that was for another one."""
        if self.stopped_for is not None and self.stopped_for != desired_fingerprint:
            return self.succeeded()
        return self

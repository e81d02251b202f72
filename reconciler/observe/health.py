"""What every health judgement (the forwarder's, each model's upstream, the managed router's) shares: a state of
`up | degraded | down | unknown` with why, whether that still serves, and its JSON for the page and the run record.

Why one place: the watcher's metrics (`reconcile_watch_*_up`), its webhook and the status page read the three
the same way; each judgement keeps only what differs (its fields, which states serve, what else its JSON says).
"""

from __future__ import annotations

from typing import Any, ClassVar

UP, DEGRADED, DOWN, UNKNOWN = "up", "degraded", "down", "unknown"


class Judged:
    """Mixed into a frozen dataclass with the fields `state` and `why`."""

    state: str
    why: str
    serving: ClassVar[tuple[str, ...]] = (UP, DEGRADED)  # the states that still serve (degraded does)

    @property
    def up(self) -> bool:
        """Serving: what the watcher's `reconcile_watch_*_up` metric says."""
        return self.state in self.serving

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state}
        if self.why:
            out["why"] = self.why
        return out

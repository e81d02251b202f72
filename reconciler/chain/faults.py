"""Crash points for fault tests: `RECONCILE_TEST_CRASH_AT=<point>:<n>` kills this process with SIGKILL the
n-th time it reaches <point>. Unset (always, outside tests) it does nothing.

Points: `before-send` (journaled, not yet broadcast), `after-send` (broadcast, receipt not awaited),
`after-receipt` (between actions).
"""

from __future__ import annotations

import os
import signal

ENV = "RECONCILE_TEST_CRASH_AT"
_counts: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= int(nth or "1"):
        os.kill(os.getpid(), signal.SIGKILL)

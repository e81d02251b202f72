"""A model's measured utilisation: the seconds its sessions were served over the last 7 days, per day.

A market policy's repost must pay its bid fee back at the expected utilisation; when the operator declares none
(and the floor has no cost model), this is it. Pure: computed from the chain reading the planner already has.
That reading holds the provider's sessions back to the maximum session duration only (chain/reader.py: no older
session can still be live), so the window is the shorter of 7 days and that duration, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from reconciler.observe.model import ChainState, SessionState
from reconciler.sessions.rules import DAY

MEASURE_DAYS = 7
WEEK = MEASURE_DAYS * DAY


@dataclass(frozen=True)
class MeasuredUse:
    """`seconds` served by the `sessions` of one model opened in the last `window` seconds (a live session counts
    up to the reading's block)."""

    seconds: int
    sessions: int
    window: int

    @property
    def seconds_per_day(self) -> Fraction:
        return Fraction(self.seconds * DAY, self.window) if self.window > 0 else Fraction(0)

    @property
    def short_of_a_week(self) -> bool:
        return self.window < WEEK

    def days_label(self) -> str:
        count = Fraction(self.window, DAY)
        return "1 day" if count == 1 else f"{float(count):g} days"

    def describe(self) -> str:
        """How it was measured, for the plan: 'measured over 1 day: the chain reading holds ...'."""
        said = f"measured over {self.days_label()}"
        if self.short_of_a_week:
            said += (
                ": the chain reading holds sessions back to the maximum session duration, "
                f"{self.days_label()}, not {MEASURE_DAYS}"
            )
        return said


def served_seconds(session: SessionState, now: int) -> int:
    """Seconds the session was served up to `now`: to its close, its end, or now, whichever came first."""
    end = session.ends_at if session.closed_at == 0 else min(session.closed_at, session.ends_at)
    return max(0, min(end, now) - session.opened_at)


def measured_use(chain: ChainState, model_id: str) -> MeasuredUse:
    """The model's sessions opened in the last 7 days, or in what the reading covers when that is less."""
    window = max(0, min(WEEK, chain.max_session_duration))
    if window == 0:
        return MeasuredUse(0, 0, 0)
    now, since, model = chain.block_timestamp, chain.block_timestamp - window, model_id.lower()
    mine = [s for s in chain.sessions if s.model_id.lower() == model and s.opened_at >= since]
    return MeasuredUse(sum(served_seconds(s, now) for s in mine), len(mine), window)

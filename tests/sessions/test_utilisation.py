"""The measured utilisation of a model (issue 31): the session seconds of the last 7 days, from the chain reading,
which holds the provider's sessions back to the maximum session duration only. Numbers worked by hand."""

from __future__ import annotations

from fractions import Fraction

from reconciler.observe.model import SessionState
from reconciler.sessions.utilisation import measured_use
from tests.support.planfactory import NOW, empty_chain

M, OTHER = "0x" + "11" * 32, "0x" + "22" * 32
DAY = 86_400


def session(n: int, model: str, opened: int, ends: int, closed: int = 0) -> SessionState:
    return SessionState(f"0x{n:064x}", "0x" + "bb" * 32, model, "0x" + "cc" * 20, 0, 10**16, 0, opened, ends, closed)


SESSIONS = (
    session(1, M, NOW - 3600, NOW + 3600),  # live: 3600 s so far
    session(2, M, NOW - 10_000, NOW - 9000),  # ran to its end, never closed: 1000 s
    session(3, M, NOW - 80_000, NOW - 70_000, closed=NOW - 78_200),  # closed early: 1800 s
    session(4, M, NOW - 20_000, NOW - 19_000, closed=NOW - 18_000),  # closed after its end: 1000 s, not 2000
    session(5, OTHER, NOW - 5000, NOW - 4000),  # another model
)


def test_a_one_day_reading_measures_one_day_and_says_it_covers_less_than_a_week() -> None:
    chain = empty_chain(max_session_duration=DAY, sessions=SESSIONS)
    use = measured_use(chain, M)
    assert use.seconds == 3600 + 1000 + 1800 + 1000
    assert use.window == DAY and use.sessions == 4
    assert use.seconds_per_day == 7400
    assert use.days_label() == "1 day" and use.short_of_a_week
    assert measured_use(chain, OTHER).seconds == 1000
    assert measured_use(chain, M.upper().replace("0X", "0x")).seconds == 7400  # ids match in any case


def test_a_session_opened_before_the_window_is_not_counted() -> None:
    early = session(6, M, NOW - DAY - 1, NOW - 1)  # opened one second before the one-day window
    chain = empty_chain(max_session_duration=DAY, sessions=(*SESSIONS, early))
    assert measured_use(chain, M).seconds == 7400


def test_a_longer_reading_is_cut_to_seven_days() -> None:
    old = session(7, M, NOW - 8 * DAY, NOW - 8 * DAY + 500)  # eight days ago: outside the week
    week = session(8, M, NOW - 6 * DAY, NOW - 6 * DAY + 700)
    chain = empty_chain(max_session_duration=30 * DAY, sessions=(*SESSIONS, old, week))
    use = measured_use(chain, M)
    assert use.window == 7 * DAY and use.seconds == 7400 + 700 and not use.short_of_a_week
    assert use.seconds_per_day == Fraction(8100, 7) and use.days_label() == "7 days"


def test_no_session_measures_nothing_and_a_reading_without_a_duration_covers_nothing() -> None:
    use = measured_use(empty_chain(max_session_duration=DAY), M)
    assert (use.seconds, use.sessions, use.seconds_per_day) == (0, 0, 0)
    none = measured_use(empty_chain(max_session_duration=0, sessions=SESSIONS), M)
    assert none.window == 0 and none.sessions == 0 and none.seconds_per_day == 0

"""The SessionRouter's payment rules as pure functions: what a session has earned, what is held, what a claim pays.

The live Diamond has no claimable-balance view, so the reconciler computes it from getSession, getBid and
getProvider with these rules (read from the real facet; see contracts/README.md). The contract tests check
every function against the devnet contract's `getProviderClaimableBalance`. Money is wei; times are unix
seconds of the block the claim would land in.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY = 86_400
LIMIT_PERIOD = 365 * DAY


@dataclass(frozen=True)
class SessionTerms:
    """The fields of getSession (plus the bid's price) that decide the provider's pay."""

    opened_at: int
    ends_at: int
    closed_at: int  # 0 while not closed
    price_per_second: int  # of the session's bid, which never changes
    provider_withdrawn: int


@dataclass(frozen=True)
class StakeCap:
    """The provider's fields of getProvider that cap its earnings per 365-day period."""

    stake: int
    limit_period_end: int
    limit_period_earned: int


def start_of_day(t: int) -> int:
    return t - t % DAY


def is_live(closed_at: int, ends_at: int, now: int) -> bool:
    """Live sessions must keep being served: not closed and not yet at endsAt."""
    return closed_at == 0 and now < ends_at


def session_end(s: SessionTerms) -> int:
    return s.ends_at if s.closed_at == 0 else min(s.closed_at, s.ends_at)


def earned_unpaid(s: SessionTerms, now: int) -> int:
    """(end - openedAt) * price - providerWithdrawnAmount once the session has ended, else 0."""
    end = session_end(s)
    if now < end:
        return 0
    return (end - s.opened_at) * s.price_per_second - s.provider_withdrawn


def held_for_close_day(s: SessionTerms, now: int) -> int:
    """The price of the close day's part of a closed session, held until the next 00:00 UTC."""
    day = start_of_day(s.closed_at)
    if now >= day + DAY:
        return 0
    return (s.closed_at - max(day, s.opened_at)) * s.price_per_second


def cap_room(cap: StakeCap, now: int) -> int:
    """What the provider may still be paid in its period; a claim after limitPeriodEnd starts a new period."""
    if now > cap.limit_period_end:
        return cap.stake
    return cap.stake - cap.limit_period_earned


def claimable(s: SessionTerms, cap: StakeCap, now: int) -> int:
    """What claimForProvider pays at `now`: min(earned - held, room). 0 also where the real claim would
    revert (a closed session on its close day with everything already paid underflows there)."""
    earned, held = earned_unpaid(s, now), held_for_close_day(s, now)
    if earned <= held:
        return 0
    return min(earned - held, cap_room(cap, now))


def after_claim(cap: StakeCap, paid: int, now: int) -> StakeCap:
    """The cap after a claim at `now` paid `paid`: a claim past limitPeriodEnd first opens a new 365-day period."""
    if now > cap.limit_period_end:
        cap = StakeCap(cap.stake, now + LIMIT_PERIOD, 0)
    return StakeCap(cap.stake, cap.limit_period_end, cap.limit_period_earned + paid)

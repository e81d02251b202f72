"""Market pricing policies: a bid's price from the competing bids, and whether a new price is worth a repost.

Pure arithmetic on integers in wei (scores stay floats, as the buyers' routers compute them). The planner
(`plan/market_prices.py`) feeds it the market snapshot and the chain state; docs/market.md has worked examples.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from reconciler import FileUnusable
from reconciler.desired.model import PolicyKnobs
from reconciler.market.rating import DEFAULT_WEIGHTS, ModelMarket, ProviderModelStats, Weights
from reconciler.market.units import AmountError, format_mor, parse_amount

__all__ = ["PolicyKnobs"]

SECONDS_PER_DAY = 86_400
REPOST_WINDOW_SECONDS = SECONDS_PER_DAY  # maxRepostsPerDay counts the reposts of the last 24 hours


def bounded(price: int, floor: int, ceiling: int) -> int:
    """The price held between the floor and the ceiling (the floor wins should they cross)."""
    return max(floor, min(price, ceiling))


def weighted_percentile(points: Sequence[tuple[int, float]], percentile: Fraction) -> int | None:
    """The P-th percentile of the (price, weight) points: the lowest price at which the prices up to it carry at
    least P% of the total weight. Weights are the bids' qualities; with no weight anywhere, every bid counts one."""
    if not points:
        return None
    ordered = sorted(points)
    weights = [max(w, 0.0) for _, w in ordered]
    if sum(weights) <= 0:
        weights = [1.0] * len(ordered)
    need = sum(weights) * float(percentile) / 100
    running = 0.0
    for (price, _), weight in zip(ordered, weights, strict=True):
        running += weight
        if running >= need:
            return price
    return ordered[-1][0]


def follow_price(prices: Mapping[str, int], provider: str, offset: int) -> int | None:
    """The followed provider's price on this model plus `offset` (None: it has no bid there). `prices` is keyed
    by provider address; addresses match in any case."""
    by_lower = {p.lower(): v for p, v in prices.items()}
    price = by_lower.get(provider.lower())
    return None if price is None else max(price + offset, 0)


def payback_days(fee: int, current: int, new: int, seconds_per_day: int | Fraction) -> Fraction | None:
    """Days until the bid fee is earned back at `seconds_per_day` sold seconds (None: never).

    A raise pays back from what it adds (the sessions were being sold anyway); a cut is made to win sessions, so
    it pays back from what is earned at the new price."""
    earned_per_second = new - current if new > current else new
    per_day = earned_per_second * seconds_per_day
    if per_day <= 0:
        return None
    return Fraction(fee) / per_day


def days(value: Fraction) -> str:
    return f"{float(value):.1f} days"


def per_second(wei: int) -> str:
    return f"{format_mor(wei)}/s"


def per_day(seconds: int | Fraction) -> str:
    """Sold seconds a day as the plan shows them: whole seconds as they are, a measured fraction to 6 digits."""
    value = Fraction(seconds)
    return f"{value.numerator} s/day" if value.denominator == 1 else f"{float(value):g} s/day"


@dataclass(frozen=True)
class Decision:
    """What to do with a bid: `price` to post (None: leave it), the reasoning for the plan, and a warning when a
    change the market asks for is not proposed (its fee would not pay back, the day's reposts are used up)."""

    price: int | None
    reasoning: str
    warning: str | None = None


def decide(
    knobs: PolicyKnobs,
    target: int,
    current: int | None,
    fee: int,
    seconds_per_day: int | Fraction,
    reposts_today: int,
    source: str = "declared",
    unproven: str | None = None,
) -> Decision:
    """Whether to move the bid from `current` to `target` (both wei/s, the target already bounded).

    A move must clear `min_gain_percent`, and a raise `hysteresis_percent` more: two automated bidders answering
    each other's cuts then stop at a gap instead of walking down to the floor one fee at a time. At most
    `max_reposts_per_day` in 24 hours, and only when the fee pays back within `payback_days` at `seconds_per_day`
    (`source` says where that figure comes from; `unproven`, why there is none: no payback can be proven)."""
    if current is None:
        return Decision(target, f"no bid yet: posting {per_second(target)}")
    if target == current:
        return Decision(None, f"already at {per_second(current)}")
    change = Fraction(abs(target - current) * 100, current) if current else Fraction(100)
    need = knobs.min_gain_percent + (knobs.hysteresis_percent if target > current else 0)
    moves = f"{per_second(current)} -> {per_second(target)} ({float(change):.1f}%)"
    if change < need:
        return Decision(None, f"{moves} is within the {float(need):g}% a {_way(target, current)} needs")
    if reposts_today >= knobs.max_reposts_per_day:
        why = (
            f"not repriced {moves}: already {reposts_today} reposts of this bid in the last 24 h "
            f"(maxRepostsPerDay {knobs.max_reposts_per_day})"
        )
        return Decision(None, why, why)
    if unproven is not None:
        why = f"not repriced {moves}: {unproven}"
        return Decision(None, why, why)
    back = payback_days(fee, current, target, seconds_per_day)
    if back is None or back > knobs.payback_days:
        when = "never" if back is None else f"in {days(back)}"
        why = (
            f"not repriced {moves}: the {format_mor(fee)} bid fee pays back {when} at {per_day(seconds_per_day)}, "
            f"more than paybackDays {float(knobs.payback_days):g} days (utilisation {source})"
        )
        return Decision(None, why, why)
    return Decision(target, f"{moves}; fee pays back in {days(back)} at {per_day(seconds_per_day)} ({source})")


def _way(target: int, current: int) -> str:
    return "raise" if target > current else "cut"


_WEI = re.compile(r"[0-9]+")


class BadPriceAnswer(FileUnusable):
    """A price command's answer that is no price (the command is the file to fix)."""


def parse_price_answer(text: str) -> int:
    """A price command's stdout: an integer of wei, or an amount with its unit ("0.0045 MOR", "5 gwei")."""
    answer = text.strip()
    if not answer:
        raise BadPriceAnswer(
            "printed nothing, an empty answer (expected wei as an integer, or an amount like 0.0045 MOR)"
        )
    shown = answer[:40]
    if answer.startswith("-"):
        raise BadPriceAnswer(f"answered a negative price: {shown!r}")
    try:
        wei = int(answer) if _WEI.fullmatch(answer) else parse_amount(answer) if " " in answer else None
    except AmountError:
        wei = None
    if wei is None:
        raise BadPriceAnswer(f"answered {shown!r}, not a price (wei as an integer, or an amount like 0.0045 MOR)")
    if wei == 0:
        raise BadPriceAnswer("answered zero: a price of 0 is no bid")
    return wei


@dataclass(frozen=True)
class Commanded:
    """What the operator's price command answered for one model: a price in wei, or why there is none."""

    price: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class MarketInputs:
    """The planner's market input, read by the pipeline only when a model has `bid.market`.

    `markets`: each such model's competing bids, our own excluded (so planning again after an apply proposes
    nothing); `own_stats`: our provider's stats on each (missing: none yet); `reposts_today`: our bid posts per
    model in the last 24 hours, from the apply journal of the state directory; `commanded`: the operator's price
    command's answers (none when it was not run); `notes`: what the plan must say about how it priced;
    `weights`: what buyers' routers score with, the host's rating config (`--weights`) or the router's default
    ones, and `weights_source` says which when not the default (None: the defaults)."""

    markets: Mapping[str, ModelMarket] = field(default_factory=dict)
    own_stats: Mapping[str, ProviderModelStats] = field(default_factory=dict)
    reposts_today: Mapping[str, int] = field(default_factory=dict)
    commanded: Mapping[str, Commanded] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    weights: Weights = DEFAULT_WEIGHTS
    weights_source: str | None = None


NO_MARKET = MarketInputs()

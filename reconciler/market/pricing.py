"""Bid prices from cost models, exactly: fractions all the way, rounded UP to whole wei at the end."""

from __future__ import annotations

import re
from fractions import Fraction
from math import ceil

from reconciler.desired.model import BidSpec, CostModel, MarketPolicy
from reconciler.market.units import WEI_PER_MOR

SECONDS_PER_YEAR = 365 * 24 * 3600
MAX_EXPONENT = 90  # Fraction("1e999999999") would build a billion-digit integer before anyone could say no
_EXPONENT = re.compile(r"[eE]\s*([+-]?[0-9]+)")


def to_fraction(value: object) -> Fraction:
    """An exact fraction from YAML: ints and decimal strings as written; floats via their shortest repr."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(repr(value))
    if isinstance(value, str):
        exponent = _EXPONENT.search(value)
        if exponent is not None and abs(int(exponent.group(1))) > MAX_EXPONENT:
            raise ValueError(f"{value.strip()[:40]!r}: an exponent past ±{MAX_EXPONENT} is no price or rate")
        return Fraction(value.strip())
    raise ValueError(f"expected a number, got {value!r}")


def price_from_cost(usd_per_second: Fraction, mor_usd: Fraction, margin: Fraction) -> int:
    """wei of MOR per second covering `usd_per_second` plus `margin`, rounded up (never under cost)."""
    if mor_usd <= 0:
        raise ValueError("morUsd must be greater than 0")
    return ceil(usd_per_second * (1 + margin) / mor_usd * WEI_PER_MOR)


def bid_price(bid: BidSpec, mor_usd: Fraction | None) -> int | None:
    """The bid's price in wei per second (a market policy's: its floor, which the planner's market step raises
    towards its target); None when a cost model's MOR price is not known."""
    if bid.price_per_second is not None:
        return bid.price_per_second
    if bid.market is not None:
        return market_floor(bid.market, mor_usd)
    cm = bid.cost_model
    assert cm is not None
    return cost_model_price(cm, mor_usd)


def market_floor(policy: MarketPolicy, mor_usd: Fraction | None) -> int | None:
    """A market policy's floor in wei per second: fixed, or its cost model's price (None: morUsd unknown)."""
    if policy.floor_price is not None:
        return policy.floor_price
    assert policy.floor_cost_model is not None
    return cost_model_price(policy.floor_cost_model, mor_usd)


def cost_model_price(cm: CostModel, mor_usd: Fraction | None) -> int | None:
    """The cost model's price; `mor_usd` is the resolved rate when the model's morUsd is a reference."""
    rate = cm.mor_usd if isinstance(cm.mor_usd, Fraction) else mor_usd
    if rate is None:
        return None
    return price_from_cost(cm.usd_per_second, rate, cm.margin)


def expected_yearly_earnings(cm: CostModel, price_per_second: int) -> int | None:
    """wei a year at this price when the cost model says how many seconds a year are sold."""
    if cm.utilized_seconds_per_year is None:
        return None
    return price_per_second * cm.utilized_seconds_per_year

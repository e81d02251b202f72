"""Each model's margin over a span of time (a UTC day): the MOR its sessions earned, in USD at the cost model's
`morUsd`, less what its upstream cost (the tokens the forwarder measured at the `perToken` prices, or the
`subscription`'s share of the span), and how busy its slots were.

Why here: it is the pricing arithmetic read backwards (pricing.py turns a cost into a price; this turns what was
sold and served into a margin), with the same cost models and exact fractions, so no second unit exists. Pure:
`status`, the page and the watcher's /metrics all call it with what they read.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from reconciler.desired.model import CostModel, TokenPrices
from reconciler.market.pricing import SECONDS_PER_YEAR, price_from_cost
from reconciler.market.units import WEI_PER_MOR

SECONDS_PER_MONTH = SECONDS_PER_YEAR // 12  # as a subscription's utilizedSecondsPerMonth x 12 is its year
MIN_MEASURED_SECONDS = 600  # served seconds before a measured rate prices a bid (`tokensPerSecond: measured`)


@dataclass(frozen=True)
class Usage:
    """What the forwarder measured for one model: tokens by type (prompt counts cache reads and writes, as
    OpenAI's `prompt_tokens` does) and seconds with an upstream request open."""

    prompt: int = 0
    completion: int = 0
    cached: int = 0  # prompt tokens read from the upstream's prompt cache
    cache_write: int = 0  # prompt tokens written to it
    seconds: Fraction = Fraction(0)

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def since(self, earlier: Usage) -> Usage:
        """These counters less an earlier reading of them; when one went down the forwarder restarted, and
        everything it counts now is new."""
        if any(getattr(self, f.name) < getattr(earlier, f.name) for f in fields(self)):
            return self
        return Usage(*(getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)))

    @property
    def tokens(self) -> int:
        return self.prompt + self.completion


@dataclass(frozen=True)
class Margin:
    """One model over one span; USD figures are None where the model has no cost model (a fixed price)."""

    earned_wei: int
    earned_usd: Fraction | None
    cost_usd: Fraction | None
    margin_usd: Fraction | None
    basis: str | None  # "perToken" | "subscription" | None
    utilisation: Fraction | None  # served seconds / (slots x span); None with unlimited slots


def token_cost_usd(prices: TokenPrices, usage: Usage) -> Fraction:
    """The tokens at their prices: prompt tokens neither read from nor written to the cache at the input price,
    cache reads and writes at theirs (the input price when not declared), completion tokens at the output's."""
    plain = max(usage.prompt - usage.cached - usage.cache_write, 0)
    cached = prices.input_usd if prices.cached_input_usd is None else prices.cached_input_usd
    written = prices.input_usd if prices.cache_write_usd is None else prices.cache_write_usd
    return (
        plain * prices.input_usd
        + usage.cached * cached
        + usage.cache_write * written
        + usage.completion * prices.output_usd
    )


def upstream_cost_usd(cm: CostModel, usage: Usage, span: int) -> Fraction | None:
    """What the upstream cost over `span` seconds: the measured tokens (perToken), or the subscription's share
    of a month (a month being a twelfth of 365 days); None for a cost model that says neither."""
    if cm.per_token is not None:
        return token_cost_usd(cm.per_token, usage)
    if cm.subscription is not None:
        return cm.subscription.usd_per_month * span / SECONDS_PER_MONTH
    return None


def earned_usd(wei: int, mor_usd: Fraction) -> Fraction:
    return Fraction(wei, WEI_PER_MOR) * mor_usd


def slot_utilisation(served: Fraction, slots: int | None, span: int) -> Fraction | None:
    """Seconds served over the seconds the slots offered; None with unlimited (0) or undeclared slots."""
    if not slots or span <= 0:
        return None
    return served / (slots * span)


def measured_tokens_per_second(usage: Usage) -> Fraction | None:
    """Tokens per second with an upstream request open; None before anything was served."""
    if usage.seconds <= 0:
        return None
    return usage.tokens / usage.seconds


def measured_rate(usage: Usage) -> Fraction | None:
    """The tokens per second a `tokensPerSecond: measured` bid is priced at: the measured rate to two significant
    digits (so the price moves with the rate, not with every request), once `MIN_MEASURED_SECONDS` were served;
    None before."""
    tps = measured_tokens_per_second(usage)
    if tps is None or usage.seconds < MIN_MEASURED_SECONDS or tps <= 0:
        return None
    exact = Decimal(tps.numerator) / Decimal(tps.denominator)
    step = Decimal(1).scaleb(exact.adjusted() - 1)  # the second significant digit's unit
    return Fraction(exact.quantize(step, rounding=ROUND_HALF_EVEN))


def with_rate(cm: CostModel, tokens_per_second: Fraction) -> CostModel:
    """A perToken cost model priced at another rate (its prices, input share and margin as declared)."""
    p = cm.per_token
    assert p is not None
    usd_per_second = tokens_per_second * (p.input_share * p.input_usd + (1 - p.input_share) * p.output_usd)
    return replace(cm, usd_per_second=usd_per_second)


def price_at_measured(cm: CostModel, usage: Usage, mor_usd: Fraction) -> int | None:
    """The bid price (wei/s) a perToken cost model gives with the measured tokens per second instead of its
    declared `tokensPerSecond` (its prices, input share and margin as declared); None when not perToken or
    nothing was measured."""
    tps = measured_tokens_per_second(usage)
    if cm.per_token is None or tps is None:
        return None
    return price_from_cost(with_rate(cm, tps).usd_per_second, mor_usd, cm.margin)


def day_margin(
    *,
    earned_wei: int,
    usage: Usage,
    cost_model: CostModel | None,
    mor_usd: Fraction | None,
    slots: int | None,
    span: int,
) -> Margin:
    """One model's margin over `span` seconds (a day, or today so far)."""
    basis = None
    cost = None
    if cost_model is not None:
        basis = "perToken" if cost_model.per_token else "subscription" if cost_model.subscription else None
        cost = upstream_cost_usd(cost_model, usage, span)
    earned = earned_usd(earned_wei, mor_usd) if mor_usd is not None and cost is not None else None
    margin = earned - cost if earned is not None and cost is not None else None
    return Margin(
        earned_wei,
        earned,
        cost if earned is not None else None,
        margin,
        basis,
        slot_utilisation(usage.seconds, slots, span),
    )


def usd_text(value: Fraction) -> str:
    """USD to the millionth (half to even): `Fraction(480, 73)` -> `6.575342`."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return str(exact.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN))

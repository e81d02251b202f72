"""The price of a `bid.market` bid: its target among the competing bids, bounded by its floor and ceiling, and
whether moving there is worth a repost (reconciler.market.policy). Pure: the market is an input of the plan."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from reconciler.desired.model import MarketPolicy, ModelSpec
from reconciler.market.policy import bounded, decide, follow_price, per_second, weighted_percentile
from reconciler.market.pricing import market_floor
from reconciler.market.rating import (
    MAX_PRICE,
    NO_PROVIDER_STATS,
    MarketBid,
    ModelMarket,
    ProviderModelStats,
    Weights,
    price_for_rank,
    quality_of,
    rank_market,
)
from reconciler.plan.context import Context
from reconciler.sessions.utilisation import measured_use

OURS = "ours"


@dataclass(frozen=True)
class Verdict:
    """A market bid's price for the planner: the price wanted (the current one when no change is proposed;
    None: no bid to post), the reasoning for the plan, a warning (a change not proposed) or an error."""

    price: int | None
    reasoning: str
    warning: str | None = None
    error: str | None = None


def price_market_bids(ctx: Context) -> None:
    """Decide every `bid.market` bid's price once, before the bid step reads them through `ctx.bid_price`."""
    for m in ctx.desired.models:
        if m.absent or m.bid is None or m.bid.market is None:
            continue
        verdict = market_verdict(ctx, m, m.bid.market)
        ctx.verdicts[m.model_id] = verdict
        ctx.set_price(m, verdict.price)


def market_verdict(ctx: Context, m: ModelSpec, policy: MarketPolicy) -> Verdict:
    chain = ctx.observed.chain
    active = chain.active_bids(m.model_id)
    current = active[0].price_per_second if active else None
    floor = market_floor(policy, ctx.mor_usd(m))
    if floor is None:
        ref = policy.floor_cost_model.mor_usd if policy.floor_cost_model else "?"
        return Verdict(None, "", error=f"the floor cannot be computed: morUsd reference {ref} has no value here")
    market = ctx.market.markets.get(m.model_id)
    if market is None:
        return Verdict(None, "", error="the market of this model was not read: a market policy cannot price it")
    ceiling = policy.ceiling
    stake = chain.provider.stake if chain.provider is not None else ctx.desired.provider.stake
    stats = ctx.market.own_stats.get(m.model_id, NO_PROVIDER_STATS)
    weights = ctx.market.weights
    quality = quality_of(stats, stake, market, weights)
    competitors = rank_market(market, weights)
    position = _position(market, ctx.desired.provider.address, current, stake, stats, quality, weights)
    if ctx.market.weights_source is not None:
        position += f" ({ctx.market.weights_source})"
    commanded = ctx.market.commanded.get(m.model_id)
    if commanded is not None and commanded.error is not None:
        why = f"{commanded.error}: the bid is left as it is"
        return Verdict(current, f"{position}; {why}", warning=why)
    if commanded is not None and commanded.price is not None:
        raw: int | None = commanded.price
        said = f"the price command says {per_second(commanded.price)}"
    elif policy.rank is not None:
        raw = price_for_rank(quality, competitors, policy.rank)
        if raw is None:
            said = f"rank {policy.rank} is out of reach at any price (quality {quality:.3f})"
            raw = floor
        elif raw == MAX_PRICE:
            said = f"rank {policy.rank} at any price"
        else:
            said = f"rank {policy.rank} needs <= {per_second(raw)}"
    elif policy.percentile is not None:
        raw = weighted_percentile([(c.bid.price_per_second, c.quality) for c in competitors], policy.percentile)
        said = (
            f"percentile {float(policy.percentile):g} of {len(competitors)} competing prices is {per_second(raw)}"
            if raw is not None
            else "no competing bid to take a percentile of"
        )
        raw = ceiling if raw is None else raw
    else:
        assert policy.follow is not None
        raw = follow_price({b.provider: b.price_per_second for b in market.bids}, policy.follow, policy.offset)
        if raw is None:
            why = f"{policy.follow} has no bid on this model to follow"
            if current is not None:
                return Verdict(current, f"{position}; {why}: the bid is left as it is")
            said, raw = f"{why}: the ceiling", ceiling
        else:
            said = f"{policy.follow[:10]}… at {per_second(raw - policy.offset)}, offset {policy.offset} wei/s"
    assert raw is not None
    target = bounded(raw, floor, ceiling)
    limits = f"floor {per_second(floor)}, ceiling {per_second(ceiling)}"
    if target != raw:
        limits += f": {per_second(target)}"
    seconds_per_day, source, unproven = _utilisation(ctx, m, policy)
    decision = decide(
        policy.knobs,
        target,
        current,
        chain.market.bid_fee,
        seconds_per_day,
        ctx.market.reposts_today.get(m.model_id, 0),
        source,
        unproven,
    )
    reasoning = f"{position}; {said}; {limits}; {decision.reasoning}"
    price = decision.price if decision.price is not None else current
    return Verdict(price, reasoning, warning=None if decision.warning is None else f"{position}; {decision.warning}")


def _utilisation(ctx: Context, m: ModelSpec, policy: MarketPolicy) -> tuple[int | Fraction, str, str | None]:
    """The sold seconds a day a repost's payback is computed at, where they come from ("declared", "cost model",
    "measured over N days..."), and why no payback can be proven (measured, and no session on the model yet)."""
    if policy.utilized_seconds_per_day is not None:
        return policy.utilized_seconds_per_day, policy.utilisation_from, None
    use = measured_use(ctx.observed.chain, m.model_id)
    said = use.describe()
    if use.sessions == 0:
        return (
            0,
            said,
            (
                f"no session on this model in the last {use.days_label()} ({said}), so no payback can be proven; "
                "declare utilizedSecondsPerDay to reprice anyway"
            ),
        )
    return use.seconds_per_day, said, None


def _position(
    market: ModelMarket,
    provider: str,
    current: int | None,
    stake: int,
    stats: ProviderModelStats,
    quality: float,
    weights: Weights,
) -> str:
    """Where our bid ranks now among the competitors, as buyers' routers would rank it."""
    if current is None:
        return f"no bid yet (quality {quality:.3f}, {len(market.bids)} competing)"
    ours = MarketBid(OURS, provider.lower(), current, stake, stats)
    ranked = rank_market(replace(market, bids=(*market.bids, ours)), weights)
    me = next((s for s in ranked if s.bid.bid_id == OURS), None)
    if me is None:
        return f"ours unrated at {per_second(current)}"
    return f"ours #{me.rank} of {len(ranked)} at score {me.score:.3g}"

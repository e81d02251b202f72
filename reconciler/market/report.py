"""The market as buyers' routers see it, per model of the desired state: a plain document (`reconcile market`'s
JSON; its text and Markdown renderers and the status page's panel read it). Pure: the chain reading is done
before (chain/market_reader.py), the scoring is reconciler.market.rating.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from reconciler.market.ids import norm_hex
from reconciler.market.rating import (
    DEFAULT_WEIGHTS,
    MAX_PRICE,
    NO_PROVIDER_STATS,
    SD,
    ModelMarket,
    ModelStats,
    ProviderModelStats,
    Scored,
    Terms,
    Weights,
    price_for_rank,
    quality_of,
    rank_market,
    terms_of,
    unrateable,
)
from reconciler.market.units import format_mor

SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class MarketModel:
    """A model of the desired state whose market is shown."""

    model_id: str
    name: str
    own: bool  # registered by the provider (managed), else an existing model it resells


@dataclass(frozen=True)
class Standing:
    """The provider's stake and its stats per model: its quality where it has no bid yet."""

    stake: int
    stats: Mapping[str, ProviderModelStats]


def price(wei: int) -> dict[str, Any]:
    """A price per second in wei, with MOR per second and per hour."""
    return {"wei": wei, "morPerSecond": format_mor(wei), "morPerHour": format_mor(wei * SECONDS_PER_HOUR)}


def _sd(sd: SD) -> dict[str, int]:
    return {"mean": sd.mean, "sqSum": sd.sq_sum}


def provider_stats_doc(s: ProviderModelStats) -> dict[str, Any]:
    return {
        "tpsScaled1000": _sd(s.tps_scaled1000),
        "ttftMs": _sd(s.ttft_ms),
        "totalDuration": s.total_duration,
        "successCount": s.success_count,
        "totalCount": s.total_count,
    }


def model_stats_doc(s: ModelStats) -> dict[str, Any]:
    return {
        "tpsScaled1000": _sd(s.tps_scaled1000),
        "ttftMs": _sd(s.ttft_ms),
        "totalDuration": _sd(s.total_duration),
        "count": s.count,
    }


def _terms(t: Terms) -> dict[str, float]:
    return {"tps": t.tps, "ttft": t.ttft, "duration": t.duration, "success": t.success, "stake": t.stake}


def _bid_doc(s: Scored, provider: str) -> dict[str, Any]:
    return {
        "rank": s.rank,
        "bidId": s.bid.bid_id,
        "provider": s.bid.provider,
        "ours": s.bid.provider == provider,
        "price": price(s.bid.price_per_second),
        "stake": {"wei": s.bid.stake, "mor": format_mor(s.bid.stake)},
        "stats": provider_stats_doc(s.bid.stats),
        "terms": _terms(s.terms),
        "quality": s.quality,
        "score": s.score,
    }


def _target(quality: float, competitors: Sequence[Scored], rank: int) -> dict[str, Any]:
    """The highest price that still ranks `rank`, or why there is none."""
    wei = price_for_rank(quality, competitors, rank)
    if wei is None:
        return {"rank": rank, "price": None, "why": f"no price ranks #{rank} at quality {quality:.4f}"}
    if wei == MAX_PRICE:
        return {"rank": rank, "price": None, "why": f"any price ranks #{rank} (fewer competitors scoring above 0)"}
    return {"rank": rank, "price": price(wei), "why": ""}


def model_doc(
    model: MarketModel,
    market: ModelMarket,
    provider: str,
    standing: Standing,
    weights: Weights = DEFAULT_WEIGHTS,
    allowlist: frozenset[str] | None = None,
) -> dict[str, Any]:
    """One model's market: every bid ranked, the ones the router skips and why, and where we stand."""
    provider = norm_hex(provider)
    skipped: list[dict[str, str]] = []
    if allowlist is not None:
        kept = tuple(b for b in market.bids if b.provider in allowlist)
        skipped += [
            {"bidId": b.bid_id, "provider": b.provider, "why": "not in the rating config's providerAllowlist"}
            for b in market.bids
            if b.provider not in allowlist
        ]
        market = replace(market, bids=kept)
    skipped += [
        {"bidId": b.bid_id, "provider": b.provider, "why": "its score is not a finite number (price 0?)"}
        for b in unrateable(market, weights)
    ]
    ranked = rank_market(market, weights)
    mine = [s for s in ranked if s.bid.provider == provider]
    competitors = rank_market(replace(market, bids=tuple(b for b in market.bids if b.provider != provider)), weights)
    stats = mine[0].bid.stats if mine else standing.stats.get(market.model_id, NO_PROVIDER_STATS)
    stake = mine[0].bid.stake if mine else standing.stake
    quality = mine[0].quality if mine else quality_of(stats, stake, market, weights)
    ours: dict[str, Any] = {
        "rank": mine[0].rank if mine else None,
        "bidId": mine[0].bid.bid_id if mine else None,
        "price": price(mine[0].bid.price_per_second) if mine else None,
        "score": mine[0].score if mine else None,
        "quality": quality,
        "terms": _terms(terms_of(stats, stake, market.model_stats, market.min_stake)),
        "first": _target(quality, competitors, 1),
        "keep": _target(quality, competitors, mine[0].rank) if mine else None,
    }
    return {
        "modelId": market.model_id,
        "name": model.name,
        "own": model.own,
        "modelStats": model_stats_doc(market.model_stats),
        "minStake": {"wei": market.min_stake, "mor": format_mor(market.min_stake)},
        "bids": [_bid_doc(s, provider) for s in ranked],
        "skipped": skipped,
        "ours": ours,
    }


def market_report(
    provider: str,
    models: Sequence[MarketModel],
    markets: Mapping[str, ModelMarket],
    standing: Standing,
    weights: Weights = DEFAULT_WEIGHTS,
    weights_source: str = "default",
    allowlist: frozenset[str] | None = None,
    block: int | None = None,
) -> dict[str, Any]:
    """The whole document: the provider, the weights used and every model's market, in the desired order."""
    return {
        "provider": norm_hex(provider),
        "block": block,
        "weights": {
            "tps": weights.tps,
            "ttft": weights.ttft,
            "duration": weights.duration,
            "success": weights.success,
            "stake": weights.stake,
        },
        "weightsSource": weights_source,
        "models": [
            model_doc(m, markets[norm_hex(m.model_id)], provider, standing, weights, allowlist)
            for m in models
            if norm_hex(m.model_id) in markets
        ],
    }

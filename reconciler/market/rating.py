"""How buyers' routers rank the bids of a model: the proxy-router's default scorer, as pure functions.

A buyer's router scores every active bid of a model and tries them best first. The score is a quality in [0, 1]
(a weighted sum of five terms) divided by the price in MOR per second, so price divides everything: a bid of
quality q beats a competitor C when `price < price_C * q / q_C`. The arithmetic follows the router's own,
float64 for float64 and int64 for int64, including where Go's int64 wraps (a stake above 2**63 wei, ~9.22 MOR),
so that our ranks are the ranks buyers see. docs/market.md has the formula, its source and worked numbers.

Scores are floats (as the router's); prices and stakes stay integers in wei.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler import FileUnusable

MAX_PRICE = 2**256 - 1  # what price_for_rank answers when no price is too high (the policy's ceiling bounds it)
_WEI_PER_MOR_FLOAT = 1e18  # the router's math.Pow10(18)
_Z_RANGE = 3.0  # z-scores are cut to [-3, 3] and mapped to [0, 1]


@dataclass(frozen=True)
class SD:
    """The contracts' running mean and sum of squared deviations (LibSD.SD: int64 mean, int64 sqSum)."""

    mean: int
    sq_sum: int


@dataclass(frozen=True)
class ProviderModelStats:
    """getProviderModelStats(model, provider): keyed by model and provider, not bid, so a repost keeps them."""

    tps_scaled1000: SD
    ttft_ms: SD
    total_duration: int
    success_count: int
    total_count: int


@dataclass(frozen=True)
class ModelStats:
    """getModelStats(model): the spread every provider of the model is measured against."""

    tps_scaled1000: SD
    ttft_ms: SD
    total_duration: SD
    count: int


NO_PROVIDER_STATS = ProviderModelStats(SD(0, 0), SD(0, 0), 0, 0, 0)
NO_MODEL_STATS = ModelStats(SD(0, 0), SD(0, 0), SD(0, 0), 0)


@dataclass(frozen=True)
class Weights:
    """The default scorer's weights (the router's rating config, algorithm "default", params.weights)."""

    tps: float = 0.24
    ttft: float = 0.08
    duration: float = 0.24
    success: float = 0.32
    stake: float = 0.12


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True)
class MarketBid:
    """One active bid. `provider` is lower-case 0x hex (as `ids.norm_hex`); price and stake in wei."""

    bid_id: str
    provider: str
    price_per_second: int
    stake: int
    stats: ProviderModelStats


@dataclass(frozen=True)
class ModelMarket:
    """Every active bid of one model (0x lower-case hex id), in the order the chain lists them."""

    model_id: str
    model_stats: ModelStats
    min_stake: int
    bids: tuple[MarketBid, ...]


MarketSnapshot = Mapping[str, ModelMarket]  # model id -> its market; the planner's input, like the chain state


@dataclass(frozen=True)
class Terms:
    """The five terms of a bid's quality, each in [0, 1] (NaN only where the router's would be)."""

    tps: float
    ttft: float
    duration: float
    success: float
    stake: float


@dataclass(frozen=True)
class Scored:
    """A bid as the router rates it: its terms, quality (weighted sum), score (quality per MOR/s) and rank."""

    bid: MarketBid
    terms: Terms
    quality: float
    score: float
    rank: int  # 1 = tried first


# --- Go's integer arithmetic -------------------------------------------------------------------------------


def go_int64(value: int) -> int:
    """big.Int.Int64(): the low 64 bits of |x| as a two's-complement int64, negated for a negative x."""
    low = abs(value) & (2**64 - 1)
    signed = low - 2**64 if low >= 2**63 else low
    return -signed if value < 0 else signed


def _wrap64(value: int) -> int:
    """An int64 result of + - * in Go: wraps modulo 2**64."""
    return ((value + 2**63) % 2**64) - 2**63


# --- the terms ---------------------------------------------------------------------------------------------


def _cut01(value: float) -> float:
    if value > 1:
        return 1.0
    if value < 0:
        return 0.0
    return value  # NaN passes through, as in the router


def _spread(sd: SD, count: int) -> float:
    """The model's standard deviation; 0 with at most one sample (NaN for a negative sqSum, as Go's Sqrt)."""
    if count <= 1:
        return 0.0
    variance = float(sd.sq_sum) / float(count - 1)
    return math.sqrt(variance) if variance >= 0 else math.nan


def _z(provider_mean: int, model: SD, count: int) -> float:
    spread = _spread(model, count)
    if spread == 0:
        return 0.0
    return float(_wrap64(provider_mean - model.mean)) / spread


def _from_z(z: float) -> float:
    return _cut01((z + _Z_RANGE) / (2.0 * _Z_RANGE))


def success_term(stats: ProviderModelStats) -> float:
    """(successCount / totalCount)^2; 0 before the provider's first closed session of the model."""
    if stats.total_count == 0:
        return 0.0
    ratio = float(stats.success_count) / float(stats.total_count)
    return ratio * ratio


def stake_term(stake: int, min_stake: int) -> float:
    """clamp((stake - min) / (9 * min)) in the router's int64 arithmetic, wrap-arounds included.

    The router reads both amounts through big.Int.Int64(): above 2**63 wei (~9.22 MOR) the stake wraps, often
    to a negative number, which then scores 0 (or a small fraction), not the 1 a big stake deserves.
    """
    value, low = go_int64(stake), go_int64(min_stake)
    high = _wrap64(10 * low)
    if high == low or value < low:
        return 0.0
    if value > high:
        return 1.0
    return float(_wrap64(value - low)) / float(_wrap64(high - low))


def terms_of(stats: ProviderModelStats, stake: int, model: ModelStats, min_stake: int) -> Terms:
    """The five terms of a provider's quality on a model."""
    return Terms(
        tps=_from_z(_z(stats.tps_scaled1000.mean, model.tps_scaled1000, model.count)),
        ttft=_from_z(-_z(stats.ttft_ms.mean, model.ttft_ms, model.count)),
        duration=_from_z(_z(stats.total_duration, model.total_duration, model.count)),
        success=success_term(stats),
        stake=stake_term(stake, min_stake),
    )


def weigh(terms: Terms, weights: Weights = DEFAULT_WEIGHTS) -> float:
    """The weighted sum, added in the router's order."""
    return (
        weights.tps * terms.tps
        + weights.ttft * terms.ttft
        + weights.duration * terms.duration
        + weights.success * terms.success
        + weights.stake * terms.stake
    )


def quality_of(
    provider_stats: ProviderModelStats, stake: int, market: ModelMarket, weights: Weights = DEFAULT_WEIGHTS
) -> float:
    """A provider's quality on this market's model: the score before the price divides it."""
    return weigh(terms_of(provider_stats, stake, market.model_stats, market.min_stake), weights)


def score_of(quality: float, price_per_second: int) -> float:
    """quality / (price in MOR/s), in the router's float64 (inf for a price of 0, which the router skips)."""
    price = float(price_per_second) / _WEI_PER_MOR_FLOAT
    if price == 0:
        return math.inf if quality > 0 else math.nan
    return quality / price


# --- ranking -----------------------------------------------------------------------------------------------


def _rate(market: ModelMarket, weights: Weights) -> list[tuple[MarketBid, Terms, float, float]]:
    rated = []
    for bid in market.bids:
        terms = terms_of(bid.stats, bid.stake, market.model_stats, market.min_stake)
        quality = weigh(terms, weights)
        rated.append((bid, terms, quality, score_of(quality, bid.price_per_second)))
    return rated


def rank_market(market: ModelMarket, weights: Weights = DEFAULT_WEIGHTS) -> tuple[Scored, ...]:
    """Every bid the router would try, best first. Bids whose score is NaN or infinite are dropped, as the router
    drops them (see `unrateable`). Equal scores keep the chain's order (the router's sort is not stable, so a
    buyer may try them either way)."""
    valid = [r for r in _rate(market, weights) if math.isfinite(r[3])]
    ordered = sorted(valid, key=lambda r: -r[3])
    return tuple(
        Scored(bid=bid, terms=terms, quality=quality, score=score, rank=i)
        for i, (bid, terms, quality, score) in enumerate(ordered, start=1)
    )


def unrateable(market: ModelMarket, weights: Weights = DEFAULT_WEIGHTS) -> tuple[MarketBid, ...]:
    """The bids the router skips: their score is NaN or infinite (a price of 0, a negative sqSum)."""
    return tuple(r[0] for r in _rate(market, weights) if not math.isfinite(r[3]))


def price_for_rank(quality: float, competitors: Sequence[Scored], rank: int) -> int | None:
    """The highest price in wei at which a bid of this quality ranks `rank` or better among these competitors.

    Ranking N means scoring strictly above the N-th best competitor (a tie is the router's coin toss). None when
    no price of at least 1 wei does it; MAX_PRICE when every price does (rank past the last competitor, or a
    competitor scoring 0): the caller's ceiling bounds it.
    """
    if rank < 1:
        raise ValueError(f"rank must be 1 or more, got {rank}")
    if not (quality > 0 and math.isfinite(quality)):
        return None  # a quality of 0 scores 0 at any price: it never beats anyone
    scores = sorted((c.score for c in competitors), reverse=True)
    if rank > len(scores):
        return MAX_PRICE
    target = scores[rank - 1]

    def beats(price: int) -> bool:
        return score_of(quality, price) > target

    if not beats(1):
        return None
    if beats(MAX_PRICE):
        return MAX_PRICE
    low, high = 1, MAX_PRICE  # beats(low) and not beats(high); the score falls as the price rises
    while high - low > 1:
        middle = (low + high) // 2
        if beats(middle):
            low = middle
        else:
            high = middle
    return low


# --- the router's rating config ----------------------------------------------------------------------------


class RatingConfigError(FileUnusable, ValueError):
    """A rating config the router would refuse (`reconcile market --weights FILE`)."""


def weights_from_config(config: object) -> Weights:
    """The weights of a router rating config (RATING_CONFIG_PATH's JSON): algorithm "default", params.weights.

    Missing weights are 0 (as Go's JSON decoding leaves them); they must add up to exactly 1, as the router
    checks, or it refuses to start.
    """
    if not isinstance(config, Mapping):
        raise RatingConfigError("a rating config is a JSON object with `algorithm` and `params`")
    if config.get("algorithm") != "default":
        raise RatingConfigError(f"only the router's `default` algorithm is known, got {config.get('algorithm')!r}")
    params = config.get("params")
    raw = params.get("weights") if isinstance(params, Mapping) else None
    if not isinstance(raw, Mapping):
        raise RatingConfigError("`params.weights` must be an object of tps, ttft, duration, success, stake")
    values: dict[str, float] = {}
    for name in ("tps", "ttft", "duration", "success", "stake"):
        value = raw.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RatingConfigError(f"weight {name!r} must be a number, got {value!r}")
        values[name] = float(value)
    total = values["tps"] + values["ttft"] + values["duration"] + values["success"] + values["stake"]
    if total != 1:
        raise RatingConfigError(f"the weights must sum to 1 (the router refuses otherwise), they sum to {total!r}")
    return Weights(**values)


def allowlist_from_config(config: object) -> frozenset[str] | None:
    """The config's providerAllowlist as lower-case hex (None: every provider is allowed)."""
    if not isinstance(config, Mapping):
        return None
    raw = config.get("providerAllowlist")
    if not raw:
        return None
    if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
        raise RatingConfigError("`providerAllowlist` must be a list of addresses")
    return frozenset("0x" + a.lower().removeprefix("0x") for a in raw)

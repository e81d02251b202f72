"""The router's default scorer, checked against scores computed by hand (docs/market.md has the same numbers).

The worked market: a model with five closed sessions whose tps averages 20000 (x1000) with a spread of 2000
(sqSum 16e6 over 4), ttft 500 ms spread 100 (sqSum 40000), total duration 3600 s spread 600 (sqSum 1.44e6);
provider minimum stake 0.2 MOR.
"""

from __future__ import annotations

import math

import pytest

from reconciler.market.rating import (
    DEFAULT_WEIGHTS,
    MAX_PRICE,
    SD,
    MarketBid,
    ModelMarket,
    ModelStats,
    ProviderModelStats,
    RatingConfigError,
    Scored,
    Terms,
    Weights,
    allowlist_from_config,
    go_int64,
    price_for_rank,
    quality_of,
    rank_market,
    stake_term,
    terms_of,
    unrateable,
    weights_from_config,
)

MOR = 10**18
MIN_STAKE = 2 * MOR // 10
MODEL = ModelStats(SD(20000, 16_000_000), SD(500, 40_000), SD(3600, 1_440_000), 5)
# tps z = (23000-20000)/2000 = 1.5 -> 0.75; ttft z = (650-500)/100 = 1.5, negated -> 0.25;
# duration z = (1800-3600)/600 = -3 -> 0; success (9/10)^2 = 0.81; stake (1.1-0.2)/(9*0.2) = 0.5
GOOD = ProviderModelStats(SD(23000, 0), SD(650, 0), 1800, 9, 10)


def market(*bids: MarketBid, model: ModelStats = MODEL) -> ModelMarket:
    return ModelMarket(model_id="0x" + "ab" * 32, model_stats=model, min_stake=MIN_STAKE, bids=bids)


def bid(n: int, price: int, stats: ProviderModelStats = GOOD, stake: int = 11 * MOR // 10) -> MarketBid:
    return MarketBid(bid_id=f"0x{n:064x}", provider=f"0x{n:040x}", price_per_second=price, stake=stake, stats=stats)


def test_terms_quality_and_score_of_the_worked_example() -> None:
    terms = terms_of(GOOD, 11 * MOR // 10, MODEL, MIN_STAKE)
    assert terms == Terms(tps=0.75, ttft=0.25, duration=0.0, success=pytest.approx(0.81), stake=0.5)
    # 0.24*0.75 + 0.08*0.25 + 0.24*0 + 0.32*0.81 + 0.12*0.5 = 0.18 + 0.02 + 0 + 0.2592 + 0.06
    assert quality_of(GOOD, 11 * MOR // 10, market()) == pytest.approx(0.5192, abs=1e-15)
    (only,) = rank_market(market(bid(1, MOR // 1000)))  # 0.001 MOR/s
    assert only.score == pytest.approx(519.2, abs=1e-9)
    assert only.rank == 1


def test_one_sample_and_zero_spread_give_z_zero() -> None:
    one_sample = ModelStats(SD(20000, 16_000_000), SD(500, 40_000), SD(3600, 1_440_000), 1)
    flat = ModelStats(SD(20000, 0), SD(500, 0), SD(3600, 0), 3)
    for model in (one_sample, flat):
        terms = terms_of(GOOD, MIN_STAKE, model, MIN_STAKE)
        assert (terms.tps, terms.ttft, terms.duration) == (0.5, 0.5, 0.5)
        assert terms.stake == 0.0  # exactly the minimum
        # 0.24*0.5 + 0.08*0.5 + 0.24*0.5 + 0.32*0.81 + 0 = 0.28 + 0.2592
        assert quality_of(GOOD, MIN_STAKE, market(model=model)) == pytest.approx(0.5392, abs=1e-15)


def test_zero_sessions_scores_no_success() -> None:
    fresh = ProviderModelStats(SD(0, 0), SD(0, 0), 0, 0, 0)
    terms = terms_of(fresh, MIN_STAKE, MODEL, MIN_STAKE)
    # tps z = -10 -> 0; ttft z = -(-5) = 5 -> 1; duration z = -6 -> 0; success 0; stake 0
    assert terms == Terms(tps=0.0, ttft=1.0, duration=0.0, success=0.0, stake=0.0)
    assert quality_of(fresh, MIN_STAKE, market()) == pytest.approx(0.08, abs=1e-15)


def test_stake_is_clamped_between_min_and_ten_times_min() -> None:
    assert stake_term(MIN_STAKE // 2, MIN_STAKE) == 0.0
    assert stake_term(2 * MOR, MIN_STAKE) == 1.0  # exactly 10x min
    assert stake_term(5 * MOR, MIN_STAKE) == 1.0
    assert stake_term(11 * MOR // 10, MIN_STAKE) == 0.5
    assert stake_term(MOR, 0) == 0.0  # min 0: max == min, the router says 0


def test_stake_above_9_22_mor_wraps_as_the_routers_int64() -> None:
    assert go_int64(2**63 - 1) == 2**63 - 1
    assert go_int64(2**63) == -(2**63)
    # 10 MOR = 1e19 wei wraps to 1e19 - 2**64 = -8446744073709551616: below the minimum, scores 0
    assert go_int64(10 * MOR) == -8_446_744_073_709_551_616
    assert stake_term(10 * MOR, MIN_STAKE) == 0.0
    # 20 MOR wraps to 2e19 - 2**64 = 1553255926290448384 wei (~1.55 MOR): (1.5533 - 0.2) / 1.8
    assert go_int64(20 * MOR) == 1_553_255_926_290_448_384
    assert stake_term(20 * MOR, MIN_STAKE) == pytest.approx(0.751808847939138, abs=1e-15)
    # a minimum of 1 MOR: 10 x min = 1e19 wraps negative, so any stake at or above the minimum scores 1
    assert stake_term(MOR, MOR) == 1.0
    assert stake_term(MOR - 1, MOR) == 0.0


def test_rank_market_sorts_best_first_and_drops_unrateable() -> None:
    cheap_fresh = bid(1, MOR // 10_000, ProviderModelStats(SD(0, 0), SD(0, 0), 0, 0, 0), MIN_STAKE)
    good = bid(2, MOR // 1000)
    dear = bid(3, MOR // 500)
    free = bid(4, 0)
    ranked = rank_market(market(good, dear, cheap_fresh, free))
    # scores: cheap_fresh 0.08 / 0.0001 = 800; good 0.5192 / 0.001 = 519.2; dear 0.5192 / 0.002 = 259.6
    assert [s.bid.bid_id for s in ranked] == [cheap_fresh.bid_id, good.bid_id, dear.bid_id]
    assert [s.rank for s in ranked] == [1, 2, 3]
    assert [round(s.score, 9) for s in ranked] == [800.0, 519.2, 259.6]
    assert unrateable(market(good, free)) == (free,)


def test_equal_scores_keep_the_chain_order() -> None:
    a, b = bid(1, MOR // 1000), bid(2, MOR // 1000)
    assert [s.bid for s in rank_market(market(b, a))] == [b, a]


def test_weights_change_the_quality() -> None:
    success_only = Weights(tps=0, ttft=0, duration=0, success=1, stake=0)
    assert quality_of(GOOD, 11 * MOR // 10, market(), success_only) == pytest.approx(0.81, abs=1e-15)


def scored(score: float) -> Scored:
    return Scored(bid=bid(9, MOR), terms=Terms(0, 0, 0, 0, 0), quality=0.0, score=score, rank=0)


def test_price_for_rank() -> None:
    competitors = [scored(250.0), scored(500.0)]
    # quality 0.5 beats 500 below 0.5 / 500 = 0.001 MOR/s: 1e15 wei ties, one wei less wins
    assert price_for_rank(0.5, competitors, 1) == 10**15 - 1
    assert price_for_rank(0.5, competitors, 2) == 2 * 10**15 - 1  # beats 250 below 0.002 MOR/s
    assert price_for_rank(0.5, competitors, 3) == MAX_PRICE  # last place at any price
    assert price_for_rank(0.0, competitors, 1) is None
    assert price_for_rank(1e-30, [scored(1e20)], 1) is None  # not even 1 wei beats it
    assert price_for_rank(0.5, [scored(0.0)], 1) == MAX_PRICE
    with pytest.raises(ValueError, match="rank"):
        price_for_rank(0.5, competitors, 0)


def test_price_for_rank_agrees_with_rank_market() -> None:
    others = rank_market(market(bid(1, 7 * MOR // 10_000), bid(2, 9 * MOR // 10_000, GOOD, 2 * MOR)))
    mine = quality_of(ProviderModelStats(SD(21000, 0), SD(450, 0), 3000, 4, 5), MOR, market())
    for rank in (1, 2):
        price = price_for_rank(mine, others, rank)
        assert price is not None
        for p, expected in ((price, rank), (price + 1, rank + 1)):
            me = MarketBid(
                "0x" + "ee" * 32, "0x" + "ee" * 20, p, MOR, ProviderModelStats(SD(21000, 0), SD(450, 0), 3000, 4, 5)
            )
            ranks = {s.bid.bid_id: s.rank for s in rank_market(market(*(s.bid for s in others), me))}
            assert ranks[me.bid_id] == expected


def test_weights_from_the_routers_rating_config() -> None:
    config = {"algorithm": "default", "params": {"weights": {"tps": 0.5, "success": 0.5}}}
    assert weights_from_config(config) == Weights(tps=0.5, ttft=0.0, duration=0.0, success=0.5, stake=0.0)
    default = {
        "algorithm": "default",
        "params": {"weights": {"tps": 0.24, "ttft": 0.08, "duration": 0.24, "success": 0.32, "stake": 0.12}},
    }
    assert weights_from_config(default) == DEFAULT_WEIGHTS
    for bad in (
        {"algorithm": "other", "params": {}},
        {"algorithm": "default", "params": {"weights": {"tps": 0.5}}},
        {"algorithm": "default", "params": {"weights": {"tps": "1"}}},
        {"algorithm": "default"},
        [],
    ):
        with pytest.raises(RatingConfigError):
            weights_from_config(bad)
    assert allowlist_from_config({"providerAllowlist": ["0xAB" + "0" * 38]}) == frozenset({"0xab" + "0" * 38})
    assert allowlist_from_config(config) is None


def test_negative_sq_sum_is_nan_as_gos_sqrt() -> None:
    broken = ModelStats(SD(20000, -1), SD(500, 40_000), SD(3600, 1_440_000), 5)
    assert math.isnan(terms_of(GOOD, MOR, broken, MIN_STAKE).tps)
    assert rank_market(market(bid(1, MOR // 1000), model=broken)) == ()

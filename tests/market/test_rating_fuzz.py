"""The router's scorer fuzzed with every value the chain's stats and stakes can hold (issue 31, hostile inputs):
anyone can register a provider, bid on our model and so put numbers in our market. Whatever they are (a negative
or huge sqSum, a mean at the int64 extremes, a count of 0, 1 or 2**32-1, successes without sessions, a minimum
stake of 0, a stake past int64), scoring never raises: every term of a ranked bid is in [0, 1], its score is
finite, a bid the router would drop is dropped, and price_for_rank answers."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.market.rating import (
    MAX_PRICE,
    SD,
    MarketBid,
    ModelMarket,
    ModelStats,
    ProviderModelStats,
    price_for_rank,
    quality_of,
    rank_market,
    unrateable,
)

I64 = (-(2**63), 2**63 - 1)
EDGES64 = [I64[0], I64[0] + 1, -1, 0, 1, 2, I64[1] - 1, I64[1]]
int64 = st.one_of(st.sampled_from(EDGES64), st.integers(*I64))
uint32 = st.one_of(st.sampled_from([0, 1, 2, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1))
uint256 = st.one_of(
    st.sampled_from([0, 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**128, 2**256 - 1]), st.integers(0, 2**256 - 1)
)
sds = st.builds(SD, int64, int64)
provider_stats = st.builds(ProviderModelStats, sds, sds, int64, uint32, uint32)
model_stats = st.builds(ModelStats, sds, sds, sds, uint32)
bids = st.builds(
    MarketBid,
    st.integers(0, 2**32).map(lambda n: f"0x{n:064x}"),
    st.integers(1, 2**32).map(lambda n: f"0x{n:040x}"),
    uint256,
    uint256,
    provider_stats,
)
markets = st.builds(ModelMarket, st.just("0x" + "ab" * 32), model_stats, uint256, st.lists(bids, max_size=6).map(tuple))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets, provider_stats, uint256, st.integers(1, 8))
def test_scoring_any_chain_values_never_raises(
    market: ModelMarket, ours: ProviderModelStats, stake: int, rank: int
) -> None:
    ranked = rank_market(market)
    dropped = unrateable(market)
    assert len(ranked) + len(dropped) == len(market.bids)
    for s in ranked:
        for term in (s.terms.tps, s.terms.ttft, s.terms.duration, s.terms.success, s.terms.stake):
            assert 0.0 <= term <= 1.0, s
        assert math.isfinite(s.quality) and 0.0 <= s.quality <= 1.0 + 1e-9
        assert math.isfinite(s.score) and s.score >= 0
    assert [s.rank for s in ranked] == list(range(1, len(ranked) + 1))
    quality = quality_of(ours, stake, market)
    wei = price_for_rank(quality, ranked, rank)
    assert wei is None or 1 <= wei <= MAX_PRICE

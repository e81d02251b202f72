"""Margins per model and day (issue 31): the arithmetic, with figures computed by hand."""

from __future__ import annotations

from fractions import Fraction as F

from reconciler.desired.model import CostModel, Subscription, TokenPrices
from reconciler.market.margin import (
    SECONDS_PER_MONTH,
    Usage,
    day_margin,
    measured_tokens_per_second,
    price_at_measured,
    token_cost_usd,
    upstream_cost_usd,
    usd_text,
)

MOR = 10**18

# $2 per million input tokens, $8 per million output, cache reads $0.50, cache writes $2.50 per million
PRICES = TokenPrices(
    tokens_per_second=F(40),
    input_usd=F("0.000002"),
    output_usd=F("0.000008"),
    input_share=F("0.3"),
    cached_input_usd=F("0.0000005"),
    cache_write_usd=F("0.0000025"),
)
PER_TOKEN = CostModel(usd_per_second=F(0), mor_usd=F("2.5"), margin=F("0.2"), per_token=PRICES)
SUBSCRIPTION = CostModel(
    usd_per_second=F(200, 100_000),
    mor_usd=F("2.5"),
    subscription=Subscription(usd_per_month=F(200), utilized_seconds_per_month=100_000),
)


def test_token_cost_prices_cache_reads_and_writes_apart_from_plain_input() -> None:
    # 1000 prompt tokens of which 400 read from the cache and 100 written to it; 500 completion tokens:
    # 500 x 0.000002 + 400 x 0.0000005 + 100 x 0.0000025 + 500 x 0.000008 = 0.001 + 0.0002 + 0.00025 + 0.004
    usage = Usage(prompt=1000, completion=500, cached=400, cache_write=100)
    assert token_cost_usd(PRICES, usage) == F("0.00545")
    # without cache prices every prompt token is an input token: 1000 x 0.000002 + 500 x 0.000008
    plain = TokenPrices(tokens_per_second=F(40), input_usd=F("0.000002"), output_usd=F("0.000008"))
    assert token_cost_usd(plain, usage) == F("0.006")
    # an upstream that reports more cached than prompt tokens: no negative plain input
    assert token_cost_usd(PRICES, Usage(prompt=10, cached=30)) == F("0.000015")  # 30 x 0.0000005


def test_subscription_cost_is_the_days_share_of_the_month() -> None:
    assert SECONDS_PER_MONTH == 2_628_000  # a twelfth of 365 days, as utilizedSecondsPerMonth x 12 a year
    # $200 a month over a whole day: 200 x 86400 / 2628000 = 480/73
    cost = upstream_cost_usd(SUBSCRIPTION, Usage(prompt=10**6), 86_400)
    assert cost == F(480, 73) and usd_text(cost) == "6.575342"
    # half a day so far today: half of that, whatever the tokens
    assert upstream_cost_usd(SUBSCRIPTION, Usage(), 43_200) == F(240, 73)
    # a per-token model's cost does not depend on the span
    assert upstream_cost_usd(PER_TOKEN, Usage(prompt=1000, completion=500, cached=400, cache_write=100), 1) == F(
        "0.00545"
    )


def test_day_margin_in_usd_and_slot_utilisation() -> None:
    # 0.006 MOR/s sold for an hour = 21.6 MOR; at 2.5 USD per MOR = 54 USD; the tokens cost 0.00545 USD
    usage = Usage(prompt=1000, completion=500, cached=400, cache_write=100, seconds=F(1800))
    m = day_margin(
        earned_wei=6 * 10**15 * 3600, usage=usage, cost_model=PER_TOKEN, mor_usd=F("2.5"), slots=2, span=3600
    )
    assert m.earned_usd == 54 and m.cost_usd == F("0.00545") and m.margin_usd == F("53.99455")
    assert usd_text(m.margin_usd) == "53.994550"
    assert m.basis == "perToken"
    assert m.utilisation == F(1, 4)  # 1800 s served / (2 slots x 3600 s)
    # the subscription's share can exceed what was earned: a negative margin
    s = day_margin(earned_wei=MOR, usage=Usage(), cost_model=SUBSCRIPTION, mor_usd=F(2), slots=0, span=86_400)
    assert s.earned_usd == 2 and s.cost_usd == F(480, 73) and s.margin_usd == F(2) - F(480, 73)
    assert usd_text(s.margin_usd) == "-4.575342" and s.basis == "subscription"
    assert s.utilisation is None  # unlimited slots: no ratio
    # a fixed price (no cost model): the MOR earned is known, nothing in USD
    n = day_margin(earned_wei=MOR, usage=usage, cost_model=None, mor_usd=None, slots=2, span=3600)
    assert (n.earned_wei, n.earned_usd, n.cost_usd, n.margin_usd, n.basis) == (MOR, None, None, None, None)


def test_measured_tokens_per_second_and_the_price_they_give() -> None:
    usage = Usage(prompt=1000, completion=500, seconds=F(30))
    assert measured_tokens_per_second(usage) == 50
    assert measured_tokens_per_second(Usage(prompt=5)) is None  # nothing served yet
    # 50 tokens/s x (0.3 x 0.000002 + 0.7 x 0.000008) = 0.00031 USD/s; x 1.2 / 2.5 USD per MOR = 0.0001488 MOR/s
    assert price_at_measured(PER_TOKEN, usage, F("2.5")) == 148_800_000_000_000
    assert price_at_measured(SUBSCRIPTION, usage, F("2.5")) is None
    assert price_at_measured(PER_TOKEN, Usage(), F("2.5")) is None


def test_counters_since_an_earlier_reading_survive_a_forwarder_restart() -> None:
    before = Usage(prompt=100, completion=50, cached=10, cache_write=0, seconds=F(12))
    now = Usage(prompt=130, completion=70, cached=10, cache_write=4, seconds=F(15))
    assert now.since(before) == Usage(prompt=30, completion=20, cached=0, cache_write=4, seconds=F(3))
    restarted = Usage(prompt=7, completion=3, seconds=F(1))  # a counter went down: all of it is new
    assert restarted.since(before) == restarted
    assert before + now == Usage(prompt=230, completion=120, cached=20, cache_write=4, seconds=F(27))

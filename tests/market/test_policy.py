"""Pricing policies: the arithmetic of a market target and of the decision to reprice, with literal numbers."""

from __future__ import annotations

from fractions import Fraction

import pytest

MOR = 10**18
FEE = 3 * MOR // 10  # 0.3 MOR bid fee


def test_weighted_percentile_counts_each_price_by_its_quality() -> None:
    from reconciler.market.policy import weighted_percentile

    points = [(30, 2.0), (10, 1.0), (20, 1.0)]  # total weight 4, sorted by price: 10 (1), 20 (2), 30 (4)
    assert weighted_percentile(points, Fraction(25)) == 10  # 1 of 4
    assert weighted_percentile(points, Fraction(50)) == 20  # 2 of 4
    assert weighted_percentile(points, Fraction(60)) == 30  # 2.4 of 4
    assert weighted_percentile(points, Fraction(100)) == 30
    assert weighted_percentile([(10, 0.0), (20, 0.0)], Fraction(50)) == 10  # no quality anywhere: unweighted
    assert weighted_percentile([], Fraction(50)) is None


def test_payback_of_a_raise_is_the_fee_over_the_extra_earned_and_of_a_cut_over_all_earned() -> None:
    from reconciler.market.policy import payback_days

    # a raise of 0.001 MOR/s at 100 s a day earns 0.1 MOR a day more: the 0.3 MOR fee is back in 3 days
    assert payback_days(FEE, 10**16, 11 * 10**15, 100) == Fraction(3)
    # a cut to 0.009 MOR/s (to win sessions) earns 0.9 MOR a day at 100 s: back in 1/3 day
    assert payback_days(FEE, 10**16, 9 * 10**15, 100) == Fraction(1, 3)
    assert payback_days(FEE, 10**16, 9 * 10**15, 0) is None  # never used: never pays back


def test_decide_proposes_only_past_the_threshold_the_hysteresis_the_payback_and_the_cap() -> None:
    from reconciler.market.policy import PolicyKnobs, decide

    knobs = PolicyKnobs(
        min_gain_percent=Fraction(5), hysteresis_percent=Fraction(2), payback_days=Fraction(7), max_reposts_per_day=4
    )
    cur = 10**16
    # no bid yet: post the target, whatever it costs (there is nothing to pay back against)
    assert decide(knobs, 9 * 10**15, None, FEE, 100, 0).price == 9 * 10**15
    # a 10% cut paying back in 1/3 day: proposed, the reasoning says so
    d = decide(knobs, 9 * 10**15, cur, FEE, 100, 0)
    assert d.price == 9 * 10**15 and d.warning is None and "fee pays back in 0.3 days" in d.reasoning
    # the same cut at 1 s a day pays back in 33.3 days: not proposed, with the reason as a warning
    d = decide(knobs, 9 * 10**15, cur, FEE, 1, 0)
    assert d.price is None and d.warning is not None and "33.3 days" in d.warning and "7 days" in d.warning
    # a 4% move is under the 5% threshold: nothing, and nothing to warn about
    d = decide(knobs, 96 * 10**14, cur, FEE, 100, 0)
    assert d.price is None and d.warning is None
    # a 6% raise clears 5% but not 5% + 2% of hysteresis (raises need more than cuts)
    assert decide(knobs, 106 * 10**14, cur, FEE, 100, 0).price is None
    # an 8% raise does, and pays back in 0.3 MOR / (0.0008 MOR/s x 100 s) = 3.75 days
    d = decide(knobs, 108 * 10**14, cur, FEE, 100, 0)
    assert d.price == 108 * 10**14 and "3.8 days" in d.reasoning
    # the fourth repost of the day is the last: the cap holds the fifth, saying so
    d = decide(knobs, 9 * 10**15, cur, FEE, 100, 4)
    assert d.price is None and d.warning is not None and "4 reposts" in d.warning


def test_bounded_and_follow() -> None:
    from reconciler.market.policy import bounded, follow_price

    assert bounded(5, 10, 20) == 10 and bounded(25, 10, 20) == 20 and bounded(15, 10, 20) == 15
    prices = {"0x" + "aa" * 20: 12 * 10**15, "0x" + "bb" * 20: 20 * 10**15}
    assert follow_price(prices, "0x" + "AA" * 20, -(10**15)) == 11 * 10**15  # addresses match in any case
    assert follow_price(prices, "0x" + "bb" * 20, 5 * 10**14) == 205 * 10**14
    assert follow_price(prices, "0x" + "cc" * 20, 0) is None  # not on this model's market


@pytest.mark.parametrize(
    ("text", "wei"),
    [("4500000000000000\n", 4_500_000_000_000_000), ("0.0045 MOR", 4_500_000_000_000_000), (" 5 gwei ", 5 * 10**9)],
)
def test_a_price_commands_answer_is_wei_or_an_amount_with_its_unit(text: str, wei: int) -> None:
    from reconciler.market.policy import parse_price_answer

    assert parse_price_answer(text) == wei


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("  \n", "empty"),
        ("-5", "negative"),
        ("-0.1 MOR", "negative"),
        ("cheap", "not a price"),
        ("1.5", "not a price"),
        ("0", "zero"),
    ],
)
def test_a_price_commands_bad_answer_is_a_clear_error(text: str, says: str) -> None:
    from reconciler.market.policy import BadPriceAnswer, parse_price_answer

    with pytest.raises(BadPriceAnswer, match=says):
        parse_price_answer(text)

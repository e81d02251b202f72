"""`bid.market`: a bid priced by a market policy (floor, ceiling, one target), as the loader reads it."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from reconciler.desired.diagnostics import ValidationFailed
from reconciler.desired.loader import load_desired
from tests.support.planfactory import BASE_YAML

MOR = 10**18
PRICE = 'pricePerSecond: "0.01 MOR"'


def load(tmp_path: Path, bid: str):  # type: ignore[no-untyped-def]
    p = tmp_path / "state.yaml"
    p.write_text(BASE_YAML.replace(PRICE, bid, 1))
    return load_desired(p)[0].models[0].bid


def test_a_rank_policy_with_a_fixed_floor_and_the_defaults(tmp_path: Path) -> None:
    bid = load(tmp_path, 'market: {floor: "0.004 MOR", ceiling: "0.01 MOR", rank: 1, utilizedSecondsPerDay: 3600}')
    assert bid.price_per_second is None and bid.cost_model is None
    m = bid.market
    assert (m.floor_price, m.ceiling, m.rank, m.percentile, m.follow) == (4 * 10**15, 10**16, 1, None, None)
    assert m.knobs.min_gain_percent == 5 and m.knobs.hysteresis_percent == 2
    assert m.knobs.payback_days == 7 and m.knobs.max_reposts_per_day == 4
    assert m.utilized_seconds_per_day == 3600


def test_a_cost_model_floor_gives_the_utilisation_and_follow_takes_a_signed_offset(tmp_path: Path) -> None:
    bid = load(
        tmp_path,
        "market:\n"
        "        floor: {costModel: {subscription: {usdPerMonth: 300, utilizedSecondsPerMonth: 300000}, morUsd: 10}}\n"
        '        ceiling: "1 MOR"\n'
        '        follow: "0x' + "ab" * 20 + '"\n'
        '        offset: "-0.0001 MOR"\n'
        "        paybackDays: 2.5\n"
        "        maxRepostsPerDay: 2",
    )
    m = bid.market
    assert m.floor_cost_model.usd_per_second == Fraction(1, 1000) and m.floor_price is None
    assert m.follow == "0x" + "ab" * 20 and m.offset == -(10**14)
    assert m.knobs.payback_days == Fraction(5, 2) and m.knobs.max_reposts_per_day == 2
    assert m.utilized_seconds_per_day == 300000 * 12 // 365  # the cost model's, when none is declared


def test_without_a_declared_utilisation_it_is_measured_from_the_sessions(tmp_path: Path) -> None:
    declared = load(tmp_path, 'market: {floor: "0.004 MOR", ceiling: "0.01 MOR", rank: 1, utilizedSecondsPerDay: 9}')
    assert (declared.market.utilized_seconds_per_day, declared.market.utilisation_from) == (9, "declared")
    m = load(tmp_path, 'market: {floor: "0.004 MOR", ceiling: "0.01 MOR", rank: 1}').market
    assert m.utilized_seconds_per_day is None and m.utilisation_from == "measured"
    floor = "{costModel: {subscription: {usdPerMonth: 300, utilizedSecondsPerMonth: 300000}, morUsd: 10}}"
    m = load(tmp_path, f'market: {{floor: {floor}, ceiling: "1 MOR", rank: 1}}').market
    assert (m.utilized_seconds_per_day, m.utilisation_from) == (300000 * 12 // 365, "cost model")


@pytest.mark.parametrize(
    ("market", "says"),
    [
        ('{floor: "0.004 MOR", ceiling: "0.01 MOR", utilizedSecondsPerDay: 1}', "bid.market"),  # no target
        ('{floor: "0.004 MOR", ceiling: "0.01 MOR", rank: 1, percentile: 50, utilizedSecondsPerDay: 1}', "bid.market"),
        ('{floor: "0.02 MOR", ceiling: "0.01 MOR", rank: 1, utilizedSecondsPerDay: 1}', "above the ceiling"),
        ('{floor: "0.004 MOR", ceiling: "0.01 MOR", percentile: 0, utilizedSecondsPerDay: 1}', "percentile"),
        ('{floor: "0.004 MOR", ceiling: "0.01 MOR", follow: "0xab", utilizedSecondsPerDay: 1}', "follow"),
        ('{floor: "0.004 MOR", ceiling: "0.01 MOR", rank: 1, command: "x", utilizedSecondsPerDay: 1}', "command"),
    ],
    ids=["no-target", "two-targets", "floor-above-ceiling", "percentile-0", "bad-address", "command"],
)
def test_what_a_market_policy_may_not_say(tmp_path: Path, market: str, says: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(tmp_path, f"market: {market}")
    said = "\n".join(str(d) for d in caught.value.diagnostics)
    assert says in said, said

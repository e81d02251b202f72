"""The planner prices `bid.market` bids from a market snapshot (issue 31): the target, its bounds, the reasoning,
and the changes it does not propose. Three competitors whose qualities are easy to check by hand:

the model has no stats spread, so tps, ttft and duration score 0.5 each (0.24*0.5 + 0.08*0.5 + 0.24*0.5 = 0.28);
success is (successes/total)^2 (x0.32), stake (stake - min)/(9 min) (x0.12). With min = 0.2 MOR:
  A 0.010 MOR/s, 1 of 1 sessions ok, stake min:     quality 0.60, score 60
  C 0.005 MOR/s, no session yet,     stake min:     quality 0.28, score 56
  B 0.020 MOR/s, 1 of 1 ok,          stake 10 min:  quality 0.72, score 36
We (1 of 1 ok, stake 0.2 MOR = min) have quality 0.60: rank 1 needs a score above 60, a price below 0.01 MOR/s:
the highest such price in the routers' float64 is 9999999999999998 wei/s.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.market.policy import Commanded, MarketInputs
from reconciler.market.rating import NO_MODEL_STATS, SD, MarketBid, ModelMarket, ProviderModelStats, Weights
from reconciler.observe.model import Observed, SessionState
from reconciler.plan.model import Action, ActionKind, Plan, Status
from reconciler.plan.planner import plan
from reconciler.plan.simulate import simulate
from tests.support.planfactory import BASE_YAML, MOR, NOW, desired_from, observed

MIN = 2 * MOR // 10
RANK_1 = 9_999_999_999_999_998


def stats(ok: int, total: int) -> ProviderModelStats:
    return ProviderModelStats(SD(0, 0), SD(0, 0), 0, ok, total)


def market(model_id: str, *extra: MarketBid) -> ModelMarket:
    return ModelMarket(
        model_id,
        NO_MODEL_STATS,
        MIN,
        (
            MarketBid("0x0a", "0x" + "aa" * 20, 10**16, MIN, stats(1, 1)),
            MarketBid("0x0b", "0x" + "bb" * 20, 2 * 10**16, 10 * MIN, stats(1, 1)),
            MarketBid("0x0c", "0x" + "cc" * 20, 5 * 10**15, MIN, stats(0, 0)),
            *extra,
        ),
    )


def policy(**fields: str) -> str:
    base = {"floor": '"0.004 MOR"', "ceiling": '"0.015 MOR"', "rank": "1", "utilizedSecondsPerDay": "100"}
    base.update(fields)
    return "market: {" + ", ".join(f"{k}: {v}" for k, v in base.items() if v) + "}"


def world_at(price: str = "0.012 MOR"):  # type: ignore[no-untyped-def]
    """A converged provider whose llama bid is at `price`, two hours old (past the churn guard's hour)."""
    d = desired_from(BASE_YAML.replace('"0.01 MOR"', f'"{price}"', 1))
    o = simulate(observed(), plan(d, observed()))
    return replace(o, now=NOW + 7200, wall_clock=NOW + 7200)


def inputs(o: Observed, **kw: object) -> MarketInputs:
    mid = llama_id(o)
    return MarketInputs(markets={mid: market(mid)}, own_stats={mid: stats(1, 1)}, **kw)  # type: ignore[arg-type]


def llama_id(o: Observed) -> str:
    return next(b.model_id for b in o.chain.bids if b.price_per_second in (12 * 10**15, 10**16, 11 * 10**15))


def post(p: Plan) -> Action | None:
    return next((a for a in p.actions if a.kind is ActionKind.BID_POST), None)


def test_rank_1_plans_the_price_the_formula_says_with_its_reasoning_and_planning_again_proposes_nothing() -> None:
    o = world_at()
    d = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(), 1))
    p = plan(d, o, market=inputs(o))
    a = post(p)
    assert a is not None and a.status is Status.PENDING and not p.errors, p.errors
    assert a.value.price_per_second == RANK_1  # type: ignore[union-attr]
    assert "ours #3 of 4 at score 50" in a.reason
    assert "rank 1 needs <= 0.009999999999999998 MOR/s" in a.reason
    assert "floor 0.004 MOR/s, ceiling 0.015 MOR/s" in a.reason
    assert "(16.7%); fee pays back in 0.3 days" in a.reason  # 0.3 MOR / (0.01 MOR/s x 100 s/day)
    assert a.cost.fee == 3 * MOR // 10
    again = simulate(o, p)
    p2 = plan(d, replace(again, now=NOW + 9000, wall_clock=NOW + 9000), market=inputs(o))
    assert post(p2) is None and not p2.warnings and not p2.pending, p2.actions


def test_the_target_is_bounded_by_the_floor_and_the_ceiling() -> None:
    o = world_at()
    d = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(floor='"0.011 MOR"'), 1))
    a = post(plan(d, o, market=inputs(o)))
    assert a is not None and a.value.price_per_second == 11 * 10**15  # type: ignore[union-attr]
    assert "floor 0.011 MOR/s, ceiling 0.015 MOR/s: 0.011 MOR/s" in a.reason
    # rank 3 needs <= 0.01667 MOR/s: the ceiling, a 25% raise
    d = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(rank="3"), 1))
    a = post(plan(d, o, market=inputs(o)))
    assert a is not None and a.value.price_per_second == 15 * 10**15  # type: ignore[union-attr]


def test_a_change_whose_fee_would_not_pay_back_is_not_proposed_and_the_plan_says_why() -> None:
    o = world_at()
    d = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(utilizedSecondsPerDay="1"), 1))
    p = plan(d, o, market=inputs(o))
    assert post(p) is None and not p.errors
    (warning,) = [w for w in p.warnings if "pays back" in w]
    assert "ours #3 of 4" in warning and "pays back in 30.0 days at 1 s/day, more than paybackDays 7 days" in warning


def test_the_daily_cap_on_reposts_holds_the_next_one() -> None:
    o = world_at()
    d = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(maxRepostsPerDay="2"), 1))
    p = plan(d, o, market=inputs(o, reposts_today={llama_id(o): 2}))
    assert post(p) is None
    assert any("already 2 reposts of this bid in the last 24 h (maxRepostsPerDay 2)" in w for w in p.warnings)


def test_a_market_move_is_still_under_the_churn_guard() -> None:
    o = world_at()
    young = replace(o, now=NOW + 600, wall_clock=NOW + 600)  # the bid is 10 minutes old
    d = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(), 1))
    a = post(plan(d, young, market=inputs(young)))
    assert a is not None and a.status is Status.HELD and "churn guard" in a.reason and "rank 1 needs" in a.reason


def test_percentile_and_follow() -> None:
    o = world_at()
    # prices by quality: 0.005 (0.28), 0.01 (0.60), 0.02 (0.72) of 1.60; half the weight is reached at 0.01
    d = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(rank="", percentile="50"), 1))
    a = post(plan(d, o, market=inputs(o)))
    assert a is not None and a.value.price_per_second == 10**16  # type: ignore[union-attr]
    follow = policy(rank="", follow='"0x' + "AA" * 20 + '"', offset='"-0.0001 MOR"')
    a = post(plan(desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', follow, 1)), o, market=inputs(o)))
    assert a is not None and a.value.price_per_second == 99 * 10**14  # type: ignore[union-attr]


def test_the_price_commands_answer_is_bounded_and_its_failure_changes_no_bid() -> None:
    o = world_at()
    mid = llama_id(o)
    d = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(), 1))
    a = post(plan(d, o, market=inputs(o, commanded={mid: Commanded(price=50 * 10**15)})))
    assert a is not None and a.value.price_per_second == 15 * 10**15  # type: ignore[union-attr]
    assert "the price command says 0.05 MOR/s" in a.reason
    failed = Commanded(error="the price command timed out after 10 s")
    p = plan(d, o, market=inputs(o, commanded={mid: failed}))
    assert post(p) is None and not p.errors
    assert any("the price command timed out after 10 s: the bid is left as it is" in w for w in p.warnings)
    # with no bid yet, a failed command posts none
    fresh = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(), 1))
    nothing = observed()
    mid_new = fresh.models[0].model_id
    p = plan(fresh, nothing, market=MarketInputs(markets={mid_new: market(mid_new)}, commanded={mid_new: failed}))
    assert [x.subject.model_id for x in p.actions if x.kind is ActionKind.BID_POST] == [  # type: ignore[union-attr]
        fresh.models[1].model_id
    ]


def test_a_market_bid_without_its_market_read_is_an_error() -> None:
    o = world_at()
    d = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(), 1))
    p = plan(d, o)
    a = post(p)
    assert a is not None and any("market of this model was not read" in e for e in a.errors)


DAY = 86_400


def our_sessions(o: Observed, *spans: tuple[int, int]) -> Observed:
    """`o` with a one-day chain reading (the maximum session duration) holding our sessions on llama: each span is
    (opened so many seconds ago, seconds served), closed by then."""
    mid, bid = llama_id(o), next(b.bid_id for b in o.chain.bids if b.model_id == llama_id(o))
    now = o.chain.block_timestamp
    sessions = tuple(
        SessionState(
            f"0x{n:064x}", bid, mid, "0x" + "cc" * 20, 0, 12 * 10**15, 0, now - ago, now - ago + 3600, now - ago + s
        )
        for n, (ago, s) in enumerate(spans, 1)
    )
    return replace(o, chain=replace(o.chain, max_session_duration=DAY, sessions=sessions))


def test_without_a_declared_utilisation_the_payback_uses_the_session_seconds_measured_on_chain() -> None:
    o = our_sessions(world_at(), (7200, 60), (40_000, 40))  # 100 s in the one-day reading: 100 s/day
    d = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(utilizedSecondsPerDay=""), 1))
    p = plan(d, o, market=inputs(o))
    a = post(p)
    assert a is not None and a.status is Status.PENDING and not p.errors, p.errors
    assert a.value.price_per_second == RANK_1  # type: ignore[union-attr]
    assert (
        "fee pays back in 0.3 days at 100 s/day (measured over 1 day: the chain reading holds sessions back to "
        "the maximum session duration, 1 day, not 7)" in a.reason
    ), a.reason
    # declared: the plan says so
    d = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(), 1))
    a = post(plan(d, o, market=inputs(o)))
    assert a is not None and "fee pays back in 0.3 days at 100 s/day (declared)" in a.reason, a.reason


def test_a_model_without_sessions_proves_no_payback_and_is_not_repriced() -> None:
    o = our_sessions(world_at())
    d = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(utilizedSecondsPerDay=""), 1))
    p = plan(d, o, market=inputs(o))
    assert post(p) is None and not p.errors, p.actions
    (warning,) = [w for w in p.warnings if "payback" in w]
    assert warning == (
        "bid on llama (" + llama_id(o)[:10] + "…): ours #3 of 4 at score 50; not repriced 0.012 MOR/s -> "
        "0.009999999999999998 MOR/s (16.7%): no session on this model in the last 1 day (measured over 1 day: the "
        "chain reading holds sessions back to the maximum session duration, 1 day, not 7), so no payback can be "
        "proven; declare utilizedSecondsPerDay to reprice anyway"
    ), warning
    # a first bid has nothing to pay back: it is posted at the target
    fresh = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(utilizedSecondsPerDay=""), 1))
    mid = fresh.models[0].model_id
    p = plan(fresh, observed(), market=MarketInputs(markets={mid: market(mid)}, own_stats={mid: stats(1, 1)}))
    firsts = [x for x in p.actions if x.kind is ActionKind.BID_POST and x.subject.model_id == mid]  # type: ignore[union-attr]
    assert len(firsts) == 1 and firsts[0].value.price_per_second == RANK_1  # type: ignore[union-attr]


def test_the_hosts_rating_weights_price_the_policy_and_the_plan_says_which() -> None:
    o = world_at()
    d = desired_from(BASE_YAML.replace('pricePerSecond: "0.01 MOR"', policy(), 1))
    # stake alone: A and C at the minimum stake score 0, B at 10x scores 1, and so do we at the minimum: 0
    only_stake = Weights(tps=0, ttft=0, duration=0, success=0, stake=1)
    a = post(plan(d, o, market=inputs(o, weights=only_stake, weights_source="weights from rating.json")))
    assert a is not None and a.value.price_per_second == 4 * 10**15, a.reason  # rank 1 out of reach: the floor
    assert "(weights from rating.json); rank 1 is out of reach at any price (quality 0.000)" in a.reason, a.reason
    a = post(plan(d, o, market=inputs(o)))
    assert a is not None and "weights" not in a.reason  # the default weights go without saying

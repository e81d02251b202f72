"""Stake moved by registrations (issue 27): one function gives the top-up to the planner and the executor, and
a provider's deregistration refunds what the contract refunds at the time it is mined."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.apply.executor import ChainMovedUnderApply, planned_stake
from reconciler.observe.model import ModelState, ProviderState
from reconciler.plan.model import ActionKind
from reconciler.plan.planner import plan
from reconciler.plan.stakes import provider_refund, stake_top_up
from tests.support.planfactory import MOR, NOW, PROVIDER, desired_from, empty_chain, observed

EARNED = 15 * MOR // 100


def _kept(**kw: object) -> ProviderState:
    """Deregistered after earning 0.15 MOR in a period that is still running: 0.15 MOR stayed as its stake."""
    base: dict[str, object] = dict(
        address=PROVIDER,
        endpoint="provider.example.com:3333",
        stake=EARNED,
        created_at=NOW - 100,
        limit_period_earned=EARNED,
        is_deleted=True,
        limit_period_end=NOW + 1000,
    )
    return ProviderState(**{**base, **kw})  # type: ignore[arg-type]


def test_the_stake_a_deregistered_provider_kept_counts() -> None:
    assert stake_top_up(_kept(), 2 * MOR // 10) == 5 * MOR // 100
    assert stake_top_up(_kept(stake=MOR), 2 * MOR // 10) == 0  # never negative
    assert stake_top_up(None, 2 * MOR // 10) == 2 * MOR // 10
    model = ModelState("0x" + "11" * 32, PROVIDER, "m", (), 0, 0, is_deleted=True)
    assert stake_top_up(model, MOR // 10) == MOR // 10


def test_re_registering_plans_the_top_up_and_the_approve_covers_only_it() -> None:
    p = plan(desired_from(), observed(empty_chain(provider=_kept())))
    register = next(a for a in p.pending if a.kind is ActionKind.PROVIDER_REGISTER)
    assert register.cost.stake == 5 * MOR // 100
    approve = next(a for a in p.pending if a.kind is ActionKind.MOR_APPROVE)
    assert approve.after == {"allowance": p.summary().mor_out, "spender": approve.after["spender"]}
    assert p.summary().mor_out == 5 * MOR // 100 + 2 * MOR // 10 + 2 * p.actions[-1].cost.fee


def test_a_provider_deregistration_refunds_what_the_contract_will() -> None:
    live = _kept(stake=2 * MOR // 10, is_deleted=False)
    assert provider_refund(live, NOW) == 5 * MOR // 100  # the period runs: what was earned in it stays
    assert provider_refund(replace(live, limit_period_end=NOW), NOW) == 2 * MOR // 10  # mined after it ended
    gone = desired_from(**{'  stake: "0.2 MOR"\n': '  stake: "0.2 MOR"\n  absent: true\n'})
    for end, refund in ((NOW + 1000, 5 * MOR // 100), (NOW - 1, 2 * MOR // 10)):
        p = plan(gone, observed(empty_chain(provider=replace(live, limit_period_end=end))))
        deregister = next(a for a in p.pending if a.kind is ActionKind.PROVIDER_DEREGISTER)
        assert deregister.cost.stake == -refund


def test_the_executor_refuses_a_stake_its_plan_did_not_show() -> None:
    register = next(
        a
        for a in plan(desired_from(), observed(empty_chain(provider=_kept()))).pending
        if a.kind is ActionKind.PROVIDER_REGISTER
    )
    assert planned_stake(register, 5 * MOR // 100) == 5 * MOR // 100
    with pytest.raises(ChainMovedUnderApply, match=r"the plan showed 0\.05 MOR"):
        planned_stake(register, 2 * MOR // 10)

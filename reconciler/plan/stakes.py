"""Stake moved by registrations, from the observed chain state: the one place the planner (what a plan shows and
budgets) and the executor (what it sends) take it from, so apply never moves MOR its plan did not show.

The contracts ADD the amount sent to the stake already held, and that stake outlives a deregistration: a model's
deregistration refunds all of it (stake 0 after), a provider's refunds the stake less what it earned in its current
limit period (`limitPeriodEarned`), which stays as its stake until the period ends.
"""

from __future__ import annotations

from reconciler.observe.model import ModelState, ProviderState


def stake_top_up(have: ProviderState | ModelState | None, declared: int) -> int:
    """What a register (or update) must send to reach the declared stake: the stake held on chain counts, a
    deregistered provider's or model's included; never negative (the contracts cannot lower a stake)."""
    held = have.stake if have is not None else 0
    return max(declared - held, 0)


def provider_refund(have: ProviderState, now: int) -> int:
    """What `providerDeregister` sends back when planned at block time `now`: the whole stake once the limit period
    has ended (the contract checks `block.timestamp > limitPeriodEnd`, and the block it is mined in is later than
    `now`), else the stake less what was earned in it."""
    return have.stake if now >= have.limit_period_end else have.stake - have.limit_period_earned

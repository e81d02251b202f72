"""Plan-wide checks: the MOR allowance (approve), balance, budget, gas funds, the empty-state guard and
stake sizing."""

from __future__ import annotations

from dataclasses import replace

from reconciler.market.pricing import expected_yearly_earnings
from reconciler.plan.context import Context, approve_command, mor
from reconciler.plan.model import CHAIN_KINDS, Action, ActionKind, Allowance, BidRef, ModelRef, ProviderRef, Status

CENT_MOR = 10**16  # 0.01 MOR


def approve(ctx: Context) -> None:
    chain = ctx.observed.chain
    need = sum(a.cost.mor_out for a in ctx.actions if a.pending and a.kind in CHAIN_KINDS)
    if need == 0:
        return
    errors = []
    if chain.payer_balance < need:
        errors.append(
            f"the provider wallet holds {mor(chain.payer_balance)}, this plan needs {mor(need)} (fees and stake)"
        )
    if chain.payer_allowance >= need:
        if errors:
            ctx.errors.extend(errors)
        return
    delegate = ctx.desired.delegate_mode
    spender = chain.diamond or ctx.desired.network.diamond or ""
    amount = allowance_to_ask(need, ctx.desired.policy.standing_allowance)
    reason = f"allowance {mor(chain.payer_allowance)} to the Diamond is below the {mor(need)} this plan spends"
    if amount > need:
        reason += f"; policy.allowance asks for a standing {mor(amount)}"
    if delegate:
        reason += (
            f"; the signer cannot approve for {ctx.desired.provider.address}: run `{approve_command(ctx.desired)}` "
            "with that wallet's key"
        )
        if ctx.desired.policy.standing_allowance is None:
            reason += (
                " (policy.allowance is `exact`: every later spend needs another approve, so a watcher stops at "
                "each one; a standing amount keeps it going)"
            )
    ctx.add(
        Action(
            id="mor.approve",
            kind=ActionKind.MOR_APPROVE,
            target=f"MOR allowance of {ctx.desired.provider.address} to the Diamond",
            reason=reason,
            subject=ProviderRef(ctx.desired.provider.address),
            value=Allowance(amount, spender),
            before=Allowance(chain.payer_allowance, spender).as_after(),
            status=Status.MANUAL if delegate else Status.PENDING,
            errors=tuple(errors),
        )
    )
    # approve is executed by the provider's wallet: its gas is not delegation-checked
    last = ctx.actions[-1]
    ctx.actions[-1] = replace(last, errors=tuple(e for e in last.errors if "delegation rights" not in e))


def allowance_to_ask(need: int, standing: int | None) -> int:
    """What an approve sets: exactly `need` under `exact` (standing None), else the standing amount (never less
    than `need`), so the spends that follow run without another manual step until it is used up."""
    return need if standing is None else max(need, standing)


def empty_guard(ctx: Context) -> None:
    if ctx.desired.policy.allow_empty:
        return
    chain = ctx.observed.chain
    owner = ctx.desired.provider.address.lower()
    live_models = {o.model_id for o in chain.models if not o.is_deleted and o.owner.lower() == owner}
    live_bids = {b.bid_id for b in chain.active_bids()}
    if not live_models and not live_bids:
        return
    deleted_models = {
        a.subject.model_id
        for a in ctx.actions
        if a.kind is ActionKind.MODEL_DEREGISTER and a.pending and isinstance(a.subject, ModelRef)
    }
    deleted_bids = {
        a.subject.bid_id
        for a in ctx.actions
        if a.kind is ActionKind.BID_DELETE and a.pending and isinstance(a.subject, BidRef)
    }
    posts = any(a.kind is ActionKind.BID_POST for a in ctx.actions)
    registers = any(a.kind is ActionKind.MODEL_REGISTER for a in ctx.actions)
    if live_models <= deleted_models and live_bids <= deleted_bids and not posts and not registers:
        ctx.errors.append(
            "this desired state would delete every model and bid of the provider; refused as the guard against an "
            "emptied or mis-merged file (set policy.allowEmpty: true if you mean it)"
        )


def stake_sizing(ctx: Context) -> None:
    total = 0
    for m in ctx.desired.models:
        if m.absent or m.bid is None or m.bid.cost_model is None:
            continue
        price = ctx.bid_price(m)
        if price is None:
            continue
        yearly = expected_yearly_earnings(m.bid.cost_model, price)
        total += yearly or 0
    stake = ctx.desired.provider.stake
    if total > stake:
        shown = -(-total // CENT_MOR) * CENT_MOR  # a projection: rounded up to 0.01 MOR, not 18 decimals
        ctx.warnings.append(
            f"projected yearly earnings ~{mor(shown)} exceed the provider stake {mor(stake)}: claims are capped by "
            f"stake per year, so raise provider.stake to {mor(shown)} to keep them"
        )


def gas_funds(ctx: Context) -> None:
    chain = ctx.observed.chain
    gas = sum(a.cost.gas_wei for a in ctx.actions if a.pending and a.status is Status.PENDING)
    if gas and chain.signer_eth_balance < gas:
        ctx.warnings.append(
            f"the signer {ctx.desired.signer.address} holds {chain.signer_eth_balance} wei of the native coin, "
            f"less than the ~{gas} wei this plan's gas is estimated to cost at the observed fee"
        )


def budget(ctx: Context) -> None:
    limit = ctx.desired.policy.max_spend_per_apply
    spend = sum(a.cost.mor_out for a in ctx.actions if a.pending)
    if limit is not None and spend > limit:
        ctx.errors.append(
            f"this plan spends {mor(spend)} (fees and stake), more than policy.maxSpendPerApply {mor(limit)}"
        )

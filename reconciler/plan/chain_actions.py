"""Chain actions: the provider, the models and the bids (creates, updates, deletes, unmanaged ones)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from reconciler.desired.model import ModelSpec
from reconciler.observe.model import BidState, ModelState, ProviderState
from reconciler.plan.context import Context, mor, utc
from reconciler.plan.model import (
    Action,
    ActionKind,
    BidRef,
    BidValues,
    Cost,
    ModelRef,
    ModelValues,
    ProviderRef,
    ProviderValues,
    Status,
    model_of,
)
from reconciler.plan.proxy_actions import RouterHold
from reconciler.plan.stakes import provider_refund, stake_top_up
from reconciler.plan.unserved import NO_MEMORY, unserved


def _stake_change(
    state: ProviderState | ModelState, want: int, refund: str, changes: list[str], errors: list[str]
) -> int:
    """The stake to add (wei, `stake_top_up`); a decrease is an error, since the contracts only add stake (`refund`
    says how to get it back)."""
    have = state.stake
    add = stake_top_up(state, want)
    if add > 0:
        changes.append(f"stake {mor(have)} -> {mor(want)} (+{mor(add)})")
        return add
    if want < have:
        errors.append(
            f"stake cannot decrease ({mor(have)} on chain, {mor(want)} declared): the contract only adds stake; "
            f"{refund}"
        )
        changes.append("stake decrease requested")
    return 0


def provider_actions(ctx: Context) -> list[str]:
    want = ctx.desired.provider
    have = ctx.observed.chain.provider
    market = ctx.observed.chain.market
    if want.absent:
        return []
    registered = have is not None and not have.is_deleted
    target = f"provider {want.address}"
    subject = ProviderRef(want.address)
    value = ProviderValues(want.address, want.endpoint, want.stake)
    if not registered:
        errors = []
        if want.stake < market.provider_min_stake:
            errors.append(f"stake {mor(want.stake)} is below the provider minimum {mor(market.provider_min_stake)}")
        a = ctx.add(
            Action(
                id="provider.register",
                kind=ActionKind.PROVIDER_REGISTER,
                target=target,
                reason="the provider is not registered" if have is None else "the provider was deregistered",
                subject=subject,
                value=value,
                before=None if have is None else {"endpoint": have.endpoint, "stake": have.stake, "deleted": True},
                cost=Cost(stake=stake_top_up(have, want.stake)),
                errors=tuple(errors),
            )
        )
        return [a.id]
    assert have is not None
    before = {"address": have.address, "endpoint": have.endpoint, "stake": have.stake}
    changes: list[str] = []
    errors = []
    if want.endpoint != have.endpoint:
        changes.append(f"endpoint {have.endpoint} -> {want.endpoint}")
    add = _stake_change(have, want.stake, "deregistering refunds it", changes, errors)
    if not changes:
        return []
    a = ctx.add(
        Action(
            id="provider.update",
            kind=ActionKind.PROVIDER_UPDATE,
            target=target,
            reason="; ".join(changes),
            subject=subject,
            value=value,
            before=before,
            cost=Cost(stake=add),
            errors=tuple(errors),
        )
    )
    return [a.id]


def provider_delete(ctx: Context) -> None:
    want = ctx.desired.provider
    have = ctx.observed.chain.provider
    if not want.absent or have is None or have.is_deleted:
        return
    deps = [a.id for a in ctx.actions if a.kind in (ActionKind.BID_DELETE, ActionKind.MODEL_DEREGISTER) and a.pending]
    ctx.add(
        Action(
            id="provider.deregister",
            kind=ActionKind.PROVIDER_DEREGISTER,
            target=f"provider {want.address}",
            reason="provider.absent is true",
            subject=ProviderRef(want.address),
            before={"address": have.address, "endpoint": have.endpoint, "stake": have.stake},
            cost=Cost(stake=-provider_refund(have, ctx.observed.now)),
            depends_on=tuple(deps),
        )
    )


def _model_target(m: ModelSpec) -> str:
    return f"model {m.name or m.model_id} ({m.model_id[:10]}…)"


def _model_values(m: ModelSpec) -> ModelValues:
    return ModelValues(m.model_id, m.base_model_id, m.name, m.ipfs_cid, m.fee, m.stake, tuple(m.tags))


def model_before(o: ModelState) -> dict[str, Any]:
    out: dict[str, Any] = {
        "modelId": o.model_id,
        "name": o.name,
        "ipfsCID": o.ipfs_cid,
        "fee": o.fee,
        "stake": o.stake,
        "tags": list(o.tags),
    }
    if o.is_deleted:
        out["deleted"] = True
    return out


def model_actions(ctx: Context, deps: list[str]) -> list[str]:
    ids = []
    market = ctx.observed.chain.market
    for m in ctx.desired.models:
        if not m.managed or m.absent:
            continue
        have = ctx.observed.chain.model(m.model_id)
        if have is not None and have.owner.lower() != ctx.desired.provider.address.lower():
            ctx.errors.append(f"{_model_target(m)} exists on chain but is owned by {have.owner}")
            continue
        errors = []
        if m.stake < market.model_min_stake:
            errors.append(f"stake {mor(m.stake)} is below the model minimum {mor(market.model_min_stake)}")
        if have is None or have.is_deleted:
            a = ctx.add(
                Action(
                    id=f"model.register:{m.model_id}",
                    kind=ActionKind.MODEL_REGISTER,
                    target=_model_target(m),
                    reason="not registered" if have is None else "deregistered on chain; registering revives it",
                    subject=ModelRef(m.model_id),
                    value=_model_values(m),
                    before=None if have is None else model_before(have),
                    cost=Cost(stake=stake_top_up(have, m.stake)),
                    errors=tuple(errors),
                    depends_on=tuple(deps),
                )
            )
            ids.append(a.id)
            continue
        changes = []
        for label, w, h in (
            ("name", m.name, have.name),
            ("tags", list(m.tags), list(have.tags)),
            ("fee", m.fee, have.fee),
            ("ipfsCID", m.ipfs_cid, have.ipfs_cid),
        ):
            if w != h:
                changes.append(f"{label} {h!r} -> {w!r}")
        add = _stake_change(
            have, m.stake, "mark the model absent to deregister it and get the stake back", changes, errors
        )
        if changes:
            a = ctx.add(
                Action(
                    id=f"model.update:{m.model_id}",
                    kind=ActionKind.MODEL_UPDATE,
                    target=_model_target(m),
                    reason="; ".join(changes),
                    subject=ModelRef(m.model_id),
                    value=_model_values(m),
                    before=model_before(have),
                    cost=Cost(stake=add),
                    errors=tuple(errors),
                    depends_on=tuple(deps),
                )
            )
            ids.append(a.id)
    return ids


def model_deletes(ctx: Context, bid_ids: dict[str, list[str]]) -> None:
    for m in ctx.desired.models:
        if not (m.managed and m.absent):
            continue
        have = ctx.observed.chain.model(m.model_id)
        if have is None or have.is_deleted:
            continue
        # drain first: deregister only once no buyer's session is live on any of its bids (deleted ones too)
        live = ctx.observed.chain.live_sessions(m.model_id)
        until = max((s.ends_at for s in live), default=None)
        ctx.add(
            Action(
                id=f"model.deregister:{m.model_id}",
                kind=ActionKind.MODEL_DEREGISTER,
                target=_model_target(m),
                reason=(
                    f"draining until {utc(until)}: {len(live)} live session(s) on its bids; deregistered after"
                    if until is not None
                    else "absent: true"
                ),
                subject=ModelRef(m.model_id),
                before=model_before(have),
                cost=Cost(stake=-have.stake),
                status=Status.DRAINING if until is not None else Status.PENDING,
                depends_on=tuple(bid_ids.get(m.model_id, [])),
                until=until,
            )
        )


def _bid_target(m: ModelSpec) -> str:
    return f"bid on {m.name or m.model_id} ({m.model_id[:10]}…)"


def bid_actions(ctx: Context, deps: list[str], router_blocked: dict[str, RouterHold]) -> dict[str, list[str]]:
    """Bid posts and deletes; returns model id -> ids of its bid deletions (removals wait for them)."""
    chain = ctx.observed.chain
    market = chain.market
    churn = ctx.desired.policy.churn
    by_id = {a.id: a for a in ctx.actions}
    deletes: dict[str, list[str]] = {}
    for m in ctx.desired.models:
        active = chain.active_bids(m.model_id)
        if m.absent or m.bid is None:
            for b in active:
                a = ctx.add(_bid_delete(m, b, "absent: true" if m.absent else "bid: none"))
                deletes.setdefault(m.model_id, []).append(a.id)
            continue
        policy = unserved(
            ctx.desired.policy, (ctx.serving or NO_MEMORY).of(m.model_id), ctx.observed.clock, market.bid_fee
        )
        if policy is not None and policy.withdraw is not None:  # policy.unserved: withdraw, past the grace
            for b in active:
                ctx.add(_bid_delete(m, b, policy.withdraw))
            active = []
        price = ctx.bid_price(m)
        errors: list[str] = []
        value = BidValues(ctx.desired.provider.address, m.model_id, price)
        verdict = ctx.verdicts.get(m.model_id)
        if verdict is not None and verdict.warning is not None:
            ctx.warnings.append(f"{_bid_target(m)}: {verdict.warning}")
        if verdict is not None and verdict.error is not None:
            errors.append(verdict.error)
        elif verdict is not None and price is None:
            continue  # no bid yet and none to post (the price command failed): nothing changes
        elif price is None:
            ref = m.bid.rate_cost_model.mor_usd if m.bid.rate_cost_model else "?"
            errors.append(f"the price cannot be computed: morUsd reference {ref} has no value here")
        else:
            if not market.min_price_per_second <= price <= market.max_price_per_second:
                errors.append(
                    f"price {price} wei/s is outside the on-chain bounds "
                    f"{market.min_price_per_second}..{market.max_price_per_second} wei/s"
                )
        if not m.managed:
            have_model = chain.model(m.model_id)
            if have_model is None or have_model.is_deleted:
                errors.append(f"model {m.model_id} is not an active model on chain")
        current = active[0] if active else None
        for extra in active[1:]:  # the contract keeps one active bid per pair; more means drift
            a = ctx.add(_bid_delete(m, extra, "a second active bid for the same model"))
            deletes.setdefault(m.model_id, []).append(a.id)
        if current is not None and price is not None and current.price_per_second == price:
            continue
        status = Status.PENDING
        until: int | None = None
        reason = "no active bid"
        before = None
        if current is not None:
            before = {
                "bidId": current.bid_id,
                "provider": current.provider,
                "modelId": current.model_id,
                "pricePerSecond": current.price_per_second,
                "nonce": current.nonce,
            }
            old = current.price_per_second
            shown = f"{mor(old)}/s -> ? (not computed)"  # the price error says why
            if price is not None:
                shown = f"{mor(old)}/s -> {mor(price)}/s ({mor(old * 3600)}/h -> {mor(price * 3600)}/h)"
            reason = (
                f"price {shown}: replaces bid {current.bid_id[:10]}… and pays the "
                f"{mor(market.bid_fee)} fee (kept by the marketplace)"
            )
            if price is not None and old > 0:
                change = Fraction(abs(price - old) * 100, old)
                next_ok = current.created_at + churn.min_repost_interval_seconds
                clock = ctx.observed.clock  # the wall clock: a quiet chain's last block may be minutes old
                prices = f"{mor(old)}/s -> {mor(price)}/s, {mor(old * 3600)}/h -> {mor(price * 3600)}/h"
                if change < churn.min_price_change_percent:
                    status = Status.HELD
                    reason = (
                        f"held by the churn guard: price change {float(change):.2f}% is below "
                        f"{float(churn.min_price_change_percent):g}% ({prices})"
                    )
                elif clock < next_ok:
                    status, until = Status.HELD, next_ok
                    reason = (
                        f"held by the churn guard: bid posted {max(clock - current.created_at, 0)}s ago, "
                        f"reposting allowed after {churn.min_repost_interval_seconds}s, at {utc(next_ok)} "
                        f"({prices})"
                    )
        if verdict is not None and verdict.reasoning:
            reason = f"{reason}; {m.bid.market.target_label() if m.bid.market else 'market'}: {verdict.reasoning}"
        hold = router_blocked.get(m.model_id)
        if hold and status is Status.PENDING and (current is None or not hold.new_bids_only):
            status, reason = Status.HELD, f"held: waiting for the router to load the model ({hold.reason})"
        if policy is not None and status is Status.PENDING:  # unserved, or not served again for long enough yet
            status, reason, until = Status.HELD, policy.hold, policy.until
        warnings: tuple[str, ...] = ()
        if current is None and (ctx.desired.proxy is None or ctx.desired.proxy.router is None):
            warnings = (
                "the proxy-router is not managed here (no proxy.router): make sure it serves this model before "
                "buyers open sessions on the bid",
            )
        # the provider's and the proxy files' actions, and this model's own registration
        model_deps = [d for d in deps if model_of(by_id[d].subject) in (None, m.model_id)]
        ctx.add(
            Action(
                id=f"bid.post:{m.model_id}",
                kind=ActionKind.BID_POST,
                target=_bid_target(m),
                reason=reason,
                subject=ModelRef(m.model_id),
                value=value,
                before=before,
                cost=Cost(fee=market.bid_fee),
                status=status,
                errors=tuple(errors),
                warnings=warnings,
                depends_on=tuple(model_deps),
                until=until,
            )
        )
    return deletes


def _bid_delete(m: ModelSpec, b: BidState, reason: str) -> Action:
    return Action(
        id=f"bid.delete:{b.bid_id}",
        kind=ActionKind.BID_DELETE,
        target=_bid_target(m),
        reason=f"{reason}; the fee paid is not refunded, open sessions stay open",
        subject=BidRef(b.bid_id, b.model_id),
        before={"bidId": b.bid_id, "modelId": b.model_id, "pricePerSecond": b.price_per_second, "nonce": b.nonce},
    )


def unmanaged(ctx: Context) -> None:
    chain = ctx.observed.chain
    declared = {m.model_id for m in ctx.desired.models}
    prune = ctx.desired.policy.prune
    owner = ctx.desired.provider.address.lower()
    deletes: dict[str, list[str]] = {}
    for b in chain.active_bids():
        if b.model_id in declared:
            continue
        status = Status.PENDING if prune else Status.UNMANAGED
        a = ctx.add(
            Action(
                id=f"bid.delete:{b.bid_id}",
                kind=ActionKind.BID_DELETE,
                target=f"bid on undeclared model {b.model_id[:10]}…",
                reason="undeclared; policy.prune is true"
                if prune
                else "undeclared; left alone (policy.prune is false)",
                subject=BidRef(b.bid_id, b.model_id),
                before={
                    "bidId": b.bid_id,
                    "modelId": b.model_id,
                    "pricePerSecond": b.price_per_second,
                    "nonce": b.nonce,
                },
                status=status,
            )
        )
        deletes.setdefault(b.model_id, []).append(a.id)
    for o in chain.models:
        if o.model_id in declared or o.is_deleted or o.owner.lower() != owner:
            continue
        ctx.add(
            Action(
                id=f"model.deregister:{o.model_id}",
                kind=ActionKind.MODEL_DEREGISTER,
                target=f"undeclared model {o.name} ({o.model_id[:10]}…)",
                reason="undeclared; policy.prune is true"
                if prune
                else "undeclared; left alone (policy.prune is false)",
                subject=ModelRef(o.model_id),
                before=model_before(o),
                cost=Cost(stake=-o.stake) if prune else Cost(),
                status=Status.PENDING if prune else Status.UNMANAGED,
                depends_on=tuple(deletes.get(o.model_id, [])),
            )
        )

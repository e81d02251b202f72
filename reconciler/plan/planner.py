"""The pure planner: `plan(desired, observed) -> Plan`. Deterministic, no I/O.

Order: approve -> provider -> models -> forwarder config (+reload) -> router config -> bids (post, delete)
-> forwarder config removals -> model deregistrations -> provider deregistration; reported entries
(held, draining, unmanaged, restart-required) follow.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from reconciler.desired.model import Desired, ModelSpec
from reconciler.gas import gas_for
from reconciler.modelsconfig import forwarder_entries, router_entries
from reconciler.observed import BidState, ModelsConfigState, ModelState, Observed, ProxyEntry
from reconciler.plan.model import (
    CHAIN_KINDS,
    Action,
    ActionKind,
    BlockRef,
    Cost,
    NetworkInfo,
    Plan,
    Status,
)
from reconciler.pricing import bid_price, expected_yearly_earnings
from reconciler.units import format_mor

RIGHTS = {
    ActionKind.PROVIDER_REGISTER: "provider",
    ActionKind.PROVIDER_UPDATE: "provider",
    ActionKind.PROVIDER_DEREGISTER: "provider",
    ActionKind.MODEL_REGISTER: "model",
    ActionKind.MODEL_UPDATE: "model",
    ActionKind.MODEL_DEREGISTER: "model",
    ActionKind.BID_POST: "marketplace",
    ActionKind.BID_DELETE: "marketplace",
}


@dataclass
class _Ctx:
    desired: Desired
    observed: Observed
    actions: list[Action] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, action: Action) -> Action:
        if action.kind in CHAIN_KINDS:
            gas = gas_for(action.kind)
            chain = self.observed.chain
            gas_wei = gas * chain.fee_per_gas + chain.l1_fee_by_kind.get(action.kind.value, 0)
            action = replace(action, cost=replace(action.cost, gas=gas, gas_wei=gas_wei))
            right = RIGHTS.get(action.kind)
            if right and chain.delegation is not None and not chain.delegation.get(right, False):
                action = replace(
                    action,
                    errors=(
                        *action.errors,
                        f"the signer {self.desired.signer.address} has no '{right}' delegation rights from "
                        f"{self.desired.provider.address} (delegate.xyz registry)",
                    ),
                )
        self.actions.append(action)
        return action


def _mor(wei: int) -> str:
    return format_mor(wei)


def plan(desired: Desired, observed: Observed) -> Plan:
    """Diff desired against observed. Pure: the same inputs always give the same plan."""
    ctx = _Ctx(desired, observed)
    provider_ids = _provider(ctx)
    model_ids = _models(ctx, provider_ids)
    fwd_ids = _forwarder_config(ctx)
    router_ids, router_blocked = _router_config(ctx)
    bid_ids = _bids(ctx, [*provider_ids, *model_ids, *fwd_ids, *router_ids], router_blocked)
    _forwarder_removals(ctx, bid_ids)
    _model_deletes(ctx, bid_ids)
    _provider_delete(ctx)
    _unmanaged(ctx)
    _approve(ctx)
    _empty_guard(ctx)
    _stake_sizing(ctx)
    _budget(ctx)
    _gas_funds(ctx)
    chain = observed.chain
    ordered = _order(ctx.actions)
    return Plan(
        network=NetworkInfo(
            name=chain.network_name or desired.network.preset or "custom",
            chain_id=chain.chain_id,
            diamond=chain.diamond or desired.network.diamond or "",
            mor=chain.mor or desired.network.mor or "",
            provider=desired.provider.address,
            signer=desired.signer.address,
        ),
        block=BlockRef(chain.block_number, chain.block_hash, chain.block_timestamp),
        actions=tuple(ordered),
        warnings=tuple(dict.fromkeys(ctx.warnings)),
        errors=tuple(ctx.errors),
        observed_fingerprint=observed_fingerprint(observed),
        proxy_observed=observed.proxy.reachable is not False,
        sources=desired.sources,
        rpc_round_trips=chain.rpc_round_trips,
        market=chain.market,
    )


_PHASE = {
    ActionKind.MOR_APPROVE: 0,
    ActionKind.PROVIDER_REGISTER: 1,
    ActionKind.PROVIDER_UPDATE: 1,
    ActionKind.MODEL_REGISTER: 2,
    ActionKind.MODEL_UPDATE: 2,
    ActionKind.PROXY_WRITE_CONFIG: 3,
    ActionKind.PROXY_RELOAD: 3,
    ActionKind.PROXY_RESTART_REQUIRED: 3,
    ActionKind.BID_POST: 4,
    ActionKind.BID_DELETE: 5,
    ActionKind.MODEL_DEREGISTER: 7,
    ActionKind.PROVIDER_DEREGISTER: 8,
}


def _order(actions: list[Action]) -> list[Action]:
    """Pending actions in execution order (stable within a phase), then everything reported."""

    def phase(a: Action) -> int:
        if a.id.startswith("proxy.remove"):
            return 6
        return _PHASE[a.kind]

    pending = sorted((a for a in actions if a.pending), key=phase)
    reported = sorted((a for a in actions if not a.pending), key=phase)
    return pending + reported


# --- provider -----------------------------------------------------------------------------------


def _provider(ctx: _Ctx) -> list[str]:
    want = ctx.desired.provider
    have = ctx.observed.chain.provider
    market = ctx.observed.chain.market
    if want.absent:
        return []
    registered = have is not None and not have.is_deleted
    target = f"provider {want.address}"
    after = {"address": want.address, "endpoint": want.endpoint, "stake": want.stake}
    if not registered:
        errors = []
        if want.stake < market.provider_min_stake:
            errors.append(f"stake {_mor(want.stake)} is below the provider minimum {_mor(market.provider_min_stake)}")
        a = ctx.add(
            Action(
                id="provider.register",
                kind=ActionKind.PROVIDER_REGISTER,
                target=target,
                reason="the provider is not registered" if have is None else "the provider was deregistered",
                before=None if have is None else {"endpoint": have.endpoint, "stake": have.stake, "deleted": True},
                after=after,
                cost=Cost(stake=max(want.stake - (have.stake if have else 0), 0)),
                errors=tuple(errors),
            )
        )
        return [a.id]
    assert have is not None
    before = {"address": have.address, "endpoint": have.endpoint, "stake": have.stake}
    changes = []
    errors = []
    add = 0
    if want.endpoint != have.endpoint:
        changes.append(f"endpoint {have.endpoint} -> {want.endpoint}")
    if want.stake > have.stake:
        add = want.stake - have.stake
        changes.append(f"stake {_mor(have.stake)} -> {_mor(want.stake)} (+{_mor(add)})")
    elif want.stake < have.stake:
        errors.append(
            f"stake cannot decrease ({_mor(have.stake)} on chain, {_mor(want.stake)} declared): the contract only "
            "adds stake; deregistering refunds it"
        )
        changes.append("stake decrease requested")
    if not changes:
        return []
    a = ctx.add(
        Action(
            id="provider.update",
            kind=ActionKind.PROVIDER_UPDATE,
            target=target,
            reason="; ".join(changes),
            before=before,
            after=after,
            cost=Cost(stake=add),
            errors=tuple(errors),
        )
    )
    return [a.id]


def _provider_delete(ctx: _Ctx) -> None:
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
            before={"address": have.address, "endpoint": have.endpoint, "stake": have.stake},
            after=None,
            cost=Cost(stake=-(have.stake - have.limit_period_earned)),
            depends_on=tuple(deps),
        )
    )


# --- models -------------------------------------------------------------------------------------


def _model_target(m: ModelSpec) -> str:
    return f"model {m.name or m.model_id} ({m.model_id[:10]}…)"


def _model_after(m: ModelSpec) -> dict[str, Any]:
    return {
        "modelId": m.model_id,
        "baseModelId": m.base_model_id,
        "name": m.name,
        "ipfsCID": m.ipfs_cid,
        "fee": m.fee,
        "stake": m.stake,
        "tags": list(m.tags),
    }


def _model_before(o: ModelState) -> dict[str, Any]:
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


def _utc(ts: int) -> str:
    """A unix time as readable UTC (pure: no clock is read)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _models(ctx: _Ctx, deps: list[str]) -> list[str]:
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
            errors.append(f"stake {_mor(m.stake)} is below the model minimum {_mor(market.model_min_stake)}")
        if have is None or have.is_deleted:
            a = ctx.add(
                Action(
                    id=f"model.register:{m.model_id}",
                    kind=ActionKind.MODEL_REGISTER,
                    target=_model_target(m),
                    reason="not registered" if have is None else "deregistered on chain; registering revives it",
                    before=None if have is None else _model_before(have),
                    after=_model_after(m),
                    cost=Cost(stake=max(m.stake - (have.stake if have else 0), 0)),
                    errors=tuple(errors),
                    depends_on=tuple(deps),
                )
            )
            ids.append(a.id)
            continue
        changes = []
        add = 0
        for label, w, h in (
            ("name", m.name, have.name),
            ("tags", list(m.tags), list(have.tags)),
            ("fee", m.fee, have.fee),
            ("ipfsCID", m.ipfs_cid, have.ipfs_cid),
        ):
            if w != h:
                changes.append(f"{label} {h!r} -> {w!r}")
        if m.stake > have.stake:
            add = m.stake - have.stake
            changes.append(f"stake {_mor(have.stake)} -> {_mor(m.stake)} (+{_mor(add)})")
        elif m.stake < have.stake:
            errors.append(
                f"stake cannot decrease ({_mor(have.stake)} on chain, {_mor(m.stake)} declared): the contract only "
                "adds stake; mark the model absent to deregister it and get the stake back"
            )
            changes.append("stake decrease requested")
        if changes:
            a = ctx.add(
                Action(
                    id=f"model.update:{m.model_id}",
                    kind=ActionKind.MODEL_UPDATE,
                    target=_model_target(m),
                    reason="; ".join(changes),
                    before=_model_before(have),
                    after=_model_after(m),
                    cost=Cost(stake=add),
                    errors=tuple(errors),
                    depends_on=tuple(deps),
                )
            )
            ids.append(a.id)
    return ids


def _model_deletes(ctx: _Ctx, bid_ids: dict[str, list[str]]) -> None:
    for m in ctx.desired.models:
        if not (m.managed and m.absent):
            continue
        have = ctx.observed.chain.model(m.model_id)
        if have is None or have.is_deleted:
            continue
        ctx.add(
            Action(
                id=f"model.deregister:{m.model_id}",
                kind=ActionKind.MODEL_DEREGISTER,
                target=_model_target(m),
                reason="absent: true",
                before=_model_before(have),
                after=None,
                cost=Cost(stake=-have.stake),
                depends_on=tuple(bid_ids.get(m.model_id, [])),
            )
        )


# --- bids ---------------------------------------------------------------------------------------


def _mor_usd(ctx: _Ctx, m: ModelSpec) -> Fraction | None:
    cm = m.bid.cost_model if m.bid else None
    if cm is None or isinstance(cm.mor_usd, Fraction):
        return None
    raw = ctx.observed.refs.values.get(str(cm.mor_usd))
    try:
        value = Fraction(raw.strip()) if raw else None
    except (ValueError, ZeroDivisionError):
        value = None
    return value if value and value > 0 else None


def _bid_target(m: ModelSpec) -> str:
    return f"bid on {m.name or m.model_id} ({m.model_id[:10]}…)"


def _bids(ctx: _Ctx, deps: list[str], router_blocked: dict[str, str]) -> dict[str, list[str]]:
    """Bid posts and deletes; returns model id -> ids of its bid deletions (removals wait for them)."""
    chain = ctx.observed.chain
    market = chain.market
    churn = ctx.desired.policy.churn
    deletes: dict[str, list[str]] = {}
    for m in ctx.desired.models:
        active = chain.active_bids(m.model_id)
        if m.absent or m.bid is None:
            for b in active:
                a = ctx.add(_bid_delete(m, b, "absent: true" if m.absent else "bid: none"))
                deletes.setdefault(m.model_id, []).append(a.id)
            continue
        price = bid_price(m.bid, _mor_usd(ctx, m))
        errors: list[str] = []
        after: dict[str, Any] = {"provider": ctx.desired.provider.address, "modelId": m.model_id}
        if price is None:
            ref = m.bid.cost_model.mor_usd if m.bid.cost_model else "?"
            errors.append(f"the price cannot be computed: morUsd reference {ref} has no value here")
        else:
            after["pricePerSecond"] = price
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
            reason = (
                f"price {old} -> {price} wei/s: replaces bid {current.bid_id[:10]}… and burns the "
                f"{_mor(market.bid_fee)} fee"
            )
            if price is not None and old > 0:
                change = Fraction(abs(price - old) * 100, old)
                next_ok = current.created_at + churn.min_repost_interval_seconds
                if change < churn.min_price_change_percent:
                    status = Status.HELD
                    reason = (
                        f"held by the churn guard: price change {float(change):.2f}% is below "
                        f"{float(churn.min_price_change_percent):g}% ({old} -> {price} wei/s)"
                    )
                elif ctx.observed.now < next_ok:
                    status, until = Status.HELD, next_ok
                    reason = (
                        f"held by the churn guard: bid posted {ctx.observed.now - current.created_at}s ago, "
                        f"reposting allowed after {churn.min_repost_interval_seconds}s, at {_utc(next_ok)} "
                        f"({old} -> {price} wei/s)"
                    )
        blocked = router_blocked.get(m.model_id)
        if blocked and status is Status.PENDING:
            status, reason = Status.HELD, f"held: waiting for the router to load the model ({blocked})"
        model_deps = [d for d in deps if d.endswith(m.model_id) or not d.startswith("model.")]
        ctx.add(
            Action(
                id=f"bid.post:{m.model_id}",
                kind=ActionKind.BID_POST,
                target=_bid_target(m),
                reason=reason,
                before=before,
                after=after,
                cost=Cost(fee=market.bid_fee),
                status=status,
                errors=tuple(errors),
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
        before={"bidId": b.bid_id, "modelId": b.model_id, "pricePerSecond": b.price_per_second, "nonce": b.nonce},
        after=None,
    )


# --- proxy --------------------------------------------------------------------------------------


def _entry_changes(want: ProxyEntry, have: ProxyEntry | None) -> list[str]:
    if have is None:
        return ["new entry"]
    changes = []
    w, h = want.comparable(), have.comparable()
    for k in sorted(set(w) | set(h)):
        if w.get(k) != h.get(k):
            changes.append(f"{k} {h.get(k)!r} -> {w.get(k)!r}")
    if want.api_key_fingerprint is not None and want.api_key_fingerprint != have.api_key_fingerprint:
        changes.append(f"apiKey fingerprint {have.api_key_fingerprint} -> {want.api_key_fingerprint}")
    return changes


def _live_sessions(ctx: _Ctx, model_id: str) -> tuple[int | None, int]:
    """(latest endsAt, count) of the live sessions on any bid of the model: sessions outlive bids."""
    live = [
        s
        for b in ctx.observed.chain.bids
        if b.model_id == model_id
        for s in b.live_sessions
        if s.ends_at > ctx.observed.now
    ]
    return max((s.ends_at for s in live), default=None), len(live)


def _config_diff(
    ctx: _Ctx, label: str, want: list[ProxyEntry], have: ModelsConfigState | None, path: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """(changed or new entries as plan data, one reason per entry)."""
    have_entries = have.entries if have is not None else ()
    changed: list[dict[str, Any]] = []
    reasons: list[str] = []
    for e in want:
        h = next((x for x in have_entries if x.model_id == e.model_id), None)
        if e.api_key_fingerprint is None:
            ctx.warnings.append(
                f"{label} {path}: the key for {e.model_name} ({e.model_id[:10]}…) cannot be resolved here; its "
                "fingerprint is unknown and is not compared (apply needs it)"
            )
        ch = _entry_changes(e, h)
        if ch:
            changed.append(e.as_plan_data())
            reasons.append(f"{e.model_name} ({e.model_id[:10]}…): " + ", ".join(ch))
    return changed, reasons


def _before_entries(have: ModelsConfigState | None, changed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = {c["modelId"] for c in changed}
    return [e.as_plan_data() for e in (have.entries if have else ()) if e.model_id in ids]


def _forwarder_config(ctx: _Ctx) -> list[str]:
    proxy = ctx.desired.proxy
    if proxy is None:
        return []
    ids: list[str] = []
    obs = ctx.observed.proxy
    fps = ctx.observed.refs.fingerprints
    want = forwarder_entries(ctx.desired, fps)
    path = proxy.models_config_path
    if obs.file is not None and obs.file.error:
        ctx.errors.append(f"forwarder models-config {path}: {obs.file.error}")
    changed, reasons = _config_diff(ctx, "forwarder models-config", want, obs.file, path)
    warnings: list[str] = []
    if not proxy.admin_url:
        warnings.append("no proxy.adminUrl: the forwarder reloads the file by itself, but the reload is unconfirmed")
    if changed:
        a = ctx.add(
            Action(
                id="proxy.write-config:forwarder",
                kind=ActionKind.PROXY_WRITE_CONFIG,
                target=f"forwarder models-config {path}",
                reason="; ".join(reasons),
                before={
                    "version": obs.file.version if obs.file else None,
                    "exists": bool(obs.file and obs.file.exists),
                },
                after={"entries": changed},
                warnings=tuple(warnings),
            )
        )
        ids.append(a.id)
    if proxy.admin_url:
        if obs.reachable is False:
            ctx.warnings.append(
                f"the forwarder admin API could not be reached from here ({obs.note or 'unreachable'}); "
                "planned from the chain and the file alone"
            )
        elif changed or (obs.served and obs.file and obs.served.version != obs.file.version):
            served_v = (obs.served.version or "?") if obs.served else "?"
            file_v = (obs.file.version or "?") if obs.file else "?"
            reason = (
                "load the new file"
                if changed
                else f"the forwarder serves version {served_v[:12]}…, the file is {file_v[:12]}…"
            )
            a = ctx.add(
                Action(
                    id="proxy.reload:forwarder",
                    kind=ActionKind.PROXY_RELOAD,
                    target=f"forwarder {proxy.admin_url}",
                    reason=reason,
                    before={"version": obs.served.version if obs.served else None},
                    after=None,
                    depends_on=tuple(ids),
                )
            )
            ids.append(a.id)
    return ids


def _forwarder_removals(ctx: _Ctx, bid_deletes: dict[str, list[str]]) -> None:
    proxy = ctx.desired.proxy
    if proxy is None:
        return
    _removals(
        ctx,
        "forwarder",
        proxy.models_config_path,
        forwarder_entries(ctx.desired, {}),
        ctx.observed.proxy.file,
        bid_deletes,
    )
    if proxy.router is not None:
        _removals(
            ctx,
            "router",
            proxy.router.models_config_path,
            router_entries(ctx.desired, {}),
            ctx.observed.router.file,
            bid_deletes,
        )


def _removals(
    ctx: _Ctx,
    who: str,
    path: str,
    want: list[ProxyEntry],
    have: ModelsConfigState | None,
    bid_deletes: dict[str, list[str]],
) -> None:
    declared = {e.model_id for e in want}
    all_declared = {m.model_id for m in ctx.desired.models}
    for e in have.entries if have else ():
        if e.model_id in declared:
            continue
        absent = e.model_id in all_declared
        if not absent and not ctx.desired.policy.prune:
            ctx.add(
                Action(
                    id=f"proxy.unmanaged:{who}:{e.model_id}",
                    kind=ActionKind.PROXY_WRITE_CONFIG,
                    target=f"{who} models-config entry {e.model_name} ({e.model_id[:10]}…)",
                    reason="not declared; kept as it is (policy.prune is false)",
                    before=e.as_plan_data(),
                    after=e.as_plan_data(),
                    status=Status.UNMANAGED,
                )
            )
            continue
        live_until, live_count = _live_sessions(ctx, e.model_id)
        pending_deletes = bid_deletes.get(e.model_id, [])
        still_active = [b for b in ctx.observed.chain.active_bids(e.model_id)]
        until: int | None = None
        if live_count:
            status, until = Status.DRAINING, live_until
            reason = f"draining until {_utc(live_until or 0)}: {live_count} live session(s) on its bids"
        elif len(still_active) > len(pending_deletes):
            status, reason = Status.DRAINING, "draining: its bid is still active"
        else:
            status = Status.PENDING
            reason = "absent: true" if absent else "undeclared and policy.prune is true"
            if pending_deletes:
                reason += "; removed after its bid is deleted"
        ctx.add(
            Action(
                id=f"proxy.remove:{who}:{e.model_id}",
                kind=ActionKind.PROXY_WRITE_CONFIG,
                target=f"{who} models-config {path}: remove {e.model_name} ({e.model_id[:10]}…)",
                reason=reason,
                before=e.as_plan_data(),
                after=None,
                status=status,
                until=until,
                depends_on=tuple(pending_deletes),
            )
        )


def _router_config(ctx: _Ctx) -> tuple[list[str], dict[str, str]]:
    """The router's own file; returns (ids, model id -> why its new bid must wait for the router)."""
    proxy = ctx.desired.proxy
    if proxy is None or proxy.router is None:
        return [], {}
    router = proxy.router
    obs = ctx.observed.router
    fps = ctx.observed.refs.fingerprints
    want = router_entries(ctx.desired, fps)
    changed, reasons = _config_diff(ctx, "router models-config", want, obs.file, router.models_config_path)
    ids: list[str] = []
    if changed:
        a = ctx.add(
            Action(
                id="proxy.write-config:router",
                kind=ActionKind.PROXY_WRITE_CONFIG,
                target=f"router models-config {router.models_config_path}",
                reason="; ".join(reasons),
                before={
                    "version": obs.file.version if obs.file else None,
                    "exists": bool(obs.file and obs.file.exists),
                },
                after={"entries": changed},
            )
        )
        ids.append(a.id)
    loaded = obs.loaded_model_ids
    if router.url is None:
        ctx.warnings.append("no proxy.router.url: cannot check which models the running router has loaded")
    if changed:
        if router.admin_url:
            a = ctx.add(
                Action(
                    id="proxy.reload:router",
                    kind=ActionKind.PROXY_RELOAD,
                    target=f"router {router.admin_url}",
                    reason="POST /config/models/reload (a 404 means this router needs a restart)",
                    depends_on=tuple(ids),
                )
            )
            ids.append(a.id)
        else:
            ctx.add(
                Action(
                    id="proxy.restart-required:router",
                    kind=ActionKind.PROXY_RESTART_REQUIRED,
                    target=f"router (reads {router.models_config_path} only at start)",
                    reason="restart the proxy-router to load the new models-config (it drops open sessions)",
                    status=Status.RESTART_REQUIRED,
                    depends_on=tuple(ids),
                )
            )
    blocked: dict[str, str] = {}
    if router.admin_url is None and loaded is not None:
        for e in want:
            if e.model_id not in loaded:
                blocked[e.model_id] = "not in its /healthcheck; restart it"
        if blocked and not changed:
            ctx.add(
                Action(
                    id="proxy.restart-required:router",
                    kind=ActionKind.PROXY_RESTART_REQUIRED,
                    target=f"router (reads {router.models_config_path} only at start)",
                    reason=f"the running router has not loaded {len(blocked)} model(s) of its file; restart it",
                    status=Status.RESTART_REQUIRED,
                )
            )
    return ids, blocked


# --- unmanaged, approve, guards ---------------------------------------------------------------------


def _unmanaged(ctx: _Ctx) -> None:
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
                before=_model_before(o),
                cost=Cost(stake=-o.stake) if prune else Cost(),
                status=Status.PENDING if prune else Status.UNMANAGED,
                depends_on=tuple(deletes.get(o.model_id, [])),
            )
        )


def _approve(ctx: _Ctx) -> None:
    chain = ctx.observed.chain
    need = sum(a.cost.mor_out for a in ctx.actions if a.pending and a.kind in CHAIN_KINDS)
    if need == 0:
        return
    errors = []
    if chain.payer_balance < need:
        errors.append(
            f"the provider wallet holds {_mor(chain.payer_balance)}, this plan needs {_mor(need)} (fees and stake)"
        )
    if chain.payer_allowance >= need:
        if errors:
            ctx.errors.extend(errors)
        return
    delegate = ctx.desired.delegate_mode
    reason = f"allowance {_mor(chain.payer_allowance)} to the Diamond is below the {_mor(need)} this plan spends"
    if delegate:
        reason += (
            f"; the signer cannot approve for {ctx.desired.provider.address}: run `reconcile approve` with that "
            "wallet's key"
        )
    ctx.add(
        Action(
            id="mor.approve",
            kind=ActionKind.MOR_APPROVE,
            target=f"MOR allowance of {ctx.desired.provider.address} to the Diamond",
            reason=reason,
            before={"allowance": chain.payer_allowance, "spender": chain.diamond or ctx.desired.network.diamond or ""},
            after={"allowance": need, "spender": chain.diamond or ctx.desired.network.diamond or ""},
            status=Status.MANUAL if delegate else Status.PENDING,
            errors=tuple(errors),
        )
    )
    # approve is executed by the provider's wallet: its gas is not delegation-checked
    last = ctx.actions[-1]
    ctx.actions[-1] = replace(last, errors=tuple(e for e in last.errors if "delegation rights" not in e))


def _empty_guard(ctx: _Ctx) -> None:
    if ctx.desired.policy.allow_empty:
        return
    chain = ctx.observed.chain
    owner = ctx.desired.provider.address.lower()
    live_models = {o.model_id for o in chain.models if not o.is_deleted and o.owner.lower() == owner}
    live_bids = {b.bid_id for b in chain.active_bids()}
    if not live_models and not live_bids:
        return
    deleted_models = {a.id.split(":", 1)[1] for a in ctx.actions if a.kind is ActionKind.MODEL_DEREGISTER and a.pending}
    deleted_bids = {a.id.split(":", 1)[1] for a in ctx.actions if a.kind is ActionKind.BID_DELETE and a.pending}
    posts = any(a.kind is ActionKind.BID_POST for a in ctx.actions)
    registers = any(a.kind is ActionKind.MODEL_REGISTER for a in ctx.actions)
    if live_models <= deleted_models and live_bids <= deleted_bids and not posts and not registers:
        ctx.errors.append(
            "this desired state would delete every model and bid of the provider; refused as the guard against an "
            "emptied or mis-merged file (set policy.allowEmpty: true if you mean it)"
        )


def _stake_sizing(ctx: _Ctx) -> None:
    total = 0
    for m in ctx.desired.models:
        if m.absent or m.bid is None or m.bid.cost_model is None:
            continue
        price = bid_price(m.bid, _mor_usd(ctx, m))
        if price is None:
            continue
        yearly = expected_yearly_earnings(m.bid.cost_model, price)
        total += yearly or 0
    stake = ctx.desired.provider.stake
    if total > stake:
        ctx.warnings.append(
            f"projected yearly earnings {_mor(total)} exceed the provider stake {_mor(stake)}: claims are capped by "
            f"stake per year, so raise provider.stake to {_mor(total)} to keep them"
        )


def _gas_funds(ctx: _Ctx) -> None:
    chain = ctx.observed.chain
    gas = sum(a.cost.gas_wei for a in ctx.actions if a.pending and a.status is Status.PENDING)
    if gas and chain.signer_eth_balance < gas:
        ctx.warnings.append(
            f"the signer {ctx.desired.signer.address} holds {chain.signer_eth_balance} wei of the native coin, "
            f"less than the ~{gas} wei this plan's gas is estimated to cost at the observed fee"
        )


def _budget(ctx: _Ctx) -> None:
    limit = ctx.desired.policy.max_spend_per_apply
    spend = sum(a.cost.mor_out for a in ctx.actions if a.pending)
    if limit is not None and spend > limit:
        ctx.errors.append(
            f"this plan spends {_mor(spend)} (fees and stake), more than policy.maxSpendPerApply {_mor(limit)}"
        )


# --- fingerprint of what was observed ---------------------------------------------------------------


def observed_fingerprint(observed: Observed) -> str:
    """sha256 of the observed resources (not the block): a saved plan is stale when this changes."""
    chain = observed.chain

    def entries(state: ModelsConfigState | None) -> Any:
        return None if state is None else [state.version, [e.as_plan_data() for e in state.entries]]

    data = {
        "chainId": chain.chain_id,
        "market": vars(chain.market),
        "provider": None if chain.provider is None else vars(chain.provider),
        "models": sorted((vars(m) for m in chain.models), key=lambda m: str(m["model_id"])),
        "bids": sorted(
            ({**vars(b), "live_sessions": [vars(s) for s in b.live_sessions]} for b in chain.bids),
            key=lambda b: str(b["bid_id"]),
        ),
        "allowance": chain.payer_allowance,
        "forwarder": entries(observed.proxy.file),
        "router": entries(observed.router.file),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=_jsonable).encode()).hexdigest()


def _jsonable(o: object) -> Any:
    if isinstance(o, tuple | frozenset | set):
        return list(o)
    return str(o)

"""What the world looks like after a plan's pending actions ran: a pure model of apply, for tests.

The property test of the planner (plan against the state a plan describes -> nothing pending) uses it,
and apply's tests can compare it with what the real chain shows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from reconciler.desired.modelsconfig import entry_from_json
from reconciler.market import ids
from reconciler.observe.model import BidState, ChainState, ModelsConfigState, ModelState, Observed, ProviderState
from reconciler.plan.model import (
    CHAIN_KINDS,
    ActionKind,
    Allowance,
    BidRef,
    BidValues,
    ModelRef,
    ModelValues,
    Plan,
    ProviderValues,
    ProxyEntries,
    ProxyEntryRef,
    ProxyFile,
    ProxyFileRef,
    proxy_of,
)


def simulate(observed: Observed, plan: Plan) -> Observed:
    chain = observed.chain
    now = observed.now
    provider = chain.provider
    models = {m.model_id: m for m in chain.models}
    bids = {b.bid_id: b for b in chain.bids}
    allowance, balance = chain.payer_allowance, chain.payer_balance
    fwd, router = observed.proxy.file, observed.router.file
    served = observed.proxy.served
    owner = plan.network.provider
    for a in plan.pending:
        v = a.value
        if a.kind in CHAIN_KINDS and a.kind is not ActionKind.MOR_APPROVE:
            allowance -= a.cost.mor_out
            balance -= a.cost.mor_out
            if a.cost.stake < 0:
                balance -= a.cost.stake
        match v:
            case Allowance():
                allowance = v.amount
            case ProviderValues():
                provider = ProviderState(address=owner, endpoint=v.endpoint, stake=v.stake, created_at=now)
            case ModelValues():
                models[v.model_id] = ModelState(
                    model_id=v.model_id,
                    owner=owner,
                    name=v.name or "",
                    tags=v.tags,
                    fee=v.fee,
                    stake=v.stake,
                    ipfs_cid=v.ipfs_cid,
                    created_at=now,
                )
            case BidValues(price_per_second=int(price)):
                nonce = 0
                for b in list(bids.values()):
                    if b.model_id == v.model_id:
                        nonce = max(nonce, b.nonce + 1)
                        if b.active:
                            bids[b.bid_id] = replace(b, deleted_at=now)
                bid = ids.bid_id(owner, v.model_id, nonce)
                bids[bid] = BidState(bid, owner, v.model_id, price, nonce, created_at=now)
            case ProxyEntries() if proxy_of(a.subject) is ProxyFile.FORWARDER:
                fwd = _merge(fwd, v.as_after()["entries"], "forwarder")
            case ProxyEntries() if proxy_of(a.subject) is ProxyFile.ROUTER:
                router = _merge(router, v.as_after()["entries"], "router")
        match a.kind, a.subject:
            case ActionKind.PROVIDER_DEREGISTER, _:
                assert provider is not None
                provider = replace(provider, is_deleted=True, stake=0)
            case ActionKind.MODEL_DEREGISTER, ModelRef(model_id=mid):
                models[mid] = replace(models[mid], is_deleted=True, stake=0)
            case ActionKind.BID_DELETE, BidRef(bid_id=bid):
                bids[bid] = replace(bids[bid], deleted_at=now)
            case ActionKind.PROXY_REMOVE, ProxyEntryRef(proxy=ProxyFile.FORWARDER, model_id=mid):
                fwd = _remove(fwd, mid)
            case ActionKind.PROXY_REMOVE, ProxyEntryRef(proxy=ProxyFile.ROUTER, model_id=mid):
                router = _remove(router, mid)
            case ActionKind.PROXY_RELOAD, ProxyFileRef(proxy=ProxyFile.FORWARDER):
                served = fwd
    if observed.proxy.admin_configured and observed.proxy.reachable:
        served = fwd
    new_chain: ChainState = replace(
        chain,
        provider=provider,
        models=tuple(models.values()),
        bids=tuple(bids.values()),
        payer_allowance=allowance,
        payer_balance=balance,
    )
    return replace(
        observed,
        chain=new_chain,
        proxy=replace(observed.proxy, file=fwd, served=served),
        router=replace(observed.router, file=router),
    )


def _version(entries: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()


def _merge(state: ModelsConfigState | None, new: list[dict[str, Any]], who: str) -> ModelsConfigState:
    current = {e.model_id: e.as_plan_data() for e in (state.entries if state else ())}
    for item in new:
        current[item["modelId"]] = {k: v for k, v in item.items() if v is not None}
    items = list(current.values())
    return ModelsConfigState(
        source=state.source if state else who,
        exists=True,
        version=_version(items),
        entries=tuple(entry_from_json(i) for i in items),
    )


def _remove(state: ModelsConfigState | None, model_id: str) -> ModelsConfigState | None:
    if state is None:
        return None
    items = [e.as_plan_data() for e in state.entries if e.model_id != model_id]
    items = [{k: v for k, v in i.items() if v is not None} for i in items]
    return replace(state, version=_version(items), entries=tuple(entry_from_json(i) for i in items))

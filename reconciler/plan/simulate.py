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
from reconciler.plan.model import CHAIN_KINDS, ActionKind, Plan


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
        after: dict[str, Any] = dict(a.after or {})
        if a.kind in CHAIN_KINDS and a.kind is not ActionKind.MOR_APPROVE:
            allowance -= a.cost.mor_out
            balance -= a.cost.mor_out
            if a.cost.stake < 0:
                balance -= a.cost.stake
        match a.kind:
            case ActionKind.MOR_APPROVE:
                allowance = int(after["allowance"])
            case ActionKind.PROVIDER_REGISTER | ActionKind.PROVIDER_UPDATE:
                provider = ProviderState(
                    address=owner, endpoint=after["endpoint"], stake=int(after["stake"]), created_at=now
                )
            case ActionKind.PROVIDER_DEREGISTER:
                assert provider is not None
                provider = replace(provider, is_deleted=True, stake=0)
            case ActionKind.MODEL_REGISTER | ActionKind.MODEL_UPDATE:
                models[after["modelId"]] = ModelState(
                    model_id=after["modelId"],
                    owner=owner,
                    name=after["name"],
                    tags=tuple(after["tags"]),
                    fee=int(after["fee"]),
                    stake=int(after["stake"]),
                    ipfs_cid=after["ipfsCID"],
                    created_at=now,
                )
            case ActionKind.MODEL_DEREGISTER:
                mid = a.id.split(":", 1)[1]
                models[mid] = replace(models[mid], is_deleted=True, stake=0)
            case ActionKind.BID_POST:
                mid = after["modelId"]
                nonce = 0
                for b in list(bids.values()):
                    if b.model_id == mid:
                        nonce = max(nonce, b.nonce + 1)
                        if b.active:
                            bids[b.bid_id] = replace(b, deleted_at=now)
                bid = ids.bid_id(owner, mid, nonce)
                bids[bid] = BidState(bid, owner, mid, int(after["pricePerSecond"]), nonce, created_at=now)
            case ActionKind.BID_DELETE:
                bid = a.id.split(":", 1)[1]
                bids[bid] = replace(bids[bid], deleted_at=now)
            case ActionKind.PROXY_WRITE_CONFIG:
                if a.id == "proxy.write-config:forwarder":
                    fwd = _merge(fwd, after["entries"], "forwarder")
                elif a.id == "proxy.write-config:router":
                    router = _merge(router, after["entries"], "router")
                elif a.id.startswith("proxy.remove:forwarder:"):
                    fwd = _remove(fwd, a.id.rsplit(":", 1)[1])
                elif a.id.startswith("proxy.remove:router:"):
                    router = _remove(router, a.id.rsplit(":", 1)[1])
            case ActionKind.PROXY_RELOAD:
                if a.id == "proxy.reload:forwarder":
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

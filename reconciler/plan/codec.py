"""The plan as versioned JSON (schemas/plan.schema.json): for machines, CI, and the saved plan file.

`plan_to_json` and `plan_from_json` round-trip, so `apply --plan FILE` gets the same Plan value back.
Integers of wei may exceed 2**53: parse them with a big-integer-aware JSON reader.
"""

from __future__ import annotations

from typing import Any

from reconciler.observe.model import MarketParams
from reconciler.plan.model import (
    FORMAT_VERSION,
    Action,
    ActionKind,
    ActionValue,
    Allowance,
    BidRef,
    BidValues,
    BlockRef,
    Cost,
    ModelRef,
    ModelValues,
    NetworkInfo,
    Plan,
    ProviderRef,
    ProviderValues,
    ProxyEntries,
    ProxyEntryRef,
    ProxyFile,
    ProxyFileRef,
    Status,
    Subject,
)


def plan_to_json(plan: Plan) -> dict[str, Any]:
    s = plan.summary()
    n = plan.network
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "network": {
            "name": n.name,
            "chainId": n.chain_id,
            "diamond": n.diamond,
            "mor": n.mor,
            "provider": n.provider,
            "signer": n.signer,
            "delegate": n.delegate,
        },
        "block": {"number": plan.block.number, "hash": plan.block.hash, "timestamp": plan.block.timestamp},
        "observedFingerprint": plan.observed_fingerprint,
        "proxyObserved": plan.proxy_observed,
        "rpcRoundTrips": plan.rpc_round_trips,
        "sources": list(plan.sources),
        "market": None if plan.market is None else _market(plan.market),
        "summary": {
            "create": s.create,
            "update": s.update,
            "delete": s.delete,
            "pending": len(plan.pending),
            "held": s.held,
            "draining": s.draining,
            "unmanaged": s.unmanaged,
            "manual": s.manual,
            "restartRequired": s.restart_required,
            "fees": s.fees,
            "stake": s.stake,
            "morOut": s.mor_out,
            "gas": s.gas,
            "gasWei": s.gas_wei,
        },
        "actions": [_action(a) for a in plan.actions],
        "warnings": list(plan.warnings),
        "errors": list(plan.errors),
    }
    if plan.proxy_note is not None:  # only then: a plan saved with the proxy read keeps its v1 form
        doc["proxyNote"] = plan.proxy_note
    return doc


def _market(m: MarketParams) -> dict[str, int]:
    return {
        "providerMinStake": m.provider_min_stake,
        "modelMinStake": m.model_min_stake,
        "bidFee": m.bid_fee,
        "minPricePerSecond": m.min_price_per_second,
        "maxPricePerSecond": m.max_price_per_second,
    }


def _action(a: Action) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind.shown,
        "target": a.target,
        "status": a.status.value,
        "verb": a.verb,
        "reason": a.reason,
        "subject": _subject(a.subject),
        "before": None if a.before is None else dict(a.before),
        "after": None if a.after is None else dict(a.after),
        "cost": {"fee": a.cost.fee, "stake": a.cost.stake, "gas": a.cost.gas, "gasWei": a.cost.gas_wei},
        "errors": list(a.errors),
        "warnings": list(a.warnings),
        "dependsOn": list(a.depends_on),
        "until": a.until,
    }


def _subject(s: Subject) -> dict[str, Any]:
    """The v1 form: one record with the four fields, those the reference does not have left null."""
    out: dict[str, Any] = {"provider": None, "modelId": None, "bidId": None, "proxy": None}
    match s:
        case ProviderRef(address=address):
            out["provider"] = address
        case ModelRef(model_id=mid):
            out["modelId"] = mid
        case BidRef(bid_id=bid, model_id=mid):
            out["bidId"], out["modelId"] = bid, mid
        case ProxyFileRef(proxy=f):
            out["proxy"] = f
        case ProxyEntryRef(proxy=f, model_id=mid):
            out["proxy"], out["modelId"] = f, mid
    return out


def _kind_from(a: dict[str, Any]) -> ActionKind:
    """The action's kind. An unmanaged entry is saved as proxy.write-config (`ActionKind.shown`), and before
    proxy.remove was a kind of its own, a removal was saved as proxy.write-config too."""
    kind = ActionKind(a["kind"])
    if kind is ActionKind.PROXY_WRITE_CONFIG and a["status"] == Status.UNMANAGED.value:
        return ActionKind.PROXY_UNMANAGED
    if kind is ActionKind.PROXY_WRITE_CONFIG and str(a["id"]).startswith("proxy.remove:"):
        return ActionKind.PROXY_REMOVE
    return kind


def _subject_from(a: dict[str, Any], provider: str) -> Subject:
    """The action's subject, from the fields its v1 record fills; a plan saved before subjects were written has
    it only in its id, read here."""
    s = a.get("subject") or {}
    proxy, model_id, bid_id = s.get("proxy"), s.get("modelId"), s.get("bidId")
    if proxy is not None:
        return ProxyFileRef(ProxyFile(proxy)) if model_id is None else ProxyEntryRef(ProxyFile(proxy), model_id)
    if bid_id is not None and model_id is not None:
        return BidRef(bid_id, model_id)
    if bid_id is None and model_id is not None:
        return ModelRef(model_id)
    if bid_id is None and s.get("provider") is not None:
        return ProviderRef(s["provider"])
    head, _, rest = str(a["id"]).partition(":")
    before = a.get("before") or {}
    match head.split("."):
        case ["provider" | "mor", _]:
            return ProviderRef(provider)
        case ["model", _] | ["bid", "post"] if rest:
            return ModelRef(rest)
        case ["bid", "delete"] if rest and before.get("modelId"):
            return BidRef(rest, str(before["modelId"]))
        case ["proxy", _]:
            who, _, entry = rest.partition(":")
            return ProxyEntryRef(ProxyFile(who), entry) if entry else ProxyFileRef(ProxyFile(who))
    raise ValueError(f"action {a['id']}: cannot tell what it acts on (no subject, and none in its id)")


def _value_from(kind: ActionKind, after: dict[str, Any] | None) -> ActionValue | None:
    """The typed value an action's saved `after` holds (the inverse of `as_after`)."""
    if after is None:
        return None
    match kind:
        case ActionKind.MOR_APPROVE:
            return Allowance(int(after["allowance"]), str(after["spender"]))
        case ActionKind.PROVIDER_REGISTER | ActionKind.PROVIDER_UPDATE:
            return ProviderValues(str(after["address"]), str(after["endpoint"]), int(after["stake"]))
        case ActionKind.MODEL_REGISTER | ActionKind.MODEL_UPDATE:
            return ModelValues(
                str(after["modelId"]),
                after["baseModelId"],
                after["name"],
                str(after["ipfsCID"]),
                int(after["fee"]),
                int(after["stake"]),
                tuple(after["tags"]),
            )
        case ActionKind.BID_POST:
            price = after.get("pricePerSecond")
            return BidValues(str(after["provider"]), str(after["modelId"]), None if price is None else int(price))
        case ActionKind.PROXY_WRITE_CONFIG if "entries" in after:
            return ProxyEntries(tuple(after["entries"]))
    return None


def plan_from_json(data: dict[str, Any]) -> Plan:
    """Read back a saved plan (raises ValueError for another format_version)."""
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported plan format_version {data.get('format_version')!r} (expected {FORMAT_VERSION})")
    n, b = data["network"], data["block"]
    return Plan(
        network=NetworkInfo(n["name"], n["chainId"], n["diamond"], n["mor"], n["provider"], n["signer"]),
        block=BlockRef(b["number"], b["hash"], b["timestamp"]),
        actions=tuple(
            Action(
                id=a["id"],
                kind=_kind_from(a),
                target=a["target"],
                reason=a["reason"],
                subject=_subject_from(a, n["provider"]),
                value=_value_from(_kind_from(a), a["after"]),
                before=a["before"],
                after=a["after"],
                cost=Cost(a["cost"]["fee"], a["cost"]["stake"], a["cost"]["gas"], a["cost"]["gasWei"]),
                status=Status(a["status"]),
                errors=tuple(a["errors"]),
                warnings=tuple(a["warnings"]),
                depends_on=tuple(a["dependsOn"]),
                until=a["until"],
            )
            for a in data["actions"]
        ),
        warnings=tuple(data["warnings"]),
        errors=tuple(data["errors"]),
        observed_fingerprint=data["observedFingerprint"],
        proxy_observed=data["proxyObserved"],
        proxy_note=data.get("proxyNote"),  # absent from plans saved before it
        sources=tuple(data["sources"]),
        rpc_round_trips=data["rpcRoundTrips"],
        market=None if data.get("market") is None else _market_from(data["market"]),
    )


def _market_from(m: dict[str, int]) -> MarketParams:
    return MarketParams(
        m["providerMinStake"], m["modelMinStake"], m["bidFee"], m["minPricePerSecond"], m["maxPricePerSecond"]
    )

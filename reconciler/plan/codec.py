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
    BlockRef,
    Cost,
    NetworkInfo,
    Plan,
    Status,
)


def plan_to_json(plan: Plan) -> dict[str, Any]:
    s = plan.summary()
    n = plan.network
    return {
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
        "kind": a.kind.value,
        "target": a.target,
        "status": a.status.value,
        "verb": a.verb,
        "reason": a.reason,
        "before": None if a.before is None else dict(a.before),
        "after": None if a.after is None else dict(a.after),
        "cost": {"fee": a.cost.fee, "stake": a.cost.stake, "gas": a.cost.gas, "gasWei": a.cost.gas_wei},
        "errors": list(a.errors),
        "warnings": list(a.warnings),
        "dependsOn": list(a.depends_on),
        "until": a.until,
    }


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
                kind=ActionKind(a["kind"]),
                target=a["target"],
                reason=a["reason"],
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
        sources=tuple(data["sources"]),
        rpc_round_trips=data["rpcRoundTrips"],
        market=None if data.get("market") is None else _market_from(data["market"]),
    )


def _market_from(m: dict[str, int]) -> MarketParams:
    return MarketParams(
        m["providerMinStake"], m["modelMinStake"], m["bidFee"], m["minPricePerSecond"], m["maxPricePerSecond"]
    )

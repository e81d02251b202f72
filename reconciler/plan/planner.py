"""The pure planner: `plan(desired, observed) -> Plan`. Deterministic, no I/O.

Order: approve -> provider -> models -> forwarder config (+reload) -> router config -> bids (post, delete)
-> forwarder config removals -> model deregistrations -> provider deregistration; reported entries
(held, draining, unmanaged, restart-required) follow.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reconciler.desired.model import Desired
from reconciler.market.policy import NO_MARKET, MarketInputs
from reconciler.observe.model import ModelsConfigState, Observed
from reconciler.plan.chain_actions import (
    bid_actions,
    model_actions,
    model_deletes,
    provider_actions,
    provider_delete,
    unmanaged,
)
from reconciler.plan.context import Context
from reconciler.plan.guards import approve, budget, empty_guard, gas_funds, stake_sizing
from reconciler.plan.market_prices import price_market_bids
from reconciler.plan.measured import with_measured_rates
from reconciler.plan.model import Action, ActionKind, BlockRef, NetworkInfo, Plan
from reconciler.plan.proxy_actions import forwarder_config, proxy_removals, router_config
from reconciler.plan.unserved import NO_MEMORY, Serving


def plan(desired: Desired, observed: Observed, serving: Serving = NO_MEMORY, market: MarketInputs = NO_MARKET) -> Plan:
    """Diff desired against observed. Pure: the same inputs always give the same plan. `serving`: the watcher's
    memory of since when each model is (not) served, for policy.unserved (none: nothing is withdrawn); `market`:
    the competing bids of the models priced by `bid.market`, our own excluded (reconciler.plan.market_prices)."""
    desired, rate_warnings = with_measured_rates(desired, observed)  # `tokensPerSecond: measured` bids
    ctx = Context(desired, observed, serving=serving, market=market)
    ctx.warnings.extend(observed.chain.notes)  # what others wrote on chain that was skipped or repaired
    ctx.warnings.extend(rate_warnings)
    ctx.warnings.extend(market.notes)
    price_market_bids(ctx)
    provider_ids = provider_actions(ctx)
    model_ids = model_actions(ctx, provider_ids)
    fwd_ids = forwarder_config(ctx)
    router_ids, router_blocked = router_config(ctx)
    bid_ids = bid_actions(ctx, [*provider_ids, *model_ids, *fwd_ids, *router_ids], router_blocked)
    proxy_removals(ctx, bid_ids)
    model_deletes(ctx, bid_ids)
    provider_delete(ctx)
    unmanaged(ctx)
    approve(ctx)
    empty_guard(ctx)
    stake_sizing(ctx)
    budget(ctx)
    gas_funds(ctx)
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
        proxy_note=observed.proxy.note if observed.proxy.reachable is False else None,
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
    ActionKind.PROXY_UNMANAGED: 3,
    ActionKind.BID_POST: 4,
    ActionKind.BID_DELETE: 5,
    ActionKind.PROXY_REMOVE: 6,
    ActionKind.MODEL_DEREGISTER: 7,
    ActionKind.PROVIDER_DEREGISTER: 8,
}


def _order(actions: list[Action]) -> list[Action]:
    """Pending actions in execution order (stable within a phase), then everything reported."""

    def phase(a: Action) -> int:
        return _PHASE[a.kind]

    pending = sorted((a for a in actions if a.pending), key=phase)
    reported = sorted((a for a in actions if not a.pending), key=phase)
    return pending + reported


# --- fingerprint of what was observed ---------------------------------------------------------------


def observed_fingerprint(observed: Observed) -> str:
    """sha256 of the observed resources (not the block, not the sessions themselves): a saved plan is stale
    when this changes."""
    chain = observed.chain

    def entries(state: ModelsConfigState | None) -> Any:
        return None if state is None else [state.version, [e.as_plan_data() for e in state.entries]]

    data = {
        "chainId": chain.chain_id,
        "market": vars(chain.market),
        "provider": None if chain.provider is None else vars(chain.provider),
        "models": sorted((vars(m) for m in chain.models), key=lambda m: str(m["model_id"])),
        # whether a bid carries live sessions, not which: on a busy provider sessions open all the time, and a
        # saved plan must go stale only when one appears where there was none (a removal would then cut it)
        "bids": sorted(
            ({**vars(b), "live_sessions": bool(b.live_sessions)} for b in chain.bids),
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

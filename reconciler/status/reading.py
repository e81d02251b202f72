"""What `reconcile status` reads, once: the desired state, the world (every session: what is claimable needs old
ended sessions too), the plan made from that same reading (drift), the forwarder's slots from its /metrics, and
each RPC endpoint's health.

Why through observe.world: status sees the chain, the forwarder and the router exactly as `plan` and `apply` do.
Read-only: nothing is sent, no lock is taken.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler import DEFAULT_STATE_DIR, ReconcileError
from reconciler.chain.networks import Network, resolve_network
from reconciler.chain.pool import pool_of
from reconciler.chain.reader import ChainReader
from reconciler.desired.loader import load_desired
from reconciler.desired.model import Desired
from reconciler.observe.destinations import trusted_hosts
from reconciler.observe.forwarder_admin import admin_token
from reconciler.observe.market import RatingConfig
from reconciler.observe.market_input import host_rating, observe_market
from reconciler.observe.model import ChainState, Observed, RouterState
from reconciler.observe.slots import SlotsReading, read_slots
from reconciler.observe.world import observe_many, observe_with
from reconciler.plan.model import Plan
from reconciler.plan.planner import plan


@dataclass(frozen=True)
class StatusReading:
    desired: Desired
    network: Network
    chain: ChainState
    plan: Plan
    slots: SlotsReading
    endpoints: list[dict[str, object]]  # each RPC endpoint's health, by label (chain/pool.py)
    # the router as observed: its /healthcheck asked once, for the drift and for its health
    router: RouterState = field(default_factory=RouterState)
    ref_values: Mapping[str, str | None] = field(default_factory=dict)  # morUsd references as read here (margins)
    rating: RatingConfig = field(default_factory=RatingConfig)  # the host's weights (--weights, RECONCILE_WEIGHTS)


def status_reading(
    path: Path, environ: Mapping[str, str] | None = None, state_dir: Path | None = None, write_index: bool = False
) -> StatusReading:
    """Load, observe (all sessions), plan and read slots (raises ValidationFailed, NetworkError, ...).

    The registry's model index is read from `state_dir` (None: the default ./.reconcile) if it is there, and
    written back only with `write_index` (a state dir the operator named): a look leaves no files behind."""
    env = os.environ if environ is None else environ
    desired, _warnings = load_desired(path, env)
    return reading_of(desired, env, state_dir, write_index)


def reading_of(
    desired: Desired,
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
    write_index: bool = False,
) -> StatusReading:
    """Observe (all sessions), plan and read slots for a loaded desired state (one provider, or a fleet's member);
    the model index as for `status_reading`."""
    env = os.environ if environ is None else environ
    network = resolve_network(desired.network, env)
    reader = ChainReader.connect(network, state_dir=state_dir or DEFAULT_STATE_DIR, write_index=write_index)
    observed = observe_with(reader, desired, env, all_sessions=True)
    return _reading(reader, desired, observed, env, endpoint_health(reader))


def fleet_readings(
    members: Sequence[tuple[str, Desired]],
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
    write_index: bool = False,
) -> dict[str, StatusReading | ReconcileError]:
    """Each fleet member's reading by name (its status table's row): the members of one network read together, as
    `plan` reads them (`observe_many`: the round trips do not grow with their number); a member whose network or
    forwarder cannot be read gets its error, the others are still read. No endpoint health (the table has none)."""
    from reconciler.pipeline import network_groups

    env = os.environ if environ is None else environ
    got: dict[str, StatusReading | ReconcileError] = {}
    unresolved, groups = network_groups(members, env)
    got.update(unresolved)
    for network, group in groups:
        try:
            reader = ChainReader.connect(network, state_dir=state_dir or DEFAULT_STATE_DIR, write_index=write_index)
            observed = observe_many(reader, [d for _, d in group], env, all_sessions=True)
        except ReconcileError as exc:  # this network: its members only
            got.update((name, exc) for name, _ in group)
            continue
        for (name, desired), seen in zip(group, observed, strict=True):
            try:
                got[name] = seen if isinstance(seen, ReconcileError) else _reading(reader, desired, seen, env, [])
            except ReconcileError as exc:
                got[name] = exc
    return {name: got[name] for name, _ in members}


def _reading(
    reader: ChainReader,
    desired: Desired,
    observed: Observed,
    env: Mapping[str, str],
    endpoints: list[dict[str, object]],
) -> StatusReading:
    """The rest of a reading once the chain is observed: the forwarder's slots, the market's input, the drift."""
    network = reader.network
    proxy = desired.proxy
    slots = read_slots(proxy.admin_url if proxy else None, admin_token(proxy, env), trusted=trusted_hosts(env))
    market = observe_market(reader, desired, observed, None, None, env)  # bid.market's drift (none: nothing read)
    drift = plan(desired, observed, market=market)
    return StatusReading(
        desired,
        network,
        observed.chain,
        drift,
        slots,
        endpoints,
        router=observed.router,
        ref_values=observed.refs.values,
        rating=host_rating(env),
    )


def endpoint_health(reader: ChainReader) -> list[dict[str, object]]:
    """Each RPC endpoint's state by its label (several: each one's head is looked at once more)."""
    pool = pool_of(reader.w3.provider)
    if pool is None:
        return []
    pool.refresh_heads(force=True)
    return [h.as_dict() for h in pool.health]

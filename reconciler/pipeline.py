"""The reconciler's core pipeline: load the desired state, observe the world, plan.

Every consumer of a plan goes through here: the `plan`, `apply`, `approve` and `status` commands, the watcher,
the demo, the benches and the tests; `plan_fleet` plans a fleet's providers together. The planner itself is pure (`plan.planner.plan`); this module is the
thin shell that feeds it what the chain and the proxies look like now.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from reconciler import DEFAULT_STATE_DIR, ReconcileError
from reconciler.chain.networks import Network, resolve_network
from reconciler.chain.reader import ChainReader
from reconciler.chain.rpc import RpcError, UndecodableAnswer
from reconciler.desired.loader import load_desired
from reconciler.desired.model import Desired
from reconciler.market.policy import NO_MARKET, MarketInputs
from reconciler.observe.market_input import market_models, observe_market
from reconciler.observe.model import Observed
from reconciler.observe.price_command import PriceAnswers, PriceCommand
from reconciler.observe.world import observe_many, observe_with
from reconciler.plan.fleet import FleetPlan, MemberPlan
from reconciler.plan.model import Plan
from reconciler.plan.planner import plan
from reconciler.plan.unserved import NO_MEMORY, Serving


def make_plan(
    path: Path, environ: Mapping[str, str] | None = None, state_dir: Path | None = DEFAULT_STATE_DIR
) -> tuple[Desired, Plan]:
    """Load, observe and plan (raises ValidationFailed, NetworkError, ChainCheckError, RpcError)."""
    desired, warnings = load_desired(path, environ)
    _, p = plan_for(desired, environ, tuple(str(w) for w in warnings), state_dir)
    return desired, p


def plan_for(
    desired: Desired,
    environ: Mapping[str, str] | None = None,
    load_warnings: tuple[str, ...] = (),
    state_dir: Path | None = DEFAULT_STATE_DIR,
    serving: Serving = NO_MEMORY,
    price_command: PriceCommand | PriceAnswers | None = None,
) -> tuple[Observed, Plan]:
    """Observe the world for an already loaded desired state and plan it (apply and watch reuse this).
    `state_dir` holds the chain reader's cache of the registry (None: keep nothing); `serving`, the watcher's
    memory of since when models are (not) served (policy.unserved); `price_command`, the operator's pricing
    strategy for `bid.market` bids (apply and watch only: `plan` never runs one), or one run's answers of it
    (`PriceAnswers`: the plans of one run ask it once)."""
    network = resolve_network(desired.network, environ)
    try:
        reader = ChainReader.connect(network, state_dir=state_dir)
        observed = observe_with(reader, desired, environ)
        market = _market(reader, desired, observed, state_dir, price_command, environ)
    except RpcError as exc:
        raise _hinted(exc, network) from None
    return observed, _plan_observed(desired, observed, load_warnings, serving, market)


def _market(
    reader: ChainReader,
    desired: Desired,
    observed: Observed,
    state_dir: Path | None,
    price_command: PriceCommand | PriceAnswers | None,
    environ: Mapping[str, str] | None,
) -> MarketInputs:
    """The market input of `plan()`: read only when a model has `bid.market`."""
    if not market_models(desired):
        return NO_MARKET
    env = os.environ if environ is None else environ
    return observe_market(reader, desired, observed, state_dir, price_command, env)


def plan_fleet(
    members: Sequence[tuple[str, Desired]],
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = DEFAULT_STATE_DIR,
    load_warnings: Mapping[str, tuple[str, ...]] | None = None,
) -> FleetPlan:
    """Plan every (name, desired) of a fleet, each against its own network. The providers of one network are
    read together (`observe_many`: the round trips do not grow with their number); a network that cannot be
    resolved or read fails its providers only, with the error each one's plan would have raised."""
    warnings = load_warnings or {}
    results: dict[str, MemberPlan] = {}
    unresolved, groups = network_groups(members, environ)
    for name, desired in members:
        if name in unresolved:
            label = _network_name(desired.network.preset, desired.network.chain_id)
            results[name] = MemberPlan(name, label, None, str(unresolved[name]))
    for network, group in groups:
        label = _network_name(network.name if network.name != "custom" else None, network.chain_id)
        reader = ChainReader.connect(network, state_dir=state_dir)
        observed = observe_many(reader, [d for _, d in group], environ)
        for (name, desired), got in zip(group, observed, strict=True):
            if isinstance(got, ReconcileError):
                error = _hinted(got, network) if isinstance(got, RpcError) else got
                results[name] = MemberPlan(name, label, None, str(error))
            else:
                try:
                    market = _market(reader, desired, got, state_dir, None, environ)
                except ReconcileError as exc:
                    results[name] = MemberPlan(name, label, None, str(exc))
                    continue
                results[name] = MemberPlan(
                    name, label, _plan_observed(desired, got, warnings.get(name, ()), market=market)
                )
    return FleetPlan(tuple(results[name] for name, _ in members))


def network_groups(
    members: Sequence[tuple[str, Desired]], environ: Mapping[str, str] | None = None
) -> tuple[dict[str, ReconcileError], list[tuple[Network, list[tuple[str, Desired]]]]]:
    """A fleet's (name, desired) by the network each is read from (the same chain, marketplace and endpoints: one
    reader, shared rounds), in their order; and why each member whose network cannot be resolved has none."""
    unresolved: dict[str, ReconcileError] = {}
    groups: dict[tuple[object, ...], tuple[Network, list[tuple[str, Desired]]]] = {}
    for name, desired in members:
        try:
            network = resolve_network(desired.network, environ)
        except ReconcileError as exc:
            unresolved[name] = exc
            continue
        key = (network.chain_id, network.diamond.lower(), tuple(network.endpoints()))
        groups.setdefault(key, (network, []))[1].append((name, desired))
    return unresolved, list(groups.values())


def _network_name(preset: str | None, chain_id: int | None) -> str:
    """How the fleet's report names a network: its preset, else its chain."""
    return preset or (f"chain {chain_id}" if chain_id is not None else "custom")


def _hinted(exc: RpcError, network: Network) -> RpcError:
    """The devnet's hint on a read that did not reach its node (an answer that does not decode: the devnet runs)."""
    transport = not isinstance(exc, UndecodableAnswer)
    hint = "; is the devnet running? (`reconcile devnet up`)" if network.name == "devnet" and transport else ""
    return RpcError(f"{exc}{hint}")


def _plan_observed(
    desired: Desired,
    observed: Observed,
    load_warnings: tuple[str, ...] = (),
    serving: Serving = NO_MEMORY,
    market: MarketInputs = NO_MARKET,
) -> Plan:
    p = plan(desired, observed, serving, market)
    extra = load_warnings + ((observed.router.note,) if observed.router.note else ())
    if extra:
        p = replace(p, warnings=extra + p.warnings)
    return p

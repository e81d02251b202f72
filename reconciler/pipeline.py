"""The reconciler's core pipeline: load the desired state, observe the world, plan.

Every consumer of a plan goes through here: the `plan`, `apply`, `approve` and `status` commands, the watcher,
the demo, the benches and the tests. The planner itself is pure (`plan.planner.plan`); this module is the
thin shell that feeds it what the chain and the proxies look like now.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from reconciler import DEFAULT_STATE_DIR
from reconciler.chain.networks import resolve_network
from reconciler.chain.reader import ChainReader
from reconciler.chain.rpc import RpcError, UndecodableAnswer
from reconciler.desired.loader import load_desired
from reconciler.desired.model import Desired
from reconciler.market.policy import NO_MARKET
from reconciler.observe.market_input import market_models, observe_market
from reconciler.observe.model import Observed
from reconciler.observe.price_command import PriceCommand
from reconciler.observe.world import observe_with
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
    price_command: PriceCommand | None = None,
) -> tuple[Observed, Plan]:
    """Observe the world for an already loaded desired state and plan it (apply and watch reuse this).
    `state_dir` holds the chain reader's cache of the registry (None: keep nothing); `serving`, the watcher's
    memory of since when models are (not) served (policy.unserved); `price_command`, the operator's pricing
    strategy for `bid.market` bids (apply and watch only: `plan` never runs one)."""
    network = resolve_network(desired.network, environ)
    try:
        reader = ChainReader.connect(network, state_dir=state_dir)
        observed = observe_with(reader, desired, environ)
        market = NO_MARKET
        if market_models(desired):
            env = os.environ if environ is None else environ
            market = observe_market(reader, desired, observed, state_dir, price_command, env)
    except RpcError as exc:
        transport = not isinstance(exc, UndecodableAnswer)  # an answer that does not decode: the devnet runs
        hint = "; is the devnet running? (`reconcile devnet up`)" if network.name == "devnet" and transport else ""
        raise RpcError(f"{exc}{hint}") from None
    p = plan(desired, observed, serving, market)
    extra = load_warnings + ((observed.router.note,) if observed.router.note else ())
    if extra:
        p = replace(p, warnings=extra + p.warnings)
    return observed, p

"""The reconciler's core pipeline: load the desired state, observe the world, plan.

Every consumer of a plan goes through here: the `plan`, `apply`, `approve` and `status` commands, the watcher,
the demo, the benches and the tests. The planner itself is pure (`plan.planner.plan`); this module is the
thin shell that feeds it what the chain and the proxies look like now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from reconciler import DEFAULT_STATE_DIR
from reconciler.chain.networks import resolve_network
from reconciler.chain.rpc import RpcError, UndecodableAnswer
from reconciler.desired.loader import load_desired
from reconciler.desired.model import Desired
from reconciler.observe.model import Observed
from reconciler.observe.world import observe
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
) -> tuple[Observed, Plan]:
    """Observe the world for an already loaded desired state and plan it (apply and watch reuse this).
    `state_dir` holds the chain reader's cache of the registry (None: keep nothing); `serving`, the watcher's
    memory of since when models are (not) served (policy.unserved)."""
    network = resolve_network(desired.network, environ)
    try:
        observed = observe(desired, network, environ, state_dir)
    except RpcError as exc:
        transport = not isinstance(exc, UndecodableAnswer)  # an answer that does not decode: the devnet runs
        hint = "; is the devnet running? (`reconcile devnet up`)" if network.name == "devnet" and transport else ""
        raise RpcError(f"{exc}{hint}") from None
    p = plan(desired, observed, serving)
    extra = load_warnings + ((observed.router.note,) if observed.router.note else ())
    if extra:
        p = replace(p, warnings=extra + p.warnings)
    return observed, p

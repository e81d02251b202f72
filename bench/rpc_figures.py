"""What the plan benches (bench/plan_rpc.py, bench/fleet_plan.py) share: the environment a plan through the hosted
endpoint simulator reads, and the figures of a first plan and of the next ones."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support.rpcsim import EndpointSimulator

# (round trips, HTTP requests, JSON-RPC calls, ms) of one plan through the simulator
Once = tuple[int, int, int, float]


def sim_env(devnet_dir: Path, sim: EndpointSimulator, cap: int) -> dict[str, str]:
    """The bench desired state's references: the devnet, a key, and one RPC URL per cap (so nothing the client
    learned about an endpoint's limits carries over from one cap to the next)."""
    return {
        "RECONCILE_DEVNET_DIR": str(devnet_dir),
        "BENCH_KEY": "k",
        "BENCH_RPC_URL": f"{sim.url}/cap-{cap}",
    }


@dataclass(frozen=True)
class Figures:
    trips: int  # logical round trips of the first plan
    http_first: int  # HTTP requests of the first plan (no saved model index)
    calls_first: int  # JSON-RPC calls of the first plan
    http_next: int  # ... of the last of the next plans
    calls_next: int
    ms: float  # the median wall time of the next plans


def first_and_next(plan_once: Callable[[], Once], runs: int) -> Figures:
    """One first plan, then `runs` more."""
    trips, http_first, calls_first, _ = plan_once()
    later = [plan_once() for _ in range(runs)]
    ms = statistics.median(r[3] for r in later)
    return Figures(trips, http_first, calls_first, later[-1][1], later[-1][2], ms)

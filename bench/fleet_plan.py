"""Benchmark: what one plan of a fleet costs an RPC endpoint and the clock, against the number of providers.

Starts a throwaway devnet, registers PROVIDERS providers with MODELS models and one bid each, then plans the
first 1, 5 and 20 of them as one fleet (`pipeline.plan_fleet`: the providers of one network are read together,
round by round) through the hosted endpoint simulator (tests/support/rpcsim.py), uncapped and capping batches at
each cap. Prints, per (cap, providers): logical round trips, HTTP requests and JSON-RPC calls the simulator
received for a first plan (no saved model index: every model id of the marketplace is read once) and for the
next ones, the median wall time of the next ones, and the HTTP requests the same providers cost planned one at
a time (`pipeline.plan_for` each). The round trips are meant to stay constant in the number of providers.

    PATH=$PWD/tools/node_modules/.bin:$PATH .venv/bin/python bench/fleet_plan.py \
        [--providers 20] [--models 10] [--sizes 1,5,20] [--caps 0,100] [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from eth_utils import keccak
from web3 import Web3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from plan_rpc import setup_provider, yaml_for  # noqa: E402
from rpc_figures import first_and_next, sim_env  # noqa: E402

from reconciler.chain.artifacts import load_artifact  # noqa: E402
from reconciler.desired.loader import load_desired  # noqa: E402
from reconciler.desired.model import Desired  # noqa: E402
from reconciler.devnet import local as devnet  # noqa: E402
from reconciler.devnet import unlocked  # noqa: E402
from reconciler.devnet.anvil import free_port  # noqa: E402
from reconciler.pipeline import plan_fleet, plan_for  # noqa: E402
from tests.support.rpcsim import EndpointSimulator, Limits  # noqa: E402

MOR = 10**18


def fresh_provider(w3: Web3, info: dict, k: int) -> str:
    """An address of its own for provider `k` (anvil sends from it, impersonated), with ETH and 20 MOR."""
    address = Web3.to_checksum_address(keccak(text=f"fleet-bench-{k}")[:20])
    w3.provider.make_request("anvil_impersonateAccount", [address])  # type: ignore[arg-type]
    w3.provider.make_request("anvil_setBalance", [address, hex(10**20)])  # type: ignore[arg-type]
    mor = w3.eth.contract(address=info["mor"], abi=load_artifact("MorToken").abi)
    unlocked.send(w3, mor.functions.transfer(address, 20 * MOR), info["accounts"][0]["address"])
    return address


def plan_once(
    members: list[tuple[str, Desired]], env: dict[str, str], cache: Path, sim: EndpointSimulator
) -> tuple[int, int, int, float]:
    """(round trips, HTTP requests, calls, ms) of one fleet plan through the simulator."""
    sim.reset_counts()
    t0 = time.perf_counter()
    fleet = plan_fleet(members, env, cache)
    ms = (time.perf_counter() - t0) * 1000
    counts = sim.reset_counts()
    assert not fleet.failed, [m.error for m in fleet.failed]
    for m in fleet.planned:
        assert m.plan is not None
        chain = [a for a in m.plan.pending if not a.kind.value.startswith("proxy.")]
        assert not chain, f"{m.name}: the bench world should already match on chain"
    trips = max(m.plan.rpc_round_trips for m in fleet.planned if m.plan is not None)
    return trips, counts.http_requests, counts.calls, ms


def one_at_a_time(members: list[tuple[str, Desired]], env: dict[str, str], cache: Path, sim: EndpointSimulator) -> int:
    """HTTP requests of the same providers planned one by one."""
    sim.reset_counts()
    for _, desired in members:
        plan_for(desired, env, state_dir=cache)
    return sim.reset_counts().http_requests


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--providers", type=int, default=20)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--sizes", default="1,5,20")
    ap.add_argument("--caps", default="0,100", help="batch caps; 0: none")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    caps = [int(c) for c in args.caps.split(",")]
    assert max(sizes) <= args.providers
    print(
        f"{'batch cap':>9} {'providers':>9} {'round trips':>11} {'HTTP first':>10} {'calls first':>11} "
        f"{'HTTP next':>9} {'calls next':>10} {'median ms':>9} {'HTTP one by one':>15}"
    )
    with tempfile.TemporaryDirectory() as d:
        path = Path(d)
        try:
            info, _ = devnet.up(path / "devnet", port=free_port())
            w3 = Web3(Web3.HTTPProvider(info["rpcUrl"]))
            accounts = [fresh_provider(w3, info, k) for k in range(args.providers)]
            t0 = time.perf_counter()
            for provider in accounts:
                setup_provider(w3, info, provider, args.models)
            print(
                f"# {args.providers} providers x {args.models} models and bids registered in "
                f"{time.perf_counter() - t0:.0f} s",
                flush=True,
            )
            members = []
            for k, provider in enumerate(accounts):
                state = path / f"p{k}.yaml"
                state.write_text(yaml_for(provider, args.models, path / f"fwd-{k}.json"))
                members.append((f"host-{k}", load_desired(state)[0]))
            for cap in caps:
                limits = Limits(max_batch=cap or None)
                with EndpointSimulator(info["rpcUrl"], limits) as sim:
                    env = sim_env(path / "devnet", sim, cap)
                    for n in sizes:
                        cache = path / f"cache-{cap}-{n}"
                        f = first_and_next(lambda: plan_once(members[:n], env, cache, sim), args.runs)  # noqa: B023
                        alone = one_at_a_time(members[:n], env, cache, sim)
                        print(
                            f"{cap or '-':>9} {n:>9} {f.trips:>11} {f.http_first:>10} {f.calls_first:>11} "
                            f"{f.http_next:>9} {f.calls_next:>10} {f.ms:>9.1f} {alone:>15}",
                            flush=True,
                        )
        finally:
            devnet.down(path / "devnet")
    return 0


if __name__ == "__main__":
    sys.exit(main())

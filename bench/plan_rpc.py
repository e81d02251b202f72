"""Benchmark: what one `reconcile plan` costs an RPC endpoint, against models, chain height and batch cap.

For each height, starts a throwaway devnet standing at that block (anvil's genesis number), registers N models
with one bid each for a fresh provider per size, then plans a desired state declaring them through the hosted
endpoint simulator (tests/support/rpcsim.py) capping batches at each cap and eth_getLogs at 2,000 blocks. Prints, per
(height, cap, models): logical round trips, HTTP requests and JSON-RPC calls the simulator received, for a
first plan (no saved model index: every model id in the marketplace is read once) and for the next ones, and
the median wall time of the next ones. The cost is meant to grow with models and to shrink with the batch cap,
never to grow with the height.

    .venv/bin/python bench/plan_rpc.py [--sizes 1,10,100] [--heights 0,1000000,33554432] [--caps 10,100,1000]
                                       [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from web3 import Web3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rpc_figures import first_and_next, sim_env  # noqa: E402

from reconciler.chain.artifacts import load_artifact  # noqa: E402
from reconciler.devnet import local as devnet  # noqa: E402
from reconciler.devnet import unlocked  # noqa: E402
from reconciler.devnet.anvil import free_port  # noqa: E402
from reconciler.market import ids  # noqa: E402
from reconciler.pipeline import make_plan  # noqa: E402
from tests.support.rpcsim import EndpointSimulator, Limits  # noqa: E402

MOR = 10**18
LOG_RANGE = 2_000


def yaml_for(provider: str, n: int, fwd: Path) -> str:
    models = "".join(
        f'  - name: bench-{i}\n    upstream: u\n    upstreamModel: m{i}\n    stake: "0.1 MOR"\n'
        f'    bid:\n      pricePerSecond: "0.006 MOR"\n'
        for i in range(n)
    )
    return (
        f'network:\n  preset: devnet\n  rpcUrl: env:BENCH_RPC_URL\nsigner:\n  address: "{provider}"\n'
        f'  privateKey: env:K\nprovider:\n  address: "{provider}"\n  endpoint: 127.0.0.1:3333\n  stake: "0.2 MOR"\n'
        "upstreams:\n  u:\n    baseUrl: http://127.0.0.1:9/v1\n    apiKey: env:BENCH_KEY\n    resaleAllowed: true\n"
        f'models:\n{models}proxy:\n  modelsConfigPath: {fwd}\npolicy:\n  maxSpendPerApply: "1000 MOR"\n'
    )


def setup_provider(w3: Web3, info: dict, provider: str, n: int) -> None:
    market = w3.eth.contract(address=info["diamond"], abi=load_artifact("Marketplace").abi)
    mor = w3.eth.contract(address=info["mor"], abi=load_artifact("MorToken").abi)

    def send(fn: object) -> None:
        unlocked.send(w3, fn, provider)

    send(mor.functions.approve(info["diamond"], 1000 * MOR))
    send(market.functions.providerRegister(provider, 2 * MOR // 10, "127.0.0.1:3333"))
    for i in range(n):
        base = ids.base_model_id_for_name(f"bench-{i}")
        send(
            market.functions.modelRegister(
                provider, bytes.fromhex(base[2:]), b"\0" * 32, 0, MOR // 10, f"bench-{i}", ["llm"]
            )
        )
        mid = bytes.fromhex(ids.model_id(provider, base)[2:])
        send(market.functions.postModelBid(provider, mid, 6 * 10**15))


def plan_once(state: Path, env: dict[str, str], cache: Path, sim: EndpointSimulator) -> tuple[int, int, int, float]:
    """(round trips, HTTP requests, calls, ms) of one plan through the simulator."""
    sim.reset_counts()
    t0 = time.perf_counter()
    _, p = make_plan(state, env, cache)
    ms = (time.perf_counter() - t0) * 1000
    counts = sim.reset_counts()
    chain = [a for a in p.pending if not a.kind.value.startswith("proxy.")]
    assert not chain, "the bench world should already match on chain"
    return p.rpc_round_trips, counts.http_requests, counts.calls, ms


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,10,100")
    ap.add_argument("--heights", default="0,1000000,33554432")
    ap.add_argument("--caps", default="10,100,1000")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    heights = [int(h) for h in args.heights.split(",")]
    caps = [int(c) for c in args.caps.split(",")]
    print(
        f"{'height':>10} {'batch cap':>9} {'models+bids':>11} {'round trips':>11} "
        f"{'HTTP first':>10} {'calls first':>11} {'HTTP next':>9} {'calls next':>10} {'median ms':>9}"
    )
    for height in heights:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d)
            try:
                info, _ = devnet.up(path / "devnet", port=free_port(), start_block=height)
                w3 = Web3(Web3.HTTPProvider(info["rpcUrl"]))
                for k, n in enumerate(sizes):
                    setup_provider(w3, info, info["accounts"][2 + k]["address"], n)
                for cap in caps:
                    with EndpointSimulator(info["rpcUrl"], Limits(max_batch=cap, max_log_range=LOG_RANGE)) as sim:
                        env = sim_env(path / "devnet", sim, cap)
                        for k, n in enumerate(sizes):
                            state = path / f"{n}.yaml"
                            state.write_text(yaml_for(info["accounts"][2 + k]["address"], n, path / f"fwd-{n}.json"))
                            cache = path / f"cache-{cap}-{n}"
                            f = first_and_next(lambda: plan_once(state, env, cache, sim), args.runs)  # noqa: B023
                            print(
                                f"{height:>10} {cap:>9} {n:>11} {f.trips:>11} {f.http_first:>10} {f.calls_first:>11} "
                                f"{f.http_next:>9} {f.calls_next:>10} {f.ms:>9.1f}",
                                flush=True,
                            )
            finally:
                devnet.down(path / "devnet")
    return 0


if __name__ == "__main__":
    sys.exit(main())

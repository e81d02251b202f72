"""Benchmark: how long `reconcile plan` takes, and how many RPC round trips it makes, as models grow.

Starts a throwaway devnet, registers N models with one bid each for a fresh provider, then plans a desired
state declaring them (observe + plan, no output). Prints round trips and wall time per size.

    .venv/bin/python bench/plan_rpc.py [--sizes 1,10,100] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.chain.artifacts import load_artifact
from reconciler.devnet import local as devnet
from reconciler.devnet import unlocked
from reconciler.devnet.anvil import free_port
from reconciler.market import ids
from reconciler.pipeline import make_plan

MOR = 10**18


def yaml_for(provider: str, n: int, fwd: Path) -> str:
    models = "".join(
        f'  - name: bench-{i}\n    upstream: u\n    upstreamModel: m{i}\n    stake: "0.1 MOR"\n'
        f'    bid:\n      pricePerSecond: "0.006 MOR"\n'
        for i in range(n)
    )
    return (
        f'network:\n  preset: devnet\nsigner:\n  address: "{provider}"\n  privateKey: env:K\n'
        f'provider:\n  address: "{provider}"\n  endpoint: 127.0.0.1:3333\n  stake: "0.2 MOR"\n'
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,10,100")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d)
        try:
            info, _ = devnet.up(path, port=free_port())
            w3 = Web3(Web3.HTTPProvider(info["rpcUrl"]))
            env = {"RECONCILE_DEVNET_DIR": str(path), "BENCH_KEY": "k"}
            print(f"{'models+bids':>12} {'round trips':>12} {'median ms':>10} {'min ms':>8}")
            for k, n in enumerate(sizes):
                provider = info["accounts"][2 + k]["address"]
                setup_provider(w3, info, provider, n)
                state = path / f"{n}.yaml"
                state.write_text(yaml_for(provider, n, path / f"fwd-{n}.json"))
                times, trips = [], 0
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    _, p = make_plan(state, env)
                    times.append((time.perf_counter() - t0) * 1000)
                    trips = p.rpc_round_trips
                    chain = [a for a in p.pending if not a.kind.value.startswith("proxy.")]
                    assert not chain, "the bench world should already match on chain"
                print(f"{n:>12} {trips:>12} {statistics.median(times):>10.1f} {min(times):>8.1f}")
        finally:
            devnet.down(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

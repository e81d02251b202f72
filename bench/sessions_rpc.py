"""Benchmark: `reconcile plan` round trips and time as the provider's live sessions grow.

Starts a throwaway devnet, gives one provider a model and a bid, has a buyer open N five-minute sessions on
it (every few sessions the bid is reposted, so some sessions sit on deleted bids), then plans. Prints round
trips and wall time per size; more than 200 sessions in the window (SESSION_PAGE) costs one more round.

    .venv/bin/python bench/sessions_rpc.py [--sizes 1,50,250] [--runs 5]
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

from bench.plan_rpc import setup_provider, yaml_for
from reconciler.chain.artifacts import load_artifact
from reconciler.desired.loader import load_desired
from reconciler.devnet import buyer as sessions_devnet
from reconciler.devnet import local as devnet
from reconciler.devnet import unlocked
from reconciler.devnet.anvil import free_port
from reconciler.market import ids
from reconciler.pipeline import plan_for

MOR = 10**18


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,50,250")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d)
        try:
            info, _ = devnet.up(path, port=free_port())
            w3 = Web3(Web3.HTTPProvider(info["rpcUrl"]))
            market = w3.eth.contract(address=info["diamond"], abi=load_artifact("Marketplace").abi)
            mor = w3.eth.contract(address=info["mor"], abi=load_artifact("MorToken").abi)
            buyer = info["accounts"][9]["address"]
            unlocked.send(w3, mor.functions.mint(buyer, 10**7 * MOR), info["owner"])
            env = {"RECONCILE_DEVNET_DIR": str(path), "BENCH_KEY": "k"}
            print(f"{'sessions':>9} {'on deleted bids':>16} {'round trips':>12} {'median ms':>10} {'min ms':>8}")
            for k, n in enumerate(sizes):
                acct = info["accounts"][2 + k]
                provider = acct["address"]
                setup_provider(w3, info, provider, 1)
                mid = bytes.fromhex(ids.model_id(provider, ids.base_model_id_for_name("bench-0"))[2:])
                deleted = 0
                for i in range(n):
                    bid = market.functions.getProviderActiveBids(provider, 0, 1).call()[0][0]
                    stake = sessions_devnet.stake_for_duration(w3, info["diamond"], bid, 300)
                    stamp = sessions_devnet.latest_timestamp(w3) + i  # distinct approvals
                    sessions_devnet.open_session(
                        w3, info["diamond"], buyer, acct["privateKey"], bid, stake, approval_timestamp=stamp
                    )
                    if i % 10 == 9:  # a repost: the sessions so far stay on the deleted bid
                        fn = market.functions.postModelBid(provider, mid, 6 * 10**15)
                        unlocked.send(w3, fn, provider)
                        deleted += 1
                state = path / f"s{n}.yaml"
                state.write_text(yaml_for(provider, 1, path / f"fwd-s{n}.json"))
                desired = load_desired(state)[0]
                times, trips, live = [], 0, 0
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    observed, p = plan_for(desired, env)
                    times.append((time.perf_counter() - t0) * 1000)
                    trips, live = p.rpc_round_trips, len(observed.chain.live_sessions())
                assert live == n, (live, n)
                print(f"{n:>9} {deleted:>16} {trips:>12} {statistics.median(times):>10.1f} {min(times):>8.1f}")
        finally:
            devnet.down(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

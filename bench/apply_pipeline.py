"""Benchmark: `reconcile apply` pipelines independent writes; compare with sending each and waiting for it.

On anvil mining a block every second (like a real chain, unlike automine), it applies a desired state of N
models with one bid each from nothing (approve, provider, N models, N bids), then does the same writes for a
second provider one transaction at a time, waiting for each receipt. Prints transactions, blocks spanned and
wall time for both.

    .venv/bin/python bench/apply_pipeline.py [--models 50] [--block-time 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from eth_account import Account
from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.apply.run import ApplyOptions, apply_desired
from reconciler.chain.calls import ChainCalls
from reconciler.chain.journal import Journal
from reconciler.chain.sender import TxSender
from reconciler.desired.loader import load_desired
from reconciler.devnet.anvil import Anvil
from reconciler.devnet.local import deploy_contracts, dev_accounts
from reconciler.market.ids import base_model_id_for_name, model_id

MOR = 10**18
PRICE = 6 * 10**15


def desired_yaml(rpc_env: str, diamond: str, mor: str, provider: str, n: int, fwd: Path) -> str:
    models = "".join(
        f'  - name: bench-{i}\n    upstream: u\n    upstreamModel: m{i}\n    stake: "0.1 MOR"\n'
        f'    bid:\n      pricePerSecond: "{PRICE}"\n'
        for i in range(n)
    )
    return (
        f'network:\n  chainId: 31337\n  diamond: "{diamond}"\n  mor: "{mor}"\n  rpcUrl: env:{rpc_env}\n'
        f'signer:\n  address: "{provider}"\n  privateKey: env:BENCH_KEY\n'
        f'provider:\n  address: "{provider}"\n  endpoint: 127.0.0.1:3333\n  stake: "0.2 MOR"\n'
        "upstreams:\n  u:\n    baseUrl: http://127.0.0.1:9/v1\n    apiKey: env:BENCH_UPSTREAM\n    resaleAllowed: true\n"
        f'models:\n{models}proxy:\n  modelsConfigPath: {fwd}\npolicy:\n  maxSpendPerApply: "1000 MOR"\n'
    )


def blocks_spanned(w3: Web3, receipts_blocks: list[int]) -> int:
    return max(receipts_blocks) - min(receipts_blocks) + 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--block-time", type=int, default=1)
    args = ap.parse_args()
    n = args.models
    accounts = dev_accounts()
    with tempfile.TemporaryDirectory() as tmp, Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]  # quick deploy
        dep = deploy_contracts(w3, accounts[0].address, mint_to=[a.address for a in accounts])
        w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
        w3.provider.make_request("evm_setIntervalMining", [args.block_time])  # type: ignore[arg-type]

        # pipelined: the real apply
        p1 = accounts[1]
        path = Path(tmp) / "desired.yaml"
        path.write_text(desired_yaml("BENCH_RPC", dep.diamond, dep.mor, p1.address, n, Path(tmp) / "fwd.json"))
        env = {"BENCH_RPC": node.rpc_url, "BENCH_KEY": p1.private_key, "BENCH_UPSTREAM": "k"}
        desired, _ = load_desired(path)
        opts = ApplyOptions(state_dir=Path(tmp) / "state", confirm=lambda _p: True)
        t0 = time.monotonic()
        result = apply_desired(desired, env, opts)
        pipelined_s = time.monotonic() - t0
        assert result.converged, "apply did not converge"
        pipelined_blocks = blocks_spanned(w3, [r.block or 0 for r in result.txs])

        # baseline: the same writes, one at a time, each awaited
        p2 = accounts[2]
        calls = ChainCalls(dep.diamond, dep.mor)
        s = TxSender(
            w3, Account.from_key(p2.private_key), Journal(Path(tmp) / "base.jsonl"), "baseline", poll_interval=0.05
        )
        reqs = [
            calls.approve("approve", 100 * MOR),
            calls.provider_register("provider", p2.address, 2 * MOR // 10, "127.0.0.1:3334", "provider.register"),
        ]
        bases = [base_model_id_for_name(f"bench-{i}") for i in range(n)]
        reqs += [
            calls.model_register(f"m{i}", p2.address, b, "", 0, MOR // 10, f"bench-{i}", ["llm"], "model.register")
            for i, b in enumerate(bases)
        ]
        reqs += [calls.bid_post(f"b{i}", p2.address, model_id(p2.address, b), PRICE) for i, b in enumerate(bases)]
        t0 = time.monotonic()
        blocks = []
        for req in reqs:
            blocks += [r.block or 0 for r in s.wait([s.send(req)])]
        baseline_s = time.monotonic() - t0

    print(f"apply of {n} models + {n} bids on anvil --block-time {args.block_time}")
    print(f"{'mode':<16} {'txs':>5} {'blocks':>7} {'wall s':>8}")
    print(f"{'pipelined apply':<16} {len(result.txs):>5} {pipelined_blocks:>7} {pipelined_s:>8.1f}")
    print(f"{'send-and-wait':<16} {len(reqs):>5} {blocks_spanned(w3, blocks):>7} {baseline_s:>8.1f}")
    print(f"speed-up: {baseline_s / pipelined_s:.1f}x wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())

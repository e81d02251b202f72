"""Soak: hundreds of seeded chaos runs (tests/support/chaos.py) on one devnet behind two faulty endpoint simulators.

Each seed draws its faults (requests failing or cut, 429s, sends never forwarded, an endpoint killed mid-run, a
base-fee spike, a dropped transaction, a reorg then another run) and is checked: converged, bid-post events
equal the planned posts, MOR spent equals the plan, the journal agrees with the chain, every failure a clear
ReconcileError. Every fifth seed is a watcher run. Prints the figures docs/rpc.md quotes, as JSON; exits 1 when
any seed found a problem (a duplicate post among them).

    PATH=$PWD/tools/node_modules/.bin:$PATH .venv/bin/python bench/chaos_soak.py [--seeds 200] [--first 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.chain import endpoint  # noqa: E402
from reconciler.devnet import local as devnet  # noqa: E402
from reconciler.devnet.anvil import free_port  # noqa: E402
from tests.support.chaos import Outcome, figures, run_seed  # noqa: E402
from tests.support.faults_helpers import Chain  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--first", type=int, default=1000, help="the first seed (the test suite uses 1..20)")
    args = ap.parse_args()
    endpoint.BACKOFF_BASE, endpoint.RATE_BACKOFF_BASE = 0.02, 0.04  # as in tests/chain/test_chaos.py
    outcomes: list[Outcome] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        info, _ = devnet.up(root / "devnet", port=free_port())
        t0 = time.monotonic()
        try:
            chain = Chain(info, root / "devnet")
            for seed in range(args.first, args.first + args.seeds):
                mode = "watch" if seed % 5 == 0 else "apply"
                try:
                    out = run_seed(chain, root / f"work-{seed}", root / "state", seed, mode)
                except AssertionError as exc:  # did not converge, or a watcher failure that was a bug
                    problems.append(f"seed {seed} ({mode}): {exc}")
                    continue
                outcomes.append(out)
                problems += [f"seed {seed} ({mode}): {p}" for p in out.problems()]
                if len(outcomes) % 20 == 0:
                    print(f"{len(outcomes)} seeds, {time.monotonic() - t0:.0f}s", file=sys.stderr)
        finally:
            devnet.down(root / "devnet")
        result = figures(outcomes)
        result["seconds"] = round(time.monotonic() - t0, 1)
        result["problem list"] = problems
    print(json.dumps(result, indent=2, sort_keys=True))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

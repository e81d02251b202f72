"""One seeded chaos run of apply or of the watcher against a devnet behind two endpoint simulators.

A seed draws the faults: a fifth to a third of requests failing (502, 503, 504, cut connections) on both
endpoints, 429s from a rate limit, transactions "accepted" by the first endpoint and never forwarded, the
first endpoint killed in the middle of the run, a base-fee spike (`anvil_setNextBlockBaseFeePerGas`), a
transaction dropped from anvil's mempool (`anvil_dropAllTransactions`) and a reorg after the run
(`anvil_rollback`), followed by another run. Each run changes the first model's bid price, so it has a bid to
post. After it: converged; the bid posts on chain (events) equal the bid posts planned; the MOR spent equals the
plan; the journal agrees with the chain; every failure on the way was a ReconcileError, said in words without
a URL or a traceback. `tests/chain/test_chaos.py` runs 20 seeds; `bench/chaos_soak.py` runs hundreds.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from reconciler import ReconcileError
from reconciler.desired.loader import load_desired
from reconciler.pipeline import plan_for
from reconciler.plan.model import ActionKind
from reconciler.watch.backoff import Backoff
from reconciler.watch.loop import Watcher, WatchOptions
from reconciler.watch.triggers import Trigger
from tests.support.faults_helpers import (
    MOR,
    Chain,
    Endpoints,
    apply_until_converged,
    desired_yaml,
    journal_disagreements,
    journal_of,
    price,
    two_endpoints,
)
from tests.support.rpcsim import Limits

SPIKE = 50 * 10**9  # wei: the next block's base fee, 50x the devnet's


@dataclass
class Outcome:
    seed: int
    mode: str
    faults: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    posts_planned: int = 0
    posts_on_chain: int = 0
    mor_planned: int = 0
    mor_spent: int = 0
    disagreements: list[str] = field(default_factory=list)
    runs: int = 0

    @property
    def duplicates(self) -> int:
        return max(self.posts_on_chain - self.posts_planned, 0)

    def problems(self) -> list[str]:
        out = list(self.disagreements)
        if self.posts_on_chain != self.posts_planned:
            out.append(f"bid posts on chain {self.posts_on_chain}, planned {self.posts_planned}")
        if self.mor_spent != self.mor_planned:
            out.append(f"MOR spent {self.mor_spent}, planned {self.mor_planned}")
        for e in self.errors:
            if "Traceback" in e or "not-a-real-key" in e or "127.0.0.1" in e or not e.strip():
                out.append(f"an unclear error: {e!r}")
        return out


_RECONCILE_ERRORS: set[str] = set()


def _error_names() -> set[str]:
    if not _RECONCILE_ERRORS:
        todo: list[type] = [ReconcileError]
        while todo:
            cls = todo.pop()
            _RECONCILE_ERRORS.add(cls.__name__)
            todo += cls.__subclasses__()
    return _RECONCILE_ERRORS


def _limits(rng: random.Random, seed: int, first: bool) -> Limits:
    return Limits(
        fail_rate=rng.uniform(0.2, 0.3),
        fail_kinds=("502", "503", "504", "cut"),
        rate=rng.choice([None, 40.0]) if first else None,
        burst=8,
        drop_send_rate=0.3 if first else 0.0,
        seed=seed * 2 + (0 if first else 1),
    )


def run_seed(chain: Chain, work: Path, state: Path, seed: int, mode: str = "apply") -> Outcome:
    """One seeded run (see the module doc); `state` is the provider's --state-dir, kept across seeds."""
    rng = random.Random(seed)
    out = Outcome(seed, mode)
    eps = two_endpoints(chain, _limits(rng, seed, True), _limits(rng, seed, False))
    try:
        work.mkdir(parents=True, exist_ok=True)
        yaml = desired_yaml(work, price(Fraction(6, 1000), seed + 1))
        env = eps.env()
        direct = {**env, "RPC_A": chain.info["rpcUrl"], "RPC_B": chain.info["rpcUrl"]}
        desired, _ = load_desired(yaml)
        _obs, plan = plan_for(desired, direct, state_dir=state)  # what the run must do, read without faults
        out.posts_planned = sum(1 for a in plan.pending if a.kind is ActionKind.BID_POST)
        out.mor_planned = int(plan.summary().mor_out)
        start = int(chain.w3.eth.block_number) + 1
        before = chain.mor_balance()

        kill_at = rng.choice([None, 1, 2, 3])  # the n-th progress line kills the first endpoint
        spike = rng.random() < 0.5
        drop = rng.random() < 0.3
        reorg = rng.choice([0, 0, 1, 2])
        lines = Counter[str]()

        def progress(line: str) -> None:
            lines["all"] += 1
            sending = line.startswith("sent ") or "re-broadcast" in line
            if drop and sending and not out.faults["dropped tx"]:
                chain.rpc("anvil_dropAllTransactions")
                chain.rpc("evm_setAutomine", True)
                out.faults["dropped tx"] += 1
            if kill_at is not None and lines["all"] == kill_at and not out.faults["endpoint killed"]:
                eps.a.stop()
                out.faults["endpoint killed"] += 1

        if spike:
            chain.rpc("anvil_setNextBlockBaseFeePerGas", hex(SPIKE))
            out.faults["base-fee spike"] += 1
        if drop:
            chain.rpc("evm_setAutomine", False)
        try:
            _converge(out, mode, yaml, env, state, progress, chain)
            if reorg:
                depth = min(reorg, int(chain.w3.eth.block_number) - start + 1)
                if depth > 0:
                    chain.rpc("anvil_rollback", depth)
                    out.faults["reorg"] += 1
                    _converge(out, mode, yaml, env, state, progress, chain)
        finally:
            chain.rpc("evm_setAutomine", True)
        out.posts_on_chain = len(chain.bid_posts(start))
        out.mor_spent = before - chain.mor_balance()
        out.disagreements = journal_disagreements(chain, journal_of(yaml, env, state))
        for sim in (eps.a, eps.b):
            c = sim.counts
            out.faults["requests failed or cut"] += c.failed
            out.faults["429"] += c.rate_limited
            out.faults["sends never forwarded"] += c.dropped_sends
        return out
    finally:
        eps.stop()


def _converge(
    out: Outcome, mode: str, yaml: Path, env: dict[str, str], state: Path, progress: Any, chain: Chain
) -> None:
    def between(_attempt: int) -> None:  # a run that failed before its first send: the drop fault is spent
        chain.rpc("evm_setAutomine", True)

    if mode == "apply":
        run = apply_until_converged(yaml, env, state, progress=progress, between=between, receipt_timeout=8.0)
        out.errors += run.errors
        out.runs += run.attempts
        return
    lines: list[str] = []
    opts = WatchOptions(
        path=yaml,
        state_dir=state,
        auto_apply=True,
        environ=env,
        out=lines.append,
        receipt_timeout=8.0,
        backoff=Backoff(base=0.0, max_failures=8),  # the watcher's retry after a failure, without its wait
    )
    watcher = Watcher(opts)
    try:
        for _ in range(8):
            out.runs += 1
            record = watcher.run([Trigger("timer")])
            between(0)
            error = str(record.get("error") or "")
            if error:
                name = error.split(":", 1)[0]
                assert name in _error_names(), f"the watcher failed with a bug, not a ReconcileError: {error}"
                out.errors.append(error)
            if record.get("result") in ("converged", "no-changes"):
                # /metrics shows each endpoint by its reference, fed from the watcher's own endpoint pool
                assert set(opts.metrics.endpoints) == {"env:RPC_A", "env:RPC_B"}, opts.metrics.endpoints
                assert "not-a-real-key" not in opts.metrics.render()
                return
        raise AssertionError(f"the watcher did not converge: {out.errors} {lines}")
    finally:
        watcher.files.stop()  # the poller was never started: runs are triggered here


def figures(outcomes: list[Outcome]) -> dict[str, Any]:
    faults = Counter[str]()
    for o in outcomes:
        faults.update(o.faults)
    return {
        "seeds": len(outcomes),
        "runs": sum(o.runs for o in outcomes),
        "faults": dict(sorted(faults.items())),
        "errors said and recovered from": sum(len(o.errors) for o in outcomes),
        "bid posts": sum(o.posts_on_chain for o in outcomes),
        "duplicates": sum(o.duplicates for o in outcomes),
        "MOR spent": sum(o.mor_spent for o in outcomes) / MOR,
        "problems": sum(len(o.problems()) for o in outcomes),
    }


__all__ = ["Endpoints", "Outcome", "figures", "run_seed"]

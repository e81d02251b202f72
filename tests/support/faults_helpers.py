"""Shared setup for the chain-fault tests and the chaos suite: one devnet behind two endpoint simulators, the
example desired state pointed at both (`network.rpcUrls`), and an in-process apply whose every failure must be
a ReconcileError (a clear message), never another exception (a traceback)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from web3 import Web3

from reconciler import ReconcileError
from reconciler.apply.run import ApplyOptions, ApplyResult, apply_desired
from reconciler.apply.writer import journal_path, state_path
from reconciler.chain.artifacts import load_artifact
from reconciler.chain.journal import Journal
from reconciler.chain.networks import resolve_network
from reconciler.desired.loader import load_desired
from reconciler.plan.model import ActionKind, Plan
from tests.support.apply_helpers import example_in
from tests.support.rpcsim import EndpointSimulator, Limits

MOR = 10**18


@dataclass
class Chain:
    """A devnet and what the tests read from it directly (not through the simulators)."""

    info: dict[str, Any]
    dir: Path

    @property
    def w3(self) -> Web3:
        return Web3(Web3.HTTPProvider(self.info["rpcUrl"]))

    @property
    def provider(self) -> str:
        return str(self.info["provider"])

    def rpc(self, method: str, *params: Any) -> Any:
        return self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]

    def market(self) -> Any:
        return self.w3.eth.contract(address=self.info["diamond"], abi=load_artifact("Marketplace").abi)

    def bid_posts(self, from_block: int) -> list[Any]:
        logs = self.market().events.MarketplaceBidPosted().get_logs(from_block=from_block)
        return [e for e in logs if e["args"]["provider"].lower() == self.provider.lower()]

    def mor_balance(self) -> int:
        mor = self.w3.eth.contract(address=self.info["mor"], abi=load_artifact("MorToken").abi)
        return int(mor.functions.balanceOf(self.provider).call())


@dataclass
class Endpoints:
    """Two simulators in front of one chain; `a` may be stopped (killed) and started again."""

    chain: Chain
    a: EndpointSimulator
    b: EndpointSimulator

    def env(self) -> dict[str, str]:
        return {
            "RECONCILE_DEVNET_DIR": str(self.chain.dir),
            "RPC_A": f"{self.a.url}/v3/not-a-real-key-a",
            "RPC_B": f"{self.b.url}/v3/not-a-real-key-b",
            "DEMO_UPSTREAM_KEY": "demo-upstream-key",
            "DEVNET_PROVIDER_KEY": self.chain.info["accounts"][1]["privateKey"],
        }

    def stop(self) -> None:
        for sim in (self.a, self.b):
            sim.stop()


def two_endpoints(chain: Chain, a: Limits | None = None, b: Limits | None = None) -> Endpoints:
    return Endpoints(
        chain, EndpointSimulator(chain.info["rpcUrl"], a).start(), EndpointSimulator(chain.info["rpcUrl"], b).start()
    )


def desired_yaml(work: Path, price_wei: int, confirmations: int | None = None) -> Path:
    """The devnet example through both endpoints, its first model's bid at `price_wei` per second."""
    yaml = example_in(work)
    extra = f"  confirmations: {confirmations}\n" if confirmations is not None else ""
    text = yaml.read_text().replace("  preset: devnet ", f"  rpcUrls: [env:RPC_A, env:RPC_B]\n{extra}  preset: devnet ")
    text = text.replace('pricePerSecond: "0.006 MOR"', f"pricePerSecond: {price_wei}")
    yaml.write_text(text)
    return yaml


@dataclass
class Run:
    """What one apply run (with its retries) did."""

    plan: Plan | None = None  # the first plan made: what the run is checked against
    result: ApplyResult | None = None
    errors: list[str] = field(default_factory=list)  # every ReconcileError on the way, as printed
    attempts: int = 0

    @property
    def bid_posts_planned(self) -> int:
        assert self.plan is not None
        return sum(1 for a in self.plan.pending if a.kind is ActionKind.BID_POST)

    @property
    def mor_planned(self) -> int:
        assert self.plan is not None
        return int(self.plan.summary().mor_out)


def apply_until_converged(
    yaml: Path,
    env: dict[str, str],
    state: Path,
    attempts: int = 6,
    progress: Callable[[str], None] = lambda _l: None,
    between: Callable[[int], None] = lambda _k: None,
    receipt_timeout: float = 20.0,
) -> Run:
    """Apply in this process until converged; a ReconcileError is recorded (it is what a person would read)
    and the apply run again, as a person or the watcher would. Anything else propagates: a traceback is a bug."""
    run = Run()
    for k in range(attempts):
        run.attempts = k + 1
        desired, _ = load_desired(yaml)
        opts = ApplyOptions(
            state_dir=state, confirm=lambda _p: True, progress=progress, receipt_timeout=receipt_timeout
        )
        try:
            result = apply_desired(desired, env, opts)
        except ReconcileError as exc:
            run.errors.append(str(exc))
            between(k)
            continue
        if run.plan is None:
            run.plan = result.plan
        run.result = result
        if result.converged:
            return run
        between(k)
    raise AssertionError(f"not converged after {attempts} applies: {run.errors}")


def journal_of(yaml: Path, env: dict[str, str], state: Path) -> Journal:
    desired, _ = load_desired(yaml)
    network = resolve_network(desired.network, env)
    return Journal(journal_path(state_path(state, network, desired.provider.address)))


def journal_disagreements(chain: Chain, journal: Journal) -> list[str]:
    """Where the journal and the chain disagree: an open record, a mined one without that receipt, a replaced
    one that is on chain after all."""
    w3 = chain.w3
    out: list[str] = []
    for r in journal.transactions():
        try:
            rcpt: Any = w3.eth.get_transaction_receipt(r.tx_hash)  # type: ignore[arg-type]
        except Exception:
            rcpt = None
        if r.status == "signed":
            out.append(f"{r.tx_hash} still open")
        elif r.status in ("mined", "reverted") and (rcpt is None or int(rcpt["blockNumber"]) != r.block):
            out.append(f"{r.tx_hash} {r.status} in block {r.block}, chain says {rcpt and rcpt['blockNumber']}")
        elif r.status in ("replaced", "dropped") and rcpt is not None:
            out.append(f"{r.tx_hash} {r.status} but mined in block {rcpt['blockNumber']}")
    return out


def price(base_mor: Fraction, k: int) -> int:
    """A distinct bid price per run (within the devnet's bounds), so every run re-posts a bid."""
    return int(base_mor * MOR) + k * 10**12

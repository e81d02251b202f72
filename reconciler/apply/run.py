"""`reconcile apply`: turn a plan into reality without ever losing money to a mistake.

The imperative shell around the pure planner. In order:
  lock (one apply per provider on this machine) -> finish what an earlier run left in the journal (or wait
  until the signer has nothing pending) -> observe + plan -> refuse on plan errors, a manual approve, a stale
  saved plan, too little gas money or a reload credential bound for an untrusted host (apply/refusals.py) -> ask
  -> execute the pending actions in plan order (apply/executor.py) -> observe + plan again: converged when
  nothing is pending.
With a saved plan (`apply --plan FILE`) the plan executed is still the fresh one: the saved one is only
compared with it, and a difference refuses the apply.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

from reconciler import DEFAULT_STATE_DIR
from reconciler.apply.executor import Executed, Executor, Progress
from reconciler.apply.refusals import (
    ApplyError,
    check_saved_plan,
    refuse_unsafe,
    refuse_untrusted,
    refuse_unwritable,
)
from reconciler.apply.writer import ProviderWriter, open_writer, state_path
from reconciler.chain.calls import ChainCalls
from reconciler.chain.journal import Journal, TxRecord
from reconciler.chain.networks import Network, resolve_network
from reconciler.chain.reader import ChainReader
from reconciler.chain.rpc import connect_all
from reconciler.chain.sender import TxReverted, TxSender
from reconciler.chain.signer import load_signer
from reconciler.desired.model import Desired
from reconciler.observe.model import Observed
from reconciler.observe.price_command import PriceAnswers, PriceCommand
from reconciler.pipeline import plan_for
from reconciler.plan.model import Plan, Status
from reconciler.plan.unserved import NO_MEMORY, Serving


@dataclass
class ApplyOptions:
    state_dir: Path = DEFAULT_STATE_DIR
    legacy_tx: bool | None = None  # None: the network preset decides
    speed_up: bool = False
    receipt_timeout: float = 300.0
    pending_timeout: float = 120.0
    saved_plan: Plan | None = None
    confirm: Callable[[Plan], bool] = lambda _plan: False
    progress: Progress = lambda _line: None
    # asked before each action: True stops sending new ones (what is in flight is still awaited); watch's SIGTERM
    stop_requested: Callable[[], bool] = lambda: False
    serving: Serving = NO_MEMORY  # the watcher's memory for policy.unserved (a manual apply has none)
    # the operator's pricing strategy for bid.market (host-configured), or the answers of the watcher's run; asked
    # once per apply: the plan after the apply reuses the answers of the plan before it
    price_command: PriceCommand | PriceAnswers | None = None


@dataclass(kw_only=True)
class ApplyResult(Executed):
    """What was executed, the plan it came from, and the plan made after it (None until then); `observed`, the
    reading the last of them was made from (the watcher judges the router from it instead of asking again)."""

    plan: Plan
    final: Plan | None
    applied: bool = False
    observed: Observed | None = None

    @property
    def converged(self) -> bool:
        return self.final is not None and not self.final.pending


def plan_id(plan: Plan) -> str:
    data = {
        "observed": plan.observed_fingerprint,
        "actions": [[a.id, a.after] for a in plan.pending],
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def apply_desired(desired: Desired, environ: Mapping[str, str] | None, opts: ApplyOptions) -> ApplyResult:
    network = resolve_network(desired.network, environ)
    account = load_signer(desired.signer, environ)
    w3 = connect_all(network.endpoints())
    calls = ChainCalls(network.diamond, network.mor)
    state = state_path(opts.state_dir, network, desired.provider.address)
    with open_writer(state, w3, account, network, progress=opts.progress, legacy=opts.legacy_tx) as writer:
        return _apply_locked(desired, environ, opts, network, w3, calls, writer)


def _apply_locked(
    desired: Desired,
    environ: Mapping[str, str] | None,
    opts: ApplyOptions,
    network: Network,
    w3: Web3,
    calls: ChainCalls,
    writer: ProviderWriter,
) -> ApplyResult:
    sender, journal = writer.sender, writer.journal
    resumed = _finish_earlier_run(sender, journal, opts)

    answers = PriceAnswers.of(opts.price_command)
    _observed, plan = plan_for(desired, environ, state_dir=opts.state_dir, serving=opts.serving, price_command=answers)
    if opts.saved_plan is not None:
        check_saved_plan(opts.saved_plan, plan, network, desired)
    refuse_unsafe(plan, _observed.chain.signer_eth_balance)
    refuse_unwritable(desired, plan)
    refuse_untrusted(desired, plan, environ)
    result = ApplyResult(plan=plan, final=None, observed=_observed)
    for rec in resumed:  # an earlier run's transactions this run sent and saw mined: their MOR is this run's
        result.count(rec)
    if not plan.pending:
        result.final = plan
        held = tuple(a.id for a in plan.actions if a.status is Status.HELD)
        result.notes.append(nothing_sent_note(held, plan.proxy_unchecked))
        return result
    if not opts.confirm(plan):
        raise ApplyError("apply not confirmed; nothing was sent")
    sender.plan_id = plan_id(plan)
    reader = ChainReader(w3, network, state_dir=None)
    executor = Executor(
        desired,
        environ,
        reader,
        sender,
        calls,
        result,
        progress=opts.progress,
        receipt_timeout=opts.receipt_timeout,
        stop_requested=opts.stop_requested,
    )
    executor.run(plan.pending)
    result.applied = True
    result.observed, result.final = plan_for(
        desired, environ, state_dir=opts.state_dir, serving=opts.serving, price_command=answers
    )
    return result


def _finish_earlier_run(sender: TxSender, journal: Journal, opts: ApplyOptions) -> list[TxRecord]:
    """Settle what an earlier run journaled; returns its transactions this run re-broadcast and saw mined."""
    if not journal.path.exists():
        # no journal here (a fresh CI runner after a killed job): never race a transaction still in flight
        sender.wait_until_no_pending(timeout=opts.pending_timeout)
        return []
    report = sender.resume()
    for r in report.reorged:
        opts.progress(f"journal: {r.action} {r.action_id} left the chain in a reorg (tx {r.tx_hash}); checked again")
    for r in report.mined:
        opts.progress(f"journal: {r.action} {r.action_id} was mined (tx {r.tx_hash}) before the last run ended")
    for r in report.replaced:
        opts.progress(f"journal: tx {r.tx_hash} ({r.action}) was replaced; its nonce is used")
    for r in report.reverted:
        opts.progress(f"journal: tx {r.tx_hash} ({r.action}) had reverted; the plan below accounts for it")
    if report.rebroadcast:
        waiting = list(report.rebroadcast)
        if opts.speed_up:
            waiting = [sender.speed_up(r) for r in waiting]
        try:
            return [r for r in sender.wait(waiting, timeout=opts.receipt_timeout) if r.status == "mined"]
        except TxReverted as exc:
            opts.progress(f"journal: {exc}")
            sent = {r.tx_hash for r in waiting}
            return [r for r in journal.transactions() if r.tx_hash in sent and r.status == "mined"]
    return []


def nothing_sent_note(held: tuple[str, ...], unchecked: str | None) -> str:
    """The note of a plan with nothing pending: what is held back, and a proxy not checked (a stopped forwarder)
    named instead of "chain and proxy match". The watcher's alert-only runs say the same."""
    if held:
        note = f"nothing sent: {len(held)} change(s) held back ({', '.join(held)}; see the plan for why and until when)"
        return note + (f"; {unchecked}" if unchecked is not None else "")
    if unchecked is not None:
        return f"nothing to do on the chain or in the files; {unchecked}"
    return "nothing to do: chain and proxy match the desired state"

"""`reconcile apply`: turn a plan into reality without ever losing money to a mistake.

The imperative shell around the pure planner. In order:
  lock (one apply per provider on this machine) -> finish what an earlier run left in the journal (or wait
  until the signer has nothing pending) -> observe + plan -> refuse on plan errors, a manual approve, a stale
  saved plan or too little gas money -> ask -> execute the pending actions in plan order -> observe + plan
  again: converged when nothing is pending.
Execution pipelines independent transactions (consecutive nonces, no wait) and waits only where an action
depends on one still in flight. Before each write the action's precondition is read again from the chain
(level-triggered): when the world already matches, the write is skipped, so a rerun after a crash, or two
racing applies, never post the same bid twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from reconciler import GuardRefused
from reconciler.apply.proxy_config import (
    read_existing,
    reload_forwarder,
    reload_router,
    unwritable,
    write_config_atomic,
)
from reconciler.apply.session import TxSession, state_path, tx_session
from reconciler.chain.calls import ChainCalls
from reconciler.chain.faults import crash_point
from reconciler.chain.journal import Journal, TxRecord
from reconciler.chain.networks import Network, resolve_network
from reconciler.chain.reader import ChainReader
from reconciler.chain.rpc import connect_all
from reconciler.chain.sender import TxRequest, TxReverted, TxSender
from reconciler.chain.signer import load_signer
from reconciler.desired.model import Desired
from reconciler.desired.modelsconfig import config_version, forwarder_file, router_file
from reconciler.desired.references import resolve
from reconciler.market.units import format_mor
from reconciler.pipeline import plan_for
from reconciler.plan.model import (
    CHAIN_KINDS,
    Action,
    ActionKind,
    Allowance,
    BidRef,
    BidValues,
    ManualStep,
    ModelRef,
    ModelValues,
    Plan,
    ProviderValues,
    ProxyEntryRef,
    ProxyFile,
    ProxyFileRef,
    Status,
    proxy_of,
)

Progress = Callable[[str], None]


class ApplyError(GuardRefused):
    """Apply refused or failed; the message says why and what to do. Nothing was half-done unjournaled."""


class StalePlan(ApplyError):
    pass


class ManualStepNeeded(ApplyError):
    """Only a manual step (the provider wallet's `reconcile approve`) stands in the way; nothing was sent. A
    watcher reports it as `blocked-manual` (once per cause) rather than as a failure to back off from."""

    def __init__(self, message: str, steps: tuple[ManualStep, ...], actions: tuple[str, ...]) -> None:
        super().__init__(message)
        self.steps = steps  # each manual action and why
        self.actions = actions  # the plan's pending action ids


@dataclass
class ApplyOptions:
    state_dir: Path = Path(".reconcile")
    legacy_tx: bool | None = None  # None: the network preset decides
    speed_up: bool = False
    receipt_timeout: float = 300.0
    pending_timeout: float = 120.0
    saved_plan: Plan | None = None
    confirm: Callable[[Plan], bool] = lambda _plan: False
    progress: Progress = lambda _line: None
    # asked before each action: True stops sending new ones (what is in flight is still awaited); watch's SIGTERM
    stop_requested: Callable[[], bool] = lambda: False


@dataclass
class ApplyResult:
    plan: Plan
    final: Plan | None
    txs: list[TxRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fees: int = 0
    stake: int = 0
    gas_used: int = 0
    applied: bool = False

    @property
    def converged(self) -> bool:
        return self.final is not None and not self.final.pending

    def summary(self) -> str:
        return (
            f"{len(self.txs)} transaction(s) sent, {len(self.skipped)} skipped (already in place); "
            f"MOR spent: fees {format_mor(self.fees)}, stake {format_mor(self.stake)}; gas used {self.gas_used:,}"
        )


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
    with tx_session(state, w3, account, network, progress=opts.progress, legacy=opts.legacy_tx) as session:
        return _apply_locked(desired, environ, opts, network, w3, calls, session)


def _apply_locked(
    desired: Desired,
    environ: Mapping[str, str] | None,
    opts: ApplyOptions,
    network: Network,
    w3: Web3,
    calls: ChainCalls,
    session: TxSession,
) -> ApplyResult:
    sender, journal = session.sender, session.journal
    _finish_earlier_run(sender, journal, opts)

    _observed, plan = plan_for(desired, environ, state_dir=opts.state_dir)
    if opts.saved_plan is not None:
        check_saved_plan(opts.saved_plan, plan, network, desired)
    refuse_unsafe(plan, _observed.chain.signer_eth_balance)
    refuse_unwritable(desired, plan)
    result = ApplyResult(plan=plan, final=None)
    if not plan.pending:
        result.final = plan
        result.notes.append("nothing to do: chain and proxy match the desired state")
        return result
    if not opts.confirm(plan):
        raise ApplyError("apply not confirmed; nothing was sent")
    sender.plan_id = plan_id(plan)
    reader = ChainReader(w3, network, state_dir=None)
    Executor(desired, environ, reader, sender, calls, opts, result).run(plan.pending)
    result.applied = True
    _observed, result.final = plan_for(desired, environ, state_dir=opts.state_dir)
    return result


def _finish_earlier_run(sender: TxSender, journal: Journal, opts: ApplyOptions) -> None:
    if not journal.path.exists():
        # no journal here (a fresh CI runner after a killed job): never race a transaction still in flight
        sender.wait_until_no_pending(timeout=opts.pending_timeout)
        return
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
            sender.wait(waiting, timeout=opts.receipt_timeout)
        except TxReverted as exc:
            opts.progress(f"journal: {exc}")


def refuse_unwritable(desired: Desired, plan: Plan) -> None:
    """Stop before any transaction when a models-config the plan writes cannot be: found after the models were
    registered, it left them without bids until the path was fixed."""
    proxy = desired.proxy
    writes = {
        proxy_of(a.subject) for a in plan.pending if a.kind in (ActionKind.PROXY_WRITE_CONFIG, ActionKind.PROXY_REMOVE)
    }
    paths = {ProxyFile.FORWARDER: proxy.models_config_path if proxy else None}
    paths[ProxyFile.ROUTER] = proxy.router.models_config_path if proxy and proxy.router else None
    problems = [
        f"the {who} models-config cannot be written: {why}"
        for who, path in paths.items()
        if who in writes and path is not None and (why := unwritable(Path(path))) is not None
    ]
    if problems:
        raise ApplyError("refusing to apply; nothing was sent:\n  " + "\n  ".join(problems))


def refuse_unsafe(plan: Plan, signer_eth: int) -> None:
    """Stop before any transaction on plan errors, a manual approve, or too little gas money."""
    problems = list(plan.errors)
    problems += [f"{a.id}: {e}" for a in plan.actions if a.status is not Status.UNMANAGED for e in a.errors]
    manual = [a for a in plan.actions if a.status is Status.MANUAL]
    problems += [f"{a.id}: {a.reason}" for a in manual]
    gas = plan.summary().gas_wei
    if gas and signer_eth < gas:
        problems.append(
            f"the signer holds {signer_eth} wei of the native coin, less than the ~{gas} wei of gas this plan needs"
        )
    if problems:
        message = "refusing to apply; nothing was sent:\n  " + "\n  ".join(problems)
        steps = tuple(ManualStep(a.id, a.reason) for a in manual)
        if steps and problems == [str(s) for s in steps]:
            raise ManualStepNeeded(message, steps, tuple(a.id for a in plan.pending))
        raise ApplyError(message)


def check_saved_plan(saved: Plan, fresh: Plan, network: Network, desired: Desired) -> None:
    """A saved plan applies only to the state it was made against, on the same chain, Diamond and provider."""
    s, n = saved.network, fresh.network
    if (s.chain_id, s.diamond.lower(), s.provider.lower()) != (n.chain_id, n.diamond.lower(), n.provider.lower()):
        raise StalePlan(
            f"the saved plan is for chain {s.chain_id}, Diamond {s.diamond}, provider {s.provider}; this apply is "
            f"for chain {n.chain_id}, Diamond {n.diamond}, provider {n.provider}"
        )
    changes: list[str] = []
    if saved.observed_fingerprint != fresh.observed_fingerprint:
        changes.append("the chain or proxy state it was planned against has changed")
    old = {a.id: a for a in saved.pending}
    new = {a.id: a for a in fresh.pending}
    changes += [f"no longer planned: {i}" for i in sorted(old.keys() - new.keys())]
    changes += [f"newly needed: {i}" for i in sorted(new.keys() - old.keys())]
    changes += [f"changed: {i}" for i in sorted(old.keys() & new.keys()) if _comparable(old[i]) != _comparable(new[i])]
    if changes:
        raise StalePlan("stale plan: " + "; ".join(changes) + ". Run `reconcile plan` again and review it.")


def _comparable(a: Action) -> Any:
    return json.loads(json.dumps([a.kind, a.after, a.before, a.cost.fee, a.cost.stake], default=str, sort_keys=True))


class Executor:
    """Runs pending actions in plan order, pipelining chain writes whose dependencies are mined."""

    def __init__(
        self,
        desired: Desired,
        environ: Mapping[str, str] | None,
        reader: ChainReader,
        sender: TxSender,
        calls: ChainCalls,
        opts: ApplyOptions,
        result: ApplyResult,
    ) -> None:
        self.desired = desired
        self.environ = environ
        self.reader = reader
        self.sender = sender
        self.calls = calls
        self.opts = opts
        self.result = result
        self.inflight: dict[str, tuple[TxRecord, Action]] = {}
        self.removed: dict[ProxyFile, set[str]] = {f: set() for f in ProxyFile}
        self.confirmed: str | None = None  # the forwarder version last confirmed served (said once, not twice)

    def run(self, actions: tuple[Action, ...]) -> None:
        for a in actions:
            if self.opts.stop_requested():
                self.result.notes.append(f"stopped on request before {a.id}; what was sent has been awaited")
                break
            if any(d in self.inflight for d in a.depends_on) or (a.kind not in CHAIN_KINDS and self.inflight):
                self.flush()
            if a.kind in CHAIN_KINDS:
                self.chain_action(a)
            else:
                self.proxy_action(a)
        self.flush()

    # --- chain ------------------------------------------------------------------------------------

    def chain_action(self, a: Action) -> None:
        req = self.request_for(a)
        if req is None:
            self.result.skipped.append(a.id)
            self.opts.progress(f"skip {a.id}: already in place on chain")
            return
        try:
            rec = self.sender.send(req)
        except TxReverted:
            if not self.inflight:
                raise
            self.flush()  # it may depend on a write still in flight: wait, then check again
            req = self.request_for(a)
            if req is None:
                self.result.skipped.append(a.id)
                return
            rec = self.sender.send(req)
        self.inflight[a.id] = (rec, a)

    def flush(self) -> None:
        if not self.inflight:
            return
        batch = list(self.inflight.values())
        self.inflight.clear()
        done = self.sender.wait([r for r, _ in batch], timeout=self.opts.receipt_timeout)
        for rec, (_, action) in zip(done, batch, strict=True):
            self.result.txs.append(rec)
            self.result.gas_used += rec.gas_used or 0
            self.result.fees += action.cost.fee
            self.result.stake += action.cost.stake
        crash_point("after-receipt")

    def request_for(self, a: Action) -> TxRequest | None:
        """The write this action needs now, or None when the chain already matches (level-triggered)."""
        provider = Web3.to_checksum_address(self.desired.provider.address)
        chain = self.reader
        match a.kind, a.value, a.subject:
            case ActionKind.MOR_APPROVE, Allowance() as v, _:
                return None if chain.allowance(provider) >= v.amount else self.calls.approve(a.id, v.amount)
            case ActionKind.PROVIDER_REGISTER | ActionKind.PROVIDER_UPDATE, ProviderValues() as v, _:
                have = chain.provider(provider)
                current = 0 if have is None or have.is_deleted else have.stake
                if have is not None and not have.is_deleted and have.endpoint == v.endpoint and current >= v.stake:
                    return None
                return self.calls.provider_register(a.id, provider, max(v.stake - current, 0), v.endpoint, a.kind)
            case ActionKind.MODEL_REGISTER | ActionKind.MODEL_UPDATE, ModelValues() as v, _:
                model = chain.model(v.model_id)
                current = 0 if model is None or model.is_deleted else model.stake
                same = (
                    model is not None
                    and not model.is_deleted
                    and model.ipfs_cid == v.ipfs_cid.lower()
                    and model.fee == v.fee
                    and model.name == v.name
                    and model.tags == v.tags
                    and current >= v.stake
                )
                if same:
                    return None
                return self.calls.model_register(
                    a.id,
                    provider,
                    str(v.base_model_id),
                    v.ipfs_cid,
                    v.fee,
                    max(v.stake - current, 0),
                    str(v.name),
                    list(v.tags),
                    a.kind,
                )
            case ActionKind.BID_POST, BidValues(price_per_second=int(price)) as v, _:
                bid = chain.active_bid(provider, v.model_id)
                if bid is not None and bid.price_per_second == price:
                    return None
                return self.calls.bid_post(a.id, provider, v.model_id, price)
            case ActionKind.BID_DELETE, None, BidRef(bid_id=bid_id):
                return self.calls.bid_delete(a.id, bid_id) if chain.bid_active(bid_id) else None
            case ActionKind.MODEL_DEREGISTER, None, ModelRef(model_id=model_id):
                return self.calls.model_deregister(a.id, model_id) if chain.model_active(model_id) else None
            case ActionKind.PROVIDER_DEREGISTER, None, _:
                return self.calls.provider_deregister(a.id, provider) if chain.provider_active(provider) else None
        raise ApplyError(f"apply does not know how to execute {a.kind} with {type(a.value).__name__}")

    # --- proxy ------------------------------------------------------------------------------------

    def proxy_action(self, a: Action) -> None:
        proxy = self.desired.proxy
        if proxy is None:
            raise ApplyError(f"{a.id}: the desired state has no proxy section")
        match a.kind, a.subject:
            case ActionKind.PROXY_REMOVE, ProxyEntryRef(proxy=who, model_id=model_id):
                self.removed[who].add(model_id)
                self.write_file(who)
            case ActionKind.PROXY_WRITE_CONFIG, ProxyFileRef(proxy=who):
                self.write_file(who)
            case ActionKind.PROXY_RELOAD, ProxyFileRef(proxy=who):
                self.reload(who)
            case _:
                raise ApplyError(f"apply does not know how to execute {a.id}")

    def write_file(self, who: ProxyFile) -> None:
        proxy = self.desired.proxy
        assert proxy is not None
        if who is ProxyFile.ROUTER:
            assert proxy.router is not None
            path = Path(proxy.router.models_config_path)
            doc = router_file(self.desired, read_existing(path), self.removed[ProxyFile.ROUTER], self.environ)
        else:
            path = Path(proxy.models_config_path)
            doc = forwarder_file(self.desired, read_existing(path), self.removed[ProxyFile.FORWARDER], self.environ)
        version = write_config_atomic(path, doc)
        self.opts.progress(f"wrote the {who} models-config {path} (version {version[:12]}…, mode 0600)")
        if who is ProxyFile.FORWARDER and not proxy.admin_url:
            self.result.notes.append(
                f"wrote {path}; the forwarder reloads a changed file by itself (unconfirmed: no proxy.adminUrl)"
            )
        elif who is ProxyFile.FORWARDER:
            self.reload(who)  # every write is confirmed served before the next step (e.g. a bid post) runs

    def reload(self, who: ProxyFile) -> None:
        proxy = self.desired.proxy
        assert proxy is not None
        if who is ProxyFile.ROUTER:
            assert proxy.router is not None and proxy.router.admin_url is not None
            auth = resolve(proxy.router.admin_auth, self.environ) if proxy.router.admin_auth else None
            res = reload_router(proxy.router.admin_url, auth)
            if res.restart_required:
                self.result.notes.append(f"router: {res.message}")
            self.opts.progress(f"router: {res.message}")
            return
        if not proxy.admin_url or proxy.admin_token is None:
            return
        token = resolve(proxy.admin_token, self.environ)
        if token is None:
            raise ApplyError(f"proxy.adminToken {proxy.admin_token} has no value here; cannot confirm the reload")
        path = Path(proxy.models_config_path)
        expect = _file_version(path)
        if expect == self.confirmed:  # the write just before was confirmed served: the reload action is done
            return
        res = reload_forwarder(proxy.admin_url, token, expect)
        self.opts.progress(res.message)
        self.confirmed = expect


def _file_version(path: Path) -> str:
    return config_version(json.loads(path.read_text(encoding="utf-8")))

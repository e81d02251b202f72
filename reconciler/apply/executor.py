"""Execute a plan's pending actions in order: chain writes journaled and pipelined, models-config writes and
reloads between them.

Independent transactions are pipelined (consecutive nonces, no wait); the executor waits only where an action
depends on one still in flight, and before any proxy step. Before each write the action's precondition is read
again from the chain (level-triggered): when the world already matches, the write is skipped, so a rerun after a
crash, or two racing applies, never post the same bid twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from web3 import Web3

from reconciler import InternalError, TransactionFailed
from reconciler.apply.proxy_config import read_existing, reload_forwarder, reload_router, write_config_atomic
from reconciler.chain.calls import ChainCalls
from reconciler.chain.faults import crash_point
from reconciler.chain.journal import TxRecord
from reconciler.chain.reader import ChainReader
from reconciler.chain.sender import TxRequest, TxReverted, TxSender
from reconciler.desired.model import Desired
from reconciler.desired.modelsconfig import config_version, forwarder_file, router_file
from reconciler.desired.references import BadReference, resolve
from reconciler.market.units import format_mor
from reconciler.observe.destinations import trusted_hosts
from reconciler.observe.forwarder_admin import admin_token
from reconciler.plan.model import (
    CHAIN_KINDS,
    Action,
    ActionKind,
    Allowance,
    BidRef,
    BidValues,
    ModelRef,
    ModelValues,
    ProviderValues,
    ProxyEntryRef,
    ProxyFile,
    ProxyFileRef,
)
from reconciler.plan.stakes import stake_top_up

Progress = Callable[[str], None]


@dataclass
class Executed:
    """What the executor did: the transactions mined, the actions already in place (skipped), notes for the
    person, and the MOR and gas they cost: the plan's figures of the actions mined, which are what was sent."""

    txs: list[TxRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fees: int = 0
    stake: int = 0  # stake added (MOR out)
    refunded: int = 0  # stake refunded by deregistrations (MOR in)
    gas_used: int = 0

    def count(self, rec: TxRecord) -> None:
        """A mined transaction: its gas, and the MOR its plan said it moves (journaled with it)."""
        self.txs.append(rec)
        self.gas_used += rec.gas_used or 0
        self.fees += rec.fee
        self.stake += max(rec.stake, 0)
        self.refunded += max(-rec.stake, 0)

    @property
    def mor_out(self) -> int:
        """MOR that left the provider wallet: what maxSpendPerApply and maxSpendPerDay count."""
        return self.fees + self.stake

    def summary(self) -> str:
        return (
            f"{len(self.txs)} transaction(s) sent, {len(self.skipped)} skipped (already in place); "
            f"MOR spent: fees {format_mor(self.fees)}, stake {format_mor(self.stake)}; "
            f"refunded {format_mor(self.refunded)}; gas used {self.gas_used:,}"
        )


@dataclass
class Executor:
    """Runs pending actions in plan order, pipelining chain writes whose dependencies are mined, and records
    what it did in `done`. `stop_requested` is asked before each action: True stops sending new ones (what is
    in flight is still awaited)."""

    desired: Desired
    environ: Mapping[str, str] | None
    reader: ChainReader
    sender: TxSender
    calls: ChainCalls
    done: Executed
    progress: Progress
    receipt_timeout: float
    stop_requested: Callable[[], bool]
    inflight: dict[str, tuple[TxRecord, Action]] = field(default_factory=dict, init=False)
    removed: dict[ProxyFile, set[str]] = field(default_factory=lambda: {f: set() for f in ProxyFile}, init=False)
    # the forwarder version last confirmed served (said once, not twice)
    confirmed: str | None = field(default=None, init=False)

    def run(self, actions: tuple[Action, ...]) -> None:
        for a in actions:
            if self.stop_requested():
                self.done.notes.append(f"stopped on request before {a.id}; what was sent has been awaited")
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
        req = self.priced(a, self.request_for(a))
        if req is None:
            self.done.skipped.append(a.id)
            self.progress(f"skip {a.id}: already in place on chain")
            return
        try:
            rec = self.sender.send(req)
        except TxReverted:
            if not self.inflight:
                raise
            self.flush()  # it may depend on a write still in flight: wait, then check again
            req = self.priced(a, self.request_for(a))
            if req is None:
                self.done.skipped.append(a.id)
                return
            rec = self.sender.send(req)
        self.inflight[a.id] = (rec, a)

    def flush(self) -> None:
        if not self.inflight:
            return
        batch = list(self.inflight.values())
        self.inflight.clear()
        done = self.sender.wait([r for r, _ in batch], timeout=self.receipt_timeout)
        for rec in done:
            self.done.count(rec)
        crash_point("after-receipt")

    @staticmethod
    def priced(a: Action, req: TxRequest | None) -> TxRequest | None:
        """The request with the MOR its action's plan figures say it moves, journaled with it."""
        return None if req is None else replace(req, fee=a.cost.fee, stake=a.cost.stake)

    def request_for(self, a: Action) -> TxRequest | None:
        """The write this action needs now, or None when the chain already matches (level-triggered)."""
        provider = Web3.to_checksum_address(self.desired.provider.address)
        chain = self.reader
        match a.kind, a.value, a.subject:
            case ActionKind.MOR_APPROVE, Allowance() as v, _:
                return None if chain.allowance(provider) >= v.amount else self.calls.approve(a.id, v.amount)
            case ActionKind.PROVIDER_REGISTER | ActionKind.PROVIDER_UPDATE, ProviderValues() as v, _:
                have = chain.provider(provider)
                add = stake_top_up(have, v.stake)
                if have is not None and not have.is_deleted and have.endpoint == v.endpoint and add == 0:
                    return None
                return self.calls.provider_register(a.id, provider, planned_stake(a, add), v.endpoint, a.kind)
            case ActionKind.MODEL_REGISTER | ActionKind.MODEL_UPDATE, ModelValues() as v, _:
                model = chain.model(v.model_id)
                add = stake_top_up(model, v.stake)
                same = (
                    model is not None
                    and not model.is_deleted
                    and model.ipfs_cid == v.ipfs_cid.lower()
                    and model.fee == v.fee
                    and model.name == v.name
                    and model.tags == v.tags
                    and add == 0
                )
                if same:
                    return None
                return self.calls.model_register(
                    a.id,
                    provider,
                    str(v.base_model_id),
                    v.ipfs_cid,
                    v.fee,
                    planned_stake(a, add),
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
        raise InternalError(f"apply does not know how to execute {a.kind} with {type(a.value).__name__}")

    # --- proxy ------------------------------------------------------------------------------------

    def proxy_action(self, a: Action) -> None:
        proxy = self.desired.proxy
        if proxy is None:
            raise InternalError(f"{a.id}: the desired state has no proxy section")
        match a.kind, a.subject:
            case ActionKind.PROXY_REMOVE, ProxyEntryRef(proxy=who, model_id=model_id):
                self.removed[who].add(model_id)
                self.write_file(who)
            case ActionKind.PROXY_WRITE_CONFIG, ProxyFileRef(proxy=who):
                self.write_file(who)
            case ActionKind.PROXY_RELOAD, ProxyFileRef(proxy=who):
                self.reload(who)
            case _:
                raise InternalError(f"apply does not know how to execute {a.id}")

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
        self.progress(f"wrote the {who} models-config {path} (version {version[:12]}…, mode 0600)")
        if who is ProxyFile.FORWARDER and not proxy.admin_url:
            self.done.notes.append(
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
            res = reload_router(proxy.router.admin_url, auth, trusted=trusted_hosts(self.environ))
            if res.restart_required:
                self.done.notes.append(f"router: {res.message}")
            self.progress(f"router: {res.message}")
            return
        if not proxy.admin_url or proxy.admin_token is None:
            return
        token = admin_token(proxy, self.environ)
        if token is None:
            raise BadReference(f"proxy.adminToken {proxy.admin_token} has no value here; cannot confirm the reload")
        path = Path(proxy.models_config_path)
        expect = _file_version(path)
        if expect == self.confirmed:  # the write just before was confirmed served: the reload action is done
            return
        res = reload_forwarder(proxy.admin_url, token, expect, trusted=trusted_hosts(self.environ))
        self.progress(res.message)
        self.confirmed = expect


class ChainMovedUnderApply(TransactionFailed):
    """The chain no longer holds what the plan was made against, so the write would move MOR the plan did not
    show; it is not sent (what was sent before it is journaled and mined)."""


def planned_stake(a: Action, add: int) -> int:
    """The stake to send: the plan's figure, which the fresh reading must give too (both are `stake_top_up`)."""
    if add != a.cost.stake:
        raise ChainMovedUnderApply(
            f"{a.id}: the chain changed since the plan: it now needs a stake of {format_mor(add)} sent, the plan "
            f"showed {format_mor(a.cost.stake)}; nothing was sent for it. Run `reconcile apply` again to plan anew."
        )
    return add


def _file_version(path: Path) -> str:
    return config_version(json.loads(path.read_text(encoding="utf-8")))

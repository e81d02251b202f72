"""Read everything the planner needs from the chain in a constant number of batched round trips.

Round 1: latest block, chain id, code at the Diamond, gas price. Round 2 (pinned to that block): token,
fee, minimums, price bounds, provider, its active bid ids, MOR balance and allowance, delegation rights,
the desired models (their ids are computed: keccak(owner, base id)), the registry's model ids past those
already known (`chain/model_index.py`), the maximum session duration and the provider's session count.
Round 3: every active bid, the provider's undeclared models and every model id not seen before (its owner is
learned once), their provider-model stats, and the provider's newest page of session ids. Round 4: those
sessions (newest first). Round 5, only when needed: the bids of sessions that are no longer active (a deleted
bid still carrying live sessions), and models nobody declared that bids are on or that round 3 found to be
the provider's.

Nothing here scans logs, so the cost depends on the numbers of models, bids and sessions, never on the chain's
height. Sessions are never pruned from the contract's lists (oldest first), so they are read from the end,
newest first, stopping at the first session opened more than `getMaxSessionDuration()` ago: no older session
can still be live, while an older short session may sit before a live long one (so never stop at an ended
one). More active bids than BID_PAGE, more sessions in that window than SESSION_PAGE, or more new model ids
than MODEL_PAGE cost more rounds.

Several providers on one network are read together (`observe_many`, a fleet's plan): one round 1 pins them all
to one block, then each round is every provider's reads of that round in one batch, and the registry's list is
read once for all; so the round trips do not grow with the number of providers.

Besides that one reading, the reader answers for one thing now (`provider`, `model`, `active_bid`...): what a
write is decided on just before it is sent (apply checks each action's precondition again, level-triggered;
a claim reads its session), decoded into the same types.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract

from reconciler import DEFAULT_STATE_DIR, EndpointUnusable, ReconcileError
from reconciler.chain import structs
from reconciler.chain.artifacts import load_artifact
from reconciler.chain.model_index import MODEL_PAGE, ModelIndex, index_path
from reconciler.chain.networks import Network
from reconciler.chain.rpc import Batch, RpcError, connect_all, endpoint_of, value
from reconciler.chain.structs import Unreadable
from reconciler.desired.model import Desired
from reconciler.market.ids import checksum, norm_hex
from reconciler.observe.model import (
    BidState,
    ChainState,
    LiveSession,
    MarketParams,
    ModelState,
    ModelStats,
    ProviderState,
    SessionState,
)

BID_PAGE = 1000
ACTIVE_PAGE = 100  # active bids per page when one model's bid is looked for
SESSION_PAGE = 200
DELEGATION_RIGHTS = ("provider", "model", "marketplace", "session")  # the delegate.xyz rights read for a signer
GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"
GAS_PRICE_ORACLE_ABI = [
    {
        "type": "function",
        "name": "getL1Fee",
        "stateMutability": "view",
        "inputs": [{"name": "_data", "type": "bytes"}],
        "outputs": [{"name": "", "type": "uint256"}],
    }
]
# Typical signed transaction sizes (bytes) per kind, for the OP-stack L1 data fee quote.
TX_BYTES = {"mor.approve": 110, "model.register": 420, "provider.register": 200, "bid.post": 140}


class ChainCheckError(EndpointUnusable):
    """The node or the contracts are not what the desired state says (wrong chain, no code, other MOR)."""


def model_registered_topic() -> str:
    return "0x" + keccak(text="ModelRegisteredUpdated(address,bytes32)").hex()


def right_hash(name: str) -> bytes:
    return keccak(text=f"delegation.rules.{name}")


@dataclass(frozen=True)
class ChainReader:
    w3: Web3
    network: Network
    state_dir: Path | None = DEFAULT_STATE_DIR  # where the model index is kept (None: nowhere)
    write_index: bool = True  # False: the index in state_dir is read if there, never written (status, import)

    @classmethod
    def connect(
        cls,
        network: Network,
        timeout: float = 30.0,
        state_dir: Path | None = DEFAULT_STATE_DIR,
        write_index: bool = True,
    ) -> ChainReader:
        return cls(connect_all(network.endpoints(), timeout), network, state_dir, write_index)

    @cached_property
    def market(self) -> Contract:
        """The Diamond (the marketplace's facets), for batched reads."""
        return self.w3.eth.contract(address=Web3.to_checksum_address(self.network.diamond), abi=_market_abi())

    @cached_property
    def mor(self) -> Contract:
        return self.w3.eth.contract(
            address=Web3.to_checksum_address(self.network.mor), abi=load_artifact("MorToken").abi
        )

    @property
    def round_trips(self) -> int:
        p = endpoint_of(self.w3)
        return p.stats.round_trips if p is not None else 0

    def observe(self, desired: Desired, all_sessions: bool = False) -> ChainState:
        """One reading pinned to the latest block. `all_sessions` reads every session the provider ever had
        (for claims of old expired sessions) instead of stopping at the max session duration."""
        got = self.observe_many([desired], all_sessions)[0]
        if isinstance(got, ReconcileError):
            raise got
        return got

    def observe_many(
        self, desireds: Sequence[Desired], all_sessions: bool = False
    ) -> list[ChainState | ReconcileError]:
        """The readings of several providers on this network, pinned to one block and sent together: each round
        of the reading is one batch for all of them, so the round trips do not grow with the number of providers
        (an endpoint capping its batches splits them: the requests grow as the calls over the cap). The
        registry's list is read once for all. A provider whose reading fails gets its error, the others their
        state; a failure of the endpoint fails every one still reading."""
        try:
            head = self._head()
        except ReconcileError as exc:
            return [exc for _ in desireds]
        index_file = index_path(self.state_dir, head.chain_id, self.network.diamond) if self.state_dir else None
        registry = _Registry(ModelIndex.load(index_file, self.write_index))
        readings = [self._reading(d, head, registry, all_sessions) for d in desireds]
        return _lockstep(self.w3, readings, registry)

    def _head(self) -> _Head:
        """Round 1: where and when (one for every provider read together)."""
        net = self.network
        b = Batch(self.w3)
        b.add("eth_getBlockByNumber", ["latest", False], label="latest block")
        b.add("eth_chainId", [], lambda r: int(r, 16))
        b.add("eth_getCode", [net.diamond, "latest"], label="code at the Diamond")
        b.add("eth_gasPrice", [], lambda r: int(r, 16))
        block, chain_id, code, gas_price = b.run()
        if chain_id != net.chain_id:
            raise ChainCheckError(
                f"the RPC node is on chain {chain_id}, but network {net.name} is chain {net.chain_id}; refusing"
            )
        if code in (None, "0x", ""):
            raise ChainCheckError(f"there is no contract code at the Diamond address {net.diamond} on chain {chain_id}")
        return _Head(block, chain_id, int(gas_price))

    def _reading(self, desired: Desired, head: _Head, registry: _Registry, all_sessions: bool) -> _Reading:
        """One provider's reading from round 2 on: yields each round's batch, is sent its answers."""
        w3, net = self.w3, self.network
        market, mor = self.market, self.mor
        provider = checksum(desired.provider.address)
        signer = checksum(desired.signer.address)
        block, chain_id, gas_price = head.block, head.chain_id, head.gas_price
        number = int(block["number"], 16)
        pin = number
        lists = not registry.has_lead  # the first reading (the lead) lists the registry's ids for all of them
        registry.has_lead = True

        # round 2: everything whose address is known
        desired_ids = sorted({m.model_id for m in desired.models})
        b = Batch(w3, defer_errors=True)
        b.call(market, "getToken", [], pin, "getToken()")
        b.call(market, "getBidFee", [], pin, "getBidFee()")
        b.call(market, "getProviderMinimumStake", [], pin)
        b.call(market, "getModelMinimumStake", [], pin)
        b.call(market, "getMinMaxBidPricePerSecond", [], pin)
        b.call(market, "getProvider", [provider], pin, raw=True)
        b.call(market, "getProviderActiveBids", [provider, 0, BID_PAGE], pin)
        b.call(mor, "balanceOf", [provider], pin, "MOR balanceOf(provider)")
        b.call(mor, "allowance", [provider, market.address], pin, "MOR allowance(provider, Diamond)")
        b.add("eth_getBalance", [signer, hex(pin)], lambda r: int(r, 16), "ETH balance of the signer")
        delegate = desired.delegate_mode
        if delegate:
            for r in DELEGATION_RIGHTS:
                b.call(market, "isRightsDelegated", [signer, provider, right_hash(r)], pin, f"isRightsDelegated({r})")
        for mid in desired_ids:
            b.call(market, "getModel", [bytes.fromhex(mid[2:])], pin, f"getModel({mid[:10]}…)", raw=True)
        index = registry.index
        ids_offset = index.next_offset()
        ids_at = b.call(market, "getModelIds", [ids_offset, MODEL_PAGE], pin, "getModelIds") if lists else -1
        l1_kinds = list(TX_BYTES) if net.op_stack else []
        oracle = w3.eth.contract(address=Web3.to_checksum_address(GAS_PRICE_ORACLE), abi=GAS_PRICE_ORACLE_ABI)
        for kind in l1_kinds:
            b.call(oracle, "getL1Fee", [b"\x01" * TX_BYTES[kind]], pin, "GasPriceOracle.getL1Fee")
        b.call(market, "getMaxSessionDuration", [], pin)
        b.call(market, "getProviderSessions", [provider, 0, 0], pin, "getProviderSessions(total)")
        results = yield b
        token = results[0]
        if isinstance(token, RpcError):
            raise ChainCheckError(f"the contract at {net.diamond} does not answer getToken(): is it the Diamond?")
        if checksum(token) != checksum(net.mor):
            raise ChainCheckError(f"the Diamond's getToken() is {token}, not the configured MOR {net.mor}; refusing")
        if lists:
            if isinstance(results[ids_at], RpcError):
                raise ChainCheckError(f"the Diamond at {net.diamond} does not answer getModelIds(offset, limit)")
            page, ids_total = results[ids_at]
            ids = [norm_hex("0x" + bytes(i).hex()) for i in page]
            yield from self._model_ids(market, pin, index, ids_offset, ids, int(ids_total))
            registry.unknown = [i for i in index.unknown() if i not in desired_ids]  # those are read as declared
            registry.listed = True
        while not registry.listed:  # the lead reads more pages of the list: wait (no round trip of our own)
            if registry.failed is not None:
                raise registry.failed
            yield Batch(w3)
        it = iter(value(r) for k, r in enumerate(results) if k != ids_at)
        token, fee, pmin, mmin, (lo_price, hi_price), prov, (bid_ids, bid_total), balance, allowance, eth = (
            next(it) for _ in range(10)
        )
        delegation = {r: bool(next(it)) for r in DELEGATION_RIGHTS} if delegate else None
        notes: list[str] = []  # what others wrote that was skipped or is shown repaired
        models: dict[str, ModelState] = {}
        for mid in desired_ids:
            m = _declared_model(mid, next(it), notes)
            if m is not None:
                models[mid] = m
        for mid, m in models.items():
            index.owners[mid] = m.owner
        unknown, registry.unknown = registry.unknown, []  # the first reading to get here reads them for all
        own = set(index.owned_by(provider))
        l1 = {kind: int(next(it)) for kind in l1_kinds}
        max_duration = int(next(it))
        _, sessions_total = next(it)
        now = int(block["timestamp"], 16)
        cutoff = None if all_sessions else now - max_duration

        # round 3 (and more only past BID_PAGE active bids): the bids and the models discovered
        all_bid_ids = list(bid_ids)
        offset = BID_PAGE
        while offset < bid_total:
            b = Batch(w3)
            b.call(market, "getProviderActiveBids", [provider, offset, BID_PAGE], pin)
            more, _ = (yield b)[0]
            all_bid_ids += list(more)
            offset += BID_PAGE
        b = Batch(w3, defer_errors=True)  # one model that cannot be read costs that model only
        for bid in all_bid_ids:
            b.call(market, "getBid", [bid], pin, "getBid", raw=True)
        extra = sorted(own - set(models))
        for mid in extra + unknown:
            b.call(market, "getModel", [bytes.fromhex(mid[2:])], pin, f"getModel({mid[:10]}…)", raw=True)
        stats_ids = sorted(set(models) | set(extra))
        for mid in stats_ids:
            b.call(market, "getProviderModelStats", [bytes.fromhex(mid[2:]), provider], pin, "getProviderModelStats")
        first = max(int(sessions_total) - SESSION_PAGE, 0)
        if sessions_total:
            b.call(market, "getProviderSessions", [provider, first, int(sessions_total) - first], pin)
        results = yield b
        r3 = iter(results)
        bids = {bd.bid_id: bd for bd in (_bid("0x" + bytes(bid).hex(), value(next(r3))) for bid in all_bid_ids)}
        for mid in extra:
            m = _lenient_model(mid, next(r3), notes)
            if m is not None:
                models[mid] = m
        for mid in unknown:
            answer = next(r3)
            owner = _model_owner(mid, answer, notes)  # of a model nobody declared, only its owner is read
            if owner is not None:
                index.owners[mid] = owner
                registry.answers[mid] = answer
        index.save()
        found: list[str] = []  # models the provider owns that were not known before
        for mid, answer in registry.answers.items():
            if index.owners.get(mid) == provider and mid not in models:
                m = _lenient_model(mid, answer, notes)
                if m is not None:
                    models[mid] = m
                    found.append(mid)
        stats = {mid: _stats(mid, value(next(r3))) for mid in stats_ids}
        first_ids = list(value(next(r3))[0]) if sessions_total else []

        # round 4: the sessions, newest first, back to the window's start (more pages only past SESSION_PAGE)
        raw_sessions = yield from self._sessions(market, provider, pin, int(sessions_total), cutoff, first_ids)

        # round 5 (only when needed): bids no longer active that sessions are on, models nobody declared
        session_bids = sorted({"0x" + bytes(raw[1]).hex() for _, raw in raw_sessions} - set(bids))
        missing = sorted({bd.model_id for bd in bids.values()} - set(models))
        if session_bids or missing or found:
            b = Batch(w3, defer_errors=True)
            for bid_id in session_bids:
                b.call(market, "getBid", [bytes.fromhex(bid_id[2:])], pin, "getBid", raw=True)
            for mid in missing:  # bids on models neither declared nor registered by this owner
                b.call(market, "getModel", [bytes.fromhex(mid[2:])], pin, f"getModel({mid[:10]}…)", raw=True)
                b.call(market, "getProviderModelStats", [bytes.fromhex(mid[2:]), provider], pin)
            for mid in found:
                b.call(market, "getProviderModelStats", [bytes.fromhex(mid[2:]), provider], pin)
            r5 = iter((yield b))
            for bid_id in session_bids:
                bids[bid_id] = _bid(bid_id, value(next(r5)))
            for mid in missing:
                m = _lenient_model(mid, next(r5), notes)
                if m is not None:
                    models[mid] = m
                stats[mid] = _stats(mid, value(next(r5)))
            for mid in found:
                stats[mid] = _stats(mid, value(next(r5)))
        sessions = tuple(_session("0x" + bytes(sid).hex(), raw, bids) for sid, raw in raw_sessions)
        live: dict[str, list[LiveSession]] = {}
        for se in sessions:
            if se.live(now):
                live.setdefault(se.bid_id, []).append(LiveSession(se.session_id, se.ends_at))
        # active bids, and deleted ones only while they carry live sessions (a drain must stay visible)
        kept = [
            replace(bd, live_sessions=tuple(live.get(bd.bid_id, ())))
            for bd in bids.values()
            if bd.active or bd.bid_id in live
        ]
        return ChainState(
            chain_id=chain_id,
            block_number=number,
            block_hash=str(block["hash"]),
            block_timestamp=int(block["timestamp"], 16),
            market=MarketParams(pmin, mmin, fee, lo_price, hi_price),
            provider=_provider(provider, prov, notes),
            models=tuple(models[k] for k in sorted(models)),
            bids=tuple(sorted(kept, key=lambda x: x.bid_id)),
            payer_balance=int(balance),
            payer_allowance=int(allowance),
            signer_eth_balance=int(eth),
            delegation=delegation,
            fee_per_gas=int(gas_price),
            l1_fee_by_kind=l1,
            rpc_round_trips=self.round_trips,
            max_session_duration=max_duration,
            sessions=sessions,
            sessions_total=int(sessions_total),
            model_stats=tuple(stats[k] for k in sorted(stats) if stats[k].total_count or k in models),
            network_name=net.name,
            diamond=checksum(net.diamond),
            mor=checksum(net.mor),
            notes=tuple(dict.fromkeys(notes)),
        )

    def _model_ids(
        self, market: Any, pin: int, index: ModelIndex, offset: int, page: list[str], total: int
    ) -> Generator[Batch, list[Any], None]:
        """Bring `index.ids` up to the registry's `total`: the pages past round 2's in one more round (and the
        whole list again, first, when round 2's answer showed the saved index is not this chain's)."""
        if not index.extend(offset, page, total):
            b = Batch(self.w3)
            b.call(market, "getModelIds", [0, MODEL_PAGE], pin, "getModelIds")
            first, total = (yield b)[0]
            index.extend(0, [norm_hex("0x" + bytes(i).hex()) for i in first], int(total))
        if len(index.ids) < total:
            b = Batch(self.w3)
            for off in range(len(index.ids), total, MODEL_PAGE):
                b.call(market, "getModelIds", [off, MODEL_PAGE], pin, "getModelIds")
            for more, _ in (yield b):
                index.ids += [norm_hex("0x" + bytes(i).hex()) for i in more]

    def _sessions(
        self, market: Any, provider: str, pin: int, total: int, cutoff: int | None, first_ids: list[bytes]
    ) -> Generator[Batch, list[Any], list[tuple[bytes, Any]]]:
        """(id, raw getSession) newest first, stopping at the first opened before `cutoff` (None: read all).
        Each round reads one page of sessions and prefetches the ids of the page before it."""
        out: list[tuple[bytes, Any]] = []
        end, ids = total, first_ids
        while ids:
            start = end - len(ids)
            b = Batch(self.w3)
            newest_first = list(reversed(ids))
            for sid in newest_first:
                b.call(market, "getSession", [sid], pin, "getSession")
            before = max(start - SESSION_PAGE, 0)
            if start > 0:
                b.call(market, "getProviderSessions", [provider, before, start - before], pin)
            results = yield b
            for sid, raw in zip(newest_first, results, strict=False):
                if cutoff is not None and int(raw[6]) < cutoff:
                    return out
                out.append((sid, raw))
            if start == 0:
                return out
            end, ids = start, list(results[-1][0])
        return out

    def read_session(self, session_id: str, provider: str) -> tuple[int, SessionState, ProviderState | None]:
        """(block timestamp, the session, the provider) in one round trip, pinned to the latest block: what a
        claim must be decided on just before it is sent (never on an older reading)."""
        w3, market = self.w3, self.market
        block = w3.eth.get_block("latest")
        pin = int(block["number"])
        b = Batch(w3)
        b.call(market, "getSession", [bytes.fromhex(session_id[2:])], pin, "getSession")
        b.call(market, "getProvider", [checksum(provider)], pin, "getProvider", raw=True)
        raw, prov = b.run()
        b = Batch(w3)
        b.call(market, "getBid", [bytes(raw[1])], pin, "getBid", raw=True)
        bid_id = "0x" + bytes(raw[1]).hex()
        bid = _bid(bid_id, b.run()[0])
        return (
            int(block["timestamp"]),
            _session(session_id, raw, {bid_id: bid}),
            _provider(checksum(provider), prov, []),
        )

    # --- one thing, now ---------------------------------------------------------------------------------------

    def _now(self, contract: Contract, fn: str, args: list[Any], label: str = "", raw: bool = False) -> Any:
        """One read at the latest block."""
        b = Batch(self.w3)
        b.call(contract, fn, args, "latest", label, raw)
        return b.run()[0]

    def allowance(self, owner: str) -> int:
        """The MOR `owner` lets the Diamond spend."""
        return int(self._now(self.mor, "allowance", [checksum(owner), self.market.address], "MOR allowance"))

    def provider(self, address: str) -> ProviderState | None:
        """The provider's registration (None: never registered; a deregistered one is `is_deleted`)."""
        return _provider(checksum(address), self._now(self.market, "getProvider", [checksum(address)], raw=True), [])

    def model(self, model_id: str) -> ModelState | None:
        """The model's registration (None: never registered; a deregistered one is `is_deleted`)."""
        answer = self._now(self.market, "getModel", [_b32(model_id)], f"getModel({model_id[:10]}…)", raw=True)
        return _declared_model(model_id, answer, [])

    def active_bid(self, provider: str, model_id: str) -> BidState | None:
        """The provider's active bid on a model, if any: its active bids a page at a time, each page's bids read
        in one round trip."""
        offset = 0
        while True:
            ids, total = self._now(self.market, "getProviderActiveBids", [checksum(provider), offset, ACTIVE_PAGE])
            b = Batch(self.w3)
            for bid_id in ids:
                b.call(self.market, "getBid", [bid_id], "latest", "getBid", raw=True)
            for bid_id, raw in zip(ids, b.run(), strict=True):
                bid = _bid("0x" + bytes(bid_id).hex(), raw)
                if bid.model_id == model_id.lower() and bid.active:
                    return bid
            offset += ACTIVE_PAGE
            if offset >= int(total):
                return None

    def bid_active(self, bid_id: str) -> bool:
        return bool(self._now(self.market, "isBidActive", [_b32(bid_id)]))

    def model_active(self, model_id: str) -> bool:
        return bool(self._now(self.market, "getIsModelActive", [_b32(model_id)]))

    def provider_active(self, address: str) -> bool:
        return bool(self._now(self.market, "getIsProviderActive", [checksum(address)]))

    def head(self, signer: str) -> tuple[int, int]:
        """(the latest block's number, the signer's next nonce counting its pending transactions)."""
        b = Batch(self.w3)
        b.add("eth_blockNumber", [], lambda r: int(r, 16))
        b.add("eth_getTransactionCount", [checksum(signer), "pending"], lambda r: int(r, 16))
        block, nonce = b.run()
        return int(block), int(nonce)

    def funds(self, signer: str, provider: str) -> tuple[int, int]:
        """(the signer's native coin, the provider's MOR), in wei."""
        b = Batch(self.w3)
        b.add("eth_getBalance", [checksum(signer), "latest"], lambda r: int(r, 16), "ETH balance of the signer")
        b.call(self.mor, "balanceOf", [checksum(provider)], "latest", "MOR balanceOf(provider)")
        eth, mor = b.run()
        return int(eth), int(mor)


_Reading = Generator[Batch, list[Any], ChainState]  # one provider's reading: yields a round, is sent its answers


@dataclass(frozen=True)
class _Head:
    """Round 1's answers, shared by every provider read together: the block they are all pinned to."""

    block: Any
    chain_id: int
    gas_price: int


@dataclass
class _Registry:
    """The registry's list, read once for the providers of one network: the first reading (`lead`) lists the
    ids, the first to build its round 3 reads the owners of the ids not seen before (`unknown`), and every
    reading finds its own new models among their `answers`."""

    index: ModelIndex
    has_lead: bool = False
    listed: bool = False
    failed: ReconcileError | None = None
    unknown: list[str] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)


def _lockstep(w3: Web3, readings: list[_Reading], registry: _Registry) -> list[ChainState | ReconcileError]:
    """Run the readings round by round, each round's batches merged into one (one round trip for all)."""
    out: list[ChainState | ReconcileError | None] = [None] * len(readings)
    asked: dict[int, Batch] = {}

    def step(k: int, move: Any) -> None:
        try:
            asked[k] = move()
        except StopIteration as done:
            out[k] = done.value
        except ReconcileError as exc:
            out[k] = exc
            if k == 0 and not registry.listed:  # the lead failed before listing: so do the waiting ones
                registry.failed = exc

    for k, reading in enumerate(readings):
        step(k, reading.__next__)
    while asked:
        round_, merged = list(asked.items()), Batch(w3, defer_errors=True)
        asked.clear()
        for _, b in round_:
            merged.items += b.items
        try:
            answers = merged.run()
        except ReconcileError as exc:  # the endpoint failed: every reading still going fails with it
            for k, _ in round_:
                readings[k].close()
                out[k] = exc
            continue
        at = 0
        for k, b in round_:
            mine, at = answers[at : at + len(b.items)], at + len(b.items)
            failed = next((x for x in mine if isinstance(x, RpcError)), None)
            if failed is not None and not b.defer_errors:
                step(k, partial(readings[k].throw, failed))
            else:
                step(k, partial(readings[k].send, mine))
    return [x for x in out if x is not None]


def _market_abi() -> Any:
    return load_artifact("Marketplace").abi


def _b32(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def _provider(address: str, answer: bytes, notes: list[str]) -> ProviderState | None:
    """The provider's registration; an endpoint that is not UTF-8 or too long is shown repaired, with a note."""
    got = structs.provider(address, answer)
    if isinstance(got, Unreadable):
        raise ChainCheckError(f"getProvider({address}): the answer is not a provider ({got.why})")
    notes.extend(f"provider {address}: {r}" for r in got.repaired)
    return got.value


def _session(session_id: str, raw: Any, bids: dict[str, BidState]) -> SessionState:
    user, bid_id, stake, _receipt, closeout, withdrawn, opened, ends, closed, _active, direct = raw
    bid = bids.get("0x" + bytes(bid_id).hex())
    return SessionState(
        session_id=session_id,
        bid_id="0x" + bytes(bid_id).hex(),
        model_id=bid.model_id if bid else "",
        user=checksum(user),
        stake=int(stake),
        price_per_second=bid.price_per_second if bid else 0,
        provider_withdrawn=int(withdrawn),
        opened_at=int(opened),
        ends_at=int(ends),
        closed_at=int(closed),
        direct_payment=bool(direct),
        dispute=int(closeout) == 1,
    )


def _stats(model_id: str, raw: Any) -> ModelStats:
    tps, ttft, duration, success, total = raw
    return ModelStats(model_id, int(tps[0]), int(ttft[0]), int(duration), int(success), int(total))


def _declared_model(model_id: str, answer: bytes, notes: list[str]) -> ModelState | None:
    """A model the desired state names (or apply checks): read in full; an answer that is not a model is an error."""
    got = structs.model(model_id, answer)
    if isinstance(got, Unreadable):
        raise ChainCheckError(f"getModel({model_id}): the answer is not a model ({got.why})")
    notes.extend(f"model {model_id}: {r}" for r in got.repaired)
    return got.value


def _lenient_model(model_id: str, answer: bytes | RpcError, notes: list[str]) -> ModelState | None:
    """A model nobody declared, read in full (the provider's own, or one its bids are on): one that cannot be
    read at all is skipped with one note naming it, and costs nothing else."""
    if isinstance(answer, RpcError):
        notes.append(f"model {model_id} cannot be read ({answer}); skipped")
        return None
    got = structs.model(model_id, answer)
    if isinstance(got, Unreadable):
        notes.append(f"model {model_id} cannot be read (not a model: {got.why}); skipped")
        return None
    notes.extend(f"model {model_id}: {r}" for r in got.repaired)
    return got.value


def _model_owner(model_id: str, answer: bytes | RpcError, notes: list[str]) -> str | None:
    """The owner of a registry id seen for the first time (None: not known); nothing else of it is read."""
    owner = answer if isinstance(answer, RpcError) else structs.model_owner(answer)
    if isinstance(owner, (RpcError, Unreadable)):
        why = owner if isinstance(owner, RpcError) else f"not a model: {owner.why}"
        notes.append(f"model {model_id} cannot be read ({why}); skipped")
        return None
    return owner


def _bid(bid_id: str, answer: bytes) -> BidState:
    got = structs.bid(bid_id, answer)
    if isinstance(got, Unreadable):
        raise ChainCheckError(f"getBid({bid_id}): the answer is not a bid ({got.why})")
    return got

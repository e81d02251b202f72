"""Read everything the planner needs from the chain in a constant number of batched round trips.

Round 1: latest block, chain id, code at the Diamond, gas price. Round 2 (pinned to that block): token,
fee, minimums, price bounds, provider, its active bid ids, MOR balance and allowance, delegation rights,
the desired models, and the owner's `ModelRegisteredUpdated` logs (paged by block range). Round 3: every
active bid and every model discovered in round 2. A provider with more active bids than one page costs one
more round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from web3 import Web3

from reconciler.artifacts import load_artifact
from reconciler.desired.model import Desired
from reconciler.gas import GAS_BY_KIND
from reconciler.ids import checksum, norm_hex
from reconciler.networks import Network
from reconciler.observe.rpc import Batch, CountingHTTPProvider, RpcError, value
from reconciler.observed import BidState, ChainState, MarketParams, ModelState, ProviderState

BID_PAGE = 1000
RIGHTS = ("provider", "model", "marketplace")
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
ZERO_ADDRESS = "0x" + "00" * 20


class ChainCheckError(RuntimeError):
    """The node or the contracts are not what the desired state says (wrong chain, no code, other MOR)."""


def model_registered_topic() -> str:
    return "0x" + keccak(text="ModelRegisteredUpdated(address,bytes32)").hex()


def right_hash(name: str) -> bytes:
    return keccak(text=f"delegation.rules.{name}")


@dataclass(frozen=True)
class ChainReader:
    w3: Web3
    network: Network

    @classmethod
    def connect(cls, network: Network, timeout: float = 30.0) -> ChainReader:
        provider = CountingHTTPProvider(network.rpc_url, request_kwargs={"timeout": timeout})
        return cls(Web3(provider), network)

    @property
    def round_trips(self) -> int:
        p = self.w3.provider
        return p.round_trips if isinstance(p, CountingHTTPProvider) else 0

    def observe(self, desired: Desired) -> ChainState:
        w3, net = self.w3, self.network
        market = w3.eth.contract(address=Web3.to_checksum_address(net.diamond), abi=load_artifact("Marketplace").abi)
        mor = w3.eth.contract(address=Web3.to_checksum_address(net.mor), abi=load_artifact("MorToken").abi)
        provider = checksum(desired.provider.address)
        signer = checksum(desired.signer.address)

        # round 1: where and when
        b = Batch(w3)
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
        number = int(block["number"], 16)
        pin = number

        # round 2: everything whose address is known
        desired_ids = sorted({m.model_id for m in desired.models})
        b = Batch(w3, defer_errors=True)
        b.call(market, "getToken", [], pin, "getToken()")
        b.call(market, "getBidFee", [], pin, "getBidFee()")
        b.call(market, "getProviderMinimumStake", [], pin)
        b.call(market, "getModelMinimumStake", [], pin)
        b.call(market, "getMinMaxBidPricePerSecond", [], pin)
        b.call(market, "getProvider", [provider], pin)
        b.call(market, "getProviderActiveBids", [provider, 0, BID_PAGE], pin)
        b.call(mor, "balanceOf", [provider], pin, "MOR balanceOf(provider)")
        b.call(mor, "allowance", [provider, market.address], pin, "MOR allowance(provider, Diamond)")
        b.add("eth_getBalance", [signer, hex(pin)], lambda r: int(r, 16), "ETH balance of the signer")
        delegate = desired.delegate_mode
        if delegate:
            for r in RIGHTS:
                b.call(market, "isRightsDelegated", [signer, provider, right_hash(r)], pin, f"isRightsDelegated({r})")
        for mid in desired_ids:
            b.call(market, "getModel", [bytes.fromhex(mid[2:])], pin, f"getModel({mid[:10]}…)")
        owner_topic = "0x" + "00" * 12 + provider[2:].lower()
        step = max(net_log_range(desired), 1)
        log_ranges = [(s, min(s + step - 1, pin)) for s in range(desired.network.from_block, pin + 1, step)]
        for lo, hi in log_ranges:
            b.add(
                "eth_getLogs",
                [
                    {
                        "address": net.diamond,
                        "topics": [model_registered_topic(), owner_topic],
                        "fromBlock": hex(lo),
                        "toBlock": hex(hi),
                    }
                ],
                label=f"ModelRegisteredUpdated logs {lo}..{hi}",
            )
        l1_kinds = list(TX_BYTES) if net.op_stack else []
        oracle = w3.eth.contract(address=Web3.to_checksum_address(GAS_PRICE_ORACLE), abi=GAS_PRICE_ORACLE_ABI)
        for kind in l1_kinds:
            b.call(oracle, "getL1Fee", [b"\x01" * TX_BYTES[kind]], pin, "GasPriceOracle.getL1Fee")
        results = b.run()
        token = results[0]
        if isinstance(token, RpcError):
            raise ChainCheckError(f"the contract at {net.diamond} does not answer getToken(): is it the Diamond?")
        if checksum(token) != checksum(net.mor):
            raise ChainCheckError(f"the Diamond's getToken() is {token}, not the configured MOR {net.mor}; refusing")
        failed_log = next((r for r in results if isinstance(r, RpcError) and "logs" in str(r)), None)
        if failed_log is not None:
            raise RpcError(
                f"{failed_log}; the node may limit eth_getLogs: lower network.logBlockRange "
                f"(now {desired.network.log_block_range}) or raise network.fromBlock"
            )
        it = iter(value(r) for r in results)
        token, fee, pmin, mmin, (lo_price, hi_price), prov, (bid_ids, bid_total), balance, allowance, eth = (
            next(it) for _ in range(10)
        )
        delegation = {r: bool(next(it)) for r in RIGHTS} if delegate else None
        models: dict[str, ModelState] = {}
        for mid in desired_ids:
            m = _model(mid, next(it))
            if m is not None:
                models[mid] = m
        discovered: set[str] = set()
        for _ in log_ranges:
            for log in next(it):
                discovered.add(norm_hex(log["topics"][2]))
        l1 = {kind: int(next(it)) for kind in l1_kinds}
        l1_by_kind = {k.value: l1.get(k.value, l1.get("bid.post", 0)) for k in GAS_BY_KIND} if l1 else {}

        # round 3 (and more only past BID_PAGE active bids): the bids and the models discovered
        all_bid_ids = list(bid_ids)
        offset = BID_PAGE
        while offset < bid_total:
            b = Batch(w3)
            b.call(market, "getProviderActiveBids", [provider, offset, BID_PAGE], pin)
            more, _ = b.run()[0]
            all_bid_ids += list(more)
            offset += BID_PAGE
        b = Batch(w3)
        for bid in all_bid_ids:
            b.call(market, "getBid", [bid], pin, "getBid")
        extra = sorted(discovered - set(models))
        for mid in extra:
            b.call(market, "getModel", [bytes.fromhex(mid[2:])], pin, f"getModel({mid[:10]}…)")
        results = b.run()
        bids = [_bid("0x" + bytes(bid).hex(), raw) for bid, raw in zip(all_bid_ids, results, strict=False)]
        for mid, raw in zip(extra, results[len(all_bid_ids) :], strict=True):
            m = _model(mid, raw)
            if m is not None:
                models[mid] = m
        missing = sorted({bd.model_id for bd in bids} - set(models))
        if missing:  # bids on models neither declared nor registered by this owner (someone else's model)
            b = Batch(w3)
            for mid in missing:
                b.call(market, "getModel", [bytes.fromhex(mid[2:])], pin)
            for mid, raw in zip(missing, b.run(), strict=True):
                m = _model(mid, raw)
                if m is not None:
                    models[mid] = m
        return ChainState(
            chain_id=chain_id,
            block_number=number,
            block_hash=str(block["hash"]),
            block_timestamp=int(block["timestamp"], 16),
            market=MarketParams(pmin, mmin, fee, lo_price, hi_price),
            provider=_provider(provider, prov),
            models=tuple(models[k] for k in sorted(models)),
            bids=tuple(sorted(bids, key=lambda x: x.bid_id)),
            payer_balance=int(balance),
            payer_allowance=int(allowance),
            signer_eth_balance=int(eth),
            delegation=delegation,
            fee_per_gas=int(gas_price),
            l1_fee_by_kind=l1_by_kind,
            rpc_round_trips=self.round_trips,
            network_name=net.name,
            diamond=checksum(net.diamond),
            mor=checksum(net.mor),
        )


def net_log_range(desired: Desired) -> int:
    return desired.network.log_block_range


def _provider(address: str, raw: Any) -> ProviderState | None:
    endpoint, stake, created_at, _limit_end, earned, deleted = raw
    if int(created_at) == 0:
        return None
    return ProviderState(address, str(endpoint), int(stake), int(created_at), int(earned), bool(deleted))


def _model(model_id: str, raw: Any) -> ModelState | None:
    ipfs, fee, stake, owner, name, tags, created_at, deleted = raw
    if int(created_at) == 0 or owner == ZERO_ADDRESS:
        return None
    return ModelState(
        model_id=model_id,
        owner=checksum(owner),
        name=str(name),
        tags=tuple(str(t) for t in tags),
        fee=int(fee),
        stake=int(stake),
        ipfs_cid="0x" + bytes(ipfs).hex(),
        created_at=int(created_at),
        is_deleted=bool(deleted),
    )


def _bid(bid_id: str, raw: Any) -> BidState:
    provider, model_id, price, nonce, created_at, deleted_at = raw
    return BidState(
        bid_id=bid_id,
        provider=checksum(provider),
        model_id="0x" + bytes(model_id).hex(),
        price_per_second=int(price),
        nonce=int(nonce),
        created_at=int(created_at),
        deleted_at=int(deleted_at),
    )

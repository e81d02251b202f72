"""Helpers for the contract behaviour tests.

`Chain` gives the tests the deployed contracts, the funded dev accounts and small helpers: `tx` sends and
returns the receipt with its decoded events, `error` runs a call that must revert and decodes the custom error
by its 4-byte selector (from every artifact's ABI), so tests assert on names and arguments, not on bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode
from eth_utils import event_abi_to_log_topic, function_abi_to_4byte_selector
from web3 import Web3
from web3._utils.events import get_event_data
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError

from reconciler.chain.artifacts import load_artifact
from reconciler.devnet import unlocked
from reconciler.devnet.local import MOR, Deployment, MarketParams

ARTIFACTS = ("MorToken", "DelegateRegistry", "Marketplace")


def _types(inputs: list[dict[str, Any]]) -> list[str]:
    return [i["type"] for i in inputs]


def _error_table() -> dict[bytes, tuple[str, list[str]]]:
    """4-byte selector -> (error name, argument types), over every artifact."""
    table: dict[bytes, tuple[str, list[str]]] = {}
    for name in ARTIFACTS:
        for item in load_artifact(name).abi:
            if item["type"] == "error":
                table[function_abi_to_4byte_selector(item)] = (item["name"], _types(item["inputs"]))
    return table


ERRORS = _error_table()
ZERO = "0x0000000000000000000000000000000000000000"


def decode_error(data: str | bytes) -> tuple[str, tuple[Any, ...]]:
    """Decode revert data into (error name, args); addresses come back checksummed."""
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else data
    if raw[:4] not in ERRORS:
        raise AssertionError(f"revert data {raw.hex()} matches no known custom error")
    name, types = ERRORS[raw[:4]]
    args = decode(types, raw[4:])
    return name, tuple(Web3.to_checksum_address(a) if t == "address" else a for a, t in zip(args, types, strict=True))


@dataclass
class Receipt:
    raw: Any
    events: list[tuple[str, dict[str, Any]]]
    timestamp: int

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


@dataclass
class Chain:
    w3: Web3
    dep: Deployment
    mor: Contract
    registry: Contract
    market: Contract
    accounts: list[str]
    params: MarketParams
    _events: dict[bytes, dict[str, Any]] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        return self.accounts[0]

    def tx(self, fn: ContractFunction, sender: str) -> Receipt:
        """Send fn from sender (an unlocked anvil account); the transaction must succeed."""
        receipt = self.w3.eth.wait_for_transaction_receipt(unlocked.transact(fn, sender))
        assert receipt["status"] == 1
        events = []
        for log in receipt["logs"]:
            abi = self._events.get(bytes(log["topics"][0]))
            assert abi is not None, f"unknown event topic {log['topics'][0].hex()}"
            data = get_event_data(self.w3.codec, abi, log)
            events.append((data["event"], dict(data["args"])))
        timestamp = self.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
        return Receipt(raw=receipt, events=events, timestamp=timestamp)

    def error(self, fn: ContractFunction, sender: str) -> tuple[str, tuple[Any, ...]]:
        """Call fn from sender; it must revert with a custom error, which is returned decoded."""
        try:
            fn.call({"from": sender})
        except ContractLogicError as exc:
            assert isinstance(exc.data, str), f"revert without data: {exc}"
            return decode_error(exc.data)
        raise AssertionError(f"{fn.fn_name} did not revert")

    def approve(self, holder: str, amount: int) -> None:
        self.tx(self.mor.functions.approve(self.market.address, amount), holder)

    def balance(self, who: str) -> int:
        return int(self.mor.functions.balanceOf(who).call())

    # --- the usual setup steps, done the way a provider does them -------------------------------------

    def register_provider(
        self, provider: str, amount: int | None = None, endpoint: str = "node.example:3333"
    ) -> Receipt:
        amount = self.params.provider_min_stake if amount is None else amount
        self.approve(provider, amount)
        return self.tx(self.market.functions.providerRegister(provider, amount, endpoint), provider)

    def register_model(
        self, owner: str, base: bytes = b"\x01" * 32, amount: int | None = None, tags: list[str] | None = None
    ) -> bytes:
        amount = self.params.model_min_stake if amount is None else amount
        self.approve(owner, amount)
        fn = self.market.functions.modelRegister(owner, base, b"\x00" * 32, 0, amount, "llama-3", tags or ["llm"])
        receipt = self.tx(fn, owner)
        return bytes(receipt.events[-1][1]["modelId"])

    def post_bid(self, provider: str, model_id: bytes, price: int | None = None) -> tuple[bytes, Receipt]:
        price = self.params.min_price_per_second if price is None else price
        self.approve(provider, self.params.bid_fee)
        fn = self.market.functions.postModelBid(provider, model_id, price)
        bid_id = bytes(fn.call({"from": provider}))
        return bid_id, self.tx(fn, provider)


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def event_table() -> dict[bytes, dict[str, Any]]:
    """topic0 -> event ABI, over every artifact."""
    table: dict[bytes, dict[str, Any]] = {}
    for name in ARTIFACTS:
        for item in load_artifact(name).abi:
            if item["type"] == "event":
                table[bytes(event_abi_to_log_topic(item))] = item
    return table


__all__ = ["MOR", "ZERO", "Chain", "decode_error"]

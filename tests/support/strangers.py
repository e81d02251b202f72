"""A stranger on a devnet: another dev account writing to the Diamond with calldata it builds itself, so its
strings can be any bytes (the ABI encodes `string` as it encodes `bytes`). Used by the issue-26 devnet rows and
bench/foreign_data.py."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak
from web3 import Web3

from reconciler.devnet import unlocked
from reconciler.market import ids
from tests.support.apply_helpers import MOR, DevnetCase

BLOCK_GAS = 1_000_000_000  # room for a 100 KB name or 10,000 tags in one transaction
STRANGER = 3  # anvil account 3: neither the provider (1) nor its delegate (2)
# the same calldata as modelRegister(address,bytes32,bytes32,uint256,uint256,string,string[]): bytes are not checked
MODEL_REGISTER = keccak(text="modelRegister(address,bytes32,bytes32,uint256,uint256,string,string[])")[:4]
PROVIDER_REGISTER = keccak(text="providerRegister(address,uint256,string)")[:4]


class Stranger:
    """Another dev account writing to the Diamond with calldata it builds itself."""

    def __init__(self, case: DevnetCase, index: int = STRANGER) -> None:
        self.case = case
        self.w3 = case.w3
        self.address = Web3.to_checksum_address(case.info["accounts"][index]["address"])
        self.diamond = Web3.to_checksum_address(case.info["diamond"])
        unlocked.send(self.w3, case.mor().functions.approve(self.diamond, 100 * MOR), self.address)

    def _send(self, data: bytes) -> None:
        tx = {"from": self.address, "to": self.diamond, "data": "0x" + data.hex()}
        gas = int(self.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_transaction({**tx, "gas": gas * 2}))  # type: ignore[typeddict-item]
        assert receipt["status"] == 1

    def model(self, label: str, name: bytes, tags: list[bytes] | None = None) -> str:
        """Register a model named by raw bytes; its id."""
        base = ids.base_model_id_for_name(label)
        args = [self.address, bytes.fromhex(base[2:]), b"\0" * 32, 0, MOR // 10, name, tags or []]
        self._send(
            MODEL_REGISTER + encode(["address", "bytes32", "bytes32", "uint256", "uint256", "bytes", "bytes[]"], args)
        )
        return ids.model_id(self.address, base)

    def deregister(self, model_id: str) -> None:
        unlocked.send(self.w3, self.case.market().functions.modelDeregister(bytes.fromhex(model_id[2:])), self.address)

    def provider(self, endpoint: bytes) -> None:
        self._send(PROVIDER_REGISTER + encode(["address", "uint256", "bytes"], [self.address, MOR // 5, endpoint]))

    def bid(self, model_id: str, price: int) -> None:
        fn = self.case.market().functions.postModelBid(self.address, bytes.fromhex(model_id[2:]), price)
        unlocked.send(self.w3, fn, self.address)


def raise_block_gas(case: DevnetCase, limit: int = BLOCK_GAS) -> None:
    """The devnet's block gas limit (anvil's default 30M holds neither a 100 KB name nor 10,000 tags); it is
    also anvil's cap for an eth_call."""
    assert case.w3.provider.make_request("evm_setBlockGasLimit", [hex(limit)])["result"]  # type: ignore[arg-type]

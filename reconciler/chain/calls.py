"""Calldata for every write the reconciler makes: the Diamond's provider/model/bid functions and MOR approve.

Pure encoding from the committed ABIs (no node needed); the sender (chain/sender.py) signs and sends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from web3 import Web3
from web3.contract import Contract

from reconciler.chain.artifacts import load_artifact
from reconciler.chain.reverts import ErrorDecoder
from reconciler.chain.sender import TxRequest

ZERO32 = "0x" + "00" * 32


def _b32(value: str) -> bytes:
    raw = bytes.fromhex(value[2:] if value.startswith("0x") else value)
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes of hex, got {len(raw)}: {value}")
    return raw


class ChainCalls:
    """Builds TxRequests for one Diamond and its MOR token; `action_id` ties each to its plan action."""

    def __init__(self, diamond: str, mor: str) -> None:
        self.diamond = Web3.to_checksum_address(diamond)
        self.mor = Web3.to_checksum_address(mor)
        w3 = Web3()
        self._market: Contract = w3.eth.contract(address=self.diamond, abi=load_artifact("Marketplace").abi)
        self._token: Contract = w3.eth.contract(address=self.mor, abi=load_artifact("MorToken").abi)

    @cached_property
    def decoder(self) -> ErrorDecoder:
        return ErrorDecoder([load_artifact("Marketplace").abi, load_artifact("MorToken").abi])

    def _market_call(self, action_id: str, action: str, fn: str, args: list[object]) -> TxRequest:
        return TxRequest(action_id, action, self.diamond, self._market.encode_abi(fn, args=args))

    def approve(self, action_id: str, amount: int) -> TxRequest:
        """MOR allowance for the Diamond: exactly `amount` (it replaces, not adds to, the allowance)."""
        return TxRequest(
            action_id, "mor.approve", self.mor, self._token.encode_abi("approve", args=[self.diamond, amount])
        )

    def provider_register(self, action_id: str, provider: str, add_stake: int, endpoint: str, action: str) -> TxRequest:
        return self._market_call(
            action_id, action, "providerRegister", [Web3.to_checksum_address(provider), add_stake, endpoint]
        )

    def provider_deregister(self, action_id: str, provider: str) -> TxRequest:
        return self._market_call(
            action_id, "provider.deregister", "providerDeregister", [Web3.to_checksum_address(provider)]
        )

    def model_register(
        self,
        action_id: str,
        owner: str,
        base_model_id: str,
        ipfs_cid: str,
        fee: int,
        add_stake: int,
        name: str,
        tags: Sequence[str],
        action: str,
    ) -> TxRequest:
        args: list[object] = [
            Web3.to_checksum_address(owner),
            _b32(base_model_id),
            _b32(ipfs_cid or ZERO32),
            fee,
            add_stake,
            name,
            list(tags),
        ]
        return self._market_call(action_id, action, "modelRegister", args)

    def model_deregister(self, action_id: str, model_id: str) -> TxRequest:
        return self._market_call(action_id, "model.deregister", "modelDeregister", [_b32(model_id)])

    def bid_post(self, action_id: str, provider: str, model_id: str, price_per_second: int) -> TxRequest:
        return self._market_call(
            action_id,
            "bid.post",
            "postModelBid",
            [Web3.to_checksum_address(provider), _b32(model_id), price_per_second],
        )

    def bid_delete(self, action_id: str, bid_id: str) -> TxRequest:
        return self._market_call(action_id, "bid.delete", "deleteModelBid", [_b32(bid_id)])

    def claim_for_provider(self, action_id: str, session_id: str) -> TxRequest:
        """Pay the provider what an ended session earned and was not paid yet (capped by stake on chain)."""
        return self._market_call(action_id, "session.claim", "claimForProvider", [_b32(session_id)])

"""Play a Morpheus buyer on the devnet: the provider signs a session approval, the buyer opens a session with it.

On a real network a consumer's proxy-router does this; on the devnet tests need sessions on a provider's bids
to see what the reconciler does with them (drains, claims). The encodings and the EIP-191 signature are the
ones the SessionRouter checks (see contracts/README.md), so the same bytes would pass on the real chain.
The buyer must be an unlocked anvil account; the provider's key only signs, it sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_defunct
from hexbytes import HexBytes
from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.devnet import unlocked


def encode_approval(bid_id: bytes, chain_id: int, user: str, timestamp: int) -> bytes:
    """The provider's approval: abi.encode(bytes32 bidId, uint256 chainId, address user, uint128 timestamp)."""
    return encode(["bytes32", "uint256", "address", "uint128"], [bid_id, chain_id, user, timestamp])


def encode_receipt(session_id: bytes, chain_id: int, timestamp: int, tps_scaled1000: int, ttft_ms: int) -> bytes:
    """The provider's closeout receipt: abi.encode(sessionId, chainId, uint128 timestamp, uint32 tps, uint32 ttft)."""
    return encode(
        ["bytes32", "uint256", "uint128", "uint32", "uint32"],
        [session_id, chain_id, timestamp, tps_scaled1000, ttft_ms],
    )


def sign_message(message: bytes, private_key: str) -> bytes:
    """EIP-191 personal_sign over keccak256(message): the 65-byte r||s||v signature the contract recovers."""
    signed = Account.sign_message(encode_defunct(primitive=Web3.keccak(message)), private_key=private_key)
    return bytes(signed.signature)


@dataclass(frozen=True)
class OpenedSession:
    session_id: bytes
    user: str
    bid_id: bytes
    stake: int
    opened_at: int
    ends_at: int


def _contract(w3: Web3, name: str, address: str) -> Any:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def latest_timestamp(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def open_session(
    w3: Web3,
    diamond: str,
    buyer: str,
    provider_key: str,
    bid_id: bytes,
    amount: int,
    *,
    direct_payment: bool = False,
    approval_timestamp: int | None = None,
) -> OpenedSession:
    """Approve `amount` MOR from `buyer`, have the provider sign an approval for it and open the session.

    `provider_key` is the provider's (or its DELEGATION_RULES_PROVIDER delegate's) private key; it is used
    only to sign and never leaves this function. The session's length follows from `amount` and the bid's
    price (getSessionEnd); the contract refuses a stake that buys less than five minutes.
    """
    market = _contract(w3, "Marketplace", diamond)
    mor = _contract(w3, "MorToken", market.functions.getToken().call())
    buyer = Web3.to_checksum_address(buyer)
    stamp = latest_timestamp(w3) if approval_timestamp is None else approval_timestamp
    approval = encode_approval(bid_id, w3.eth.chain_id, buyer, stamp)
    signature = sign_message(approval, provider_key)
    unlocked.send(w3, mor.functions.approve(market.address, amount), buyer)
    fn = market.functions.openSession(buyer, amount, direct_payment, approval, signature)
    session_id = bytes(fn.call({"from": buyer}))
    unlocked.send(w3, fn, buyer)
    session = market.functions.getSession(session_id).call()
    return OpenedSession(
        session_id=session_id,
        user=buyer,
        bid_id=bid_id,
        stake=amount,
        opened_at=int(session[6]),
        ends_at=int(session[7]),
    )


def stake_for_duration(w3: Web3, diamond: str, bid_id: bytes, seconds: int) -> int:
    """A stake that buys at least `seconds` on the bid if the session opens today (the smallest, to a few wei)."""
    market = _contract(w3, "Marketplace", diamond)
    price = int(market.functions.getBid(bid_id).call()[2])
    now = latest_timestamp(w3) + 1
    per_mor = int(market.functions.stakeToStipend(10**18, now).call())
    if per_mor == 0:
        raise RuntimeError("the compute pool gives no stipend today")
    # stipend(amount) = amount * k (floored); k = per_mor / 1e18, so invert and nudge up past the flooring.
    stake = -(-seconds * price * 10**18 // per_mor)
    while int(market.functions.stakeToStipend(stake, now).call()) // price < seconds:
        stake += 10**12
    return stake


def close_session(
    w3: Web3,
    diamond: str,
    user: str,
    session_id: bytes,
    provider_key: str | None,
    *,
    tps_scaled1000: int = 10_000,
    ttft_ms: int = 500,
) -> None:
    """Close as the user. With the provider's key the receipt is signed (a success in the provider's stats);
    without it, the close carries a signature by the user, which the contract counts as a dispute."""
    market = _contract(w3, "Marketplace", diamond)
    receipt = encode_receipt(session_id, w3.eth.chain_id, latest_timestamp(w3), tps_scaled1000, ttft_ms)
    signature = sign_message(receipt, provider_key) if provider_key else _user_signature(w3, receipt, user)
    unlocked.send(w3, market.functions.closeSession(receipt, signature), Web3.to_checksum_address(user))


def _user_signature(w3: Web3, message: bytes, user: str) -> bytes:
    """A well-formed signature that is not the provider's: the user signs it through anvil's eth_sign."""
    signature = w3.eth.sign(Web3.to_checksum_address(user), data=Web3.keccak(message))
    return bytes(HexBytes(signature))

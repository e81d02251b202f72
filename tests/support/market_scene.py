"""A market scene on a devnet: providers that bid on one model and closed sessions that give them stats.

Each closed session is opened by an unlocked buyer with the provider's signed approval and closed at an exact
block time with a receipt the provider signs (a success: tps and ttft enter the stats) or the buyer signs (a
dispute: only the provider's totalCount moves), as a buyer's router does. The stats the contracts keep from it
are written out in the tests that use this, computed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.devnet import unlocked
from reconciler.devnet.buyer import encode_receipt, open_session, sign_message, stake_for_duration
from reconciler.devnet.local import dev_accounts

KEYS = {a.address: a.private_key for a in dev_accounts()}


@dataclass(frozen=True)
class Closed:
    """One session: how long it lasted (closedAt - openedAt, exactly) and what its receipt says."""

    seconds: int
    tps_scaled1000: int = 10_000
    ttft_ms: int = 500
    signed_by_provider: bool = True  # False: the buyer signs, the contract counts a dispute


def market_contract(w3: Web3, diamond: str) -> Any:
    return w3.eth.contract(address=Web3.to_checksum_address(diamond), abi=load_artifact("Marketplace").abi)


def register_and_bid(w3: Web3, diamond: str, provider: str, stake: int, model_id: bytes, price: int) -> bytes:
    """Register `provider` (an unlocked dev account) with `stake` and post a bid; returns the bid id."""
    market = market_contract(w3, diamond)
    mor = w3.eth.contract(address=market.functions.getToken().call(), abi=load_artifact("MorToken").abi)
    fee = int(market.functions.getBidFee().call())
    unlocked.send(w3, mor.functions.approve(market.address, stake + fee), provider)
    unlocked.send(w3, market.functions.providerRegister(provider, stake, "competitor.example:3333"), provider)
    fn = market.functions.postModelBid(provider, model_id, price)
    bid_id = bytes(fn.call({"from": provider}))
    unlocked.send(w3, fn, provider)
    return bid_id


def close_sessions(
    w3: Web3, diamond: str, buyer: str, provider_key: str, bid_id: bytes, sessions: list[Closed]
) -> None:
    """Open and close each session on the bid, in order, at exact block times."""
    market = market_contract(w3, diamond)
    for s in sessions:
        stake = stake_for_duration(w3, diamond, bid_id, 300)
        opened = open_session(w3, diamond, buyer, provider_key, bid_id, stake)
        closed_at = opened.opened_at + s.seconds
        receipt = encode_receipt(opened.session_id, w3.eth.chain_id, closed_at, s.tps_scaled1000, s.ttft_ms)
        key = provider_key if s.signed_by_provider else KEYS[Web3.to_checksum_address(buyer)]
        signature = sign_message(receipt, key)
        w3.provider.make_request("evm_setNextBlockTimestamp", [closed_at])  # type: ignore[arg-type]
        unlocked.send(w3, market.functions.closeSession(receipt, signature), buyer)
        got = market.functions.getSession(opened.session_id).call()
        assert int(got[8]) - int(got[6]) == s.seconds, "the session did not close at the block time asked for"

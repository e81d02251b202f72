"""Helpers for the session tests: a provider with a bid, signed approvals and receipts, and anvil time travel.

Approvals and receipts are built and signed with reconciler.devnet.buyer, the same code a devnet test uses to
play the buyer, so these tests also pin its encodings to what the contract accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError

from reconciler.devnet.buyer import encode_approval, encode_receipt, sign_message, stake_for_duration
from reconciler.devnet.local import dev_accounts
from tests.support.contract_helpers import MOR, Chain, Receipt

KEYS = {a.address: a.private_key for a in dev_accounts()}
DAY = 86_400
YEAR = 365 * DAY
PROVIDER_STAKE = 10 * MOR  # well above what a test session earns, unless a test is about the cap

# Session tuple fields, as getSession returns them.
USER, BID, STAKE, RECEIPT, CLOSEOUT_TYPE, WITHDRAWN, OPENED, ENDS, CLOSED, ACTIVE, DIRECT = range(11)


@dataclass(frozen=True)
class Market:
    provider: str
    model: bytes
    bid: bytes
    price: int


def setup_market(chain: Chain, stake: int = PROVIDER_STAKE, price: int | None = None) -> Market:
    p = chain.accounts[1]
    chain.register_provider(p, stake)
    model = chain.register_model(chain.accounts[2])
    price = chain.params.min_price_per_second if price is None else price
    bid, _ = chain.post_bid(p, model, price)
    return Market(provider=p, model=model, bid=bid, price=price)


def rpc(chain: Chain, method: str, *params: Any) -> Any:
    return chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]


def now(chain: Chain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def advance(chain: Chain, seconds: int) -> None:
    rpc(chain, "evm_increaseTime", seconds)
    rpc(chain, "evm_mine")


def next_day_at(chain: Chain, seconds_after_midnight: int) -> int:
    """Mine a block at the given UTC time of a later day; returns its timestamp."""
    target = now(chain) - now(chain) % DAY + DAY + seconds_after_midnight
    rpc(chain, "evm_setNextBlockTimestamp", target)
    rpc(chain, "evm_mine")
    return target


def approval(
    chain: Chain,
    bid: bytes,
    user: str,
    signer: str,
    *,
    timestamp: int | None = None,
    chain_id: int | None = None,
) -> tuple[bytes, bytes]:
    cid = chain.w3.eth.chain_id if chain_id is None else chain_id
    msg = encode_approval(bid, cid, user, now(chain) if timestamp is None else timestamp)
    return msg, sign_message(msg, KEYS[signer])


def receipt(
    chain: Chain,
    session_id: bytes,
    signer: str,
    tps: int = 10_000,
    ttft: int = 500,
    *,
    timestamp: int | None = None,
    chain_id: int | None = None,
) -> tuple[bytes, bytes]:
    cid = chain.w3.eth.chain_id if chain_id is None else chain_id
    msg = encode_receipt(session_id, cid, now(chain) if timestamp is None else timestamp, tps, ttft)
    return msg, sign_message(msg, KEYS[signer])


def stake_for(chain: Chain, m: Market, seconds: int) -> int:
    return stake_for_duration(chain.w3, chain.market.address, m.bid, seconds)


def open_session(
    chain: Chain, m: Market, user: str, amount: int, *, direct: bool = False, sender: str | None = None
) -> tuple[bytes, Receipt]:
    """Approve the stake from `user` and open with the provider's approval; returns (sessionId, receipt)."""
    chain.approve(user, amount)
    msg, sig = approval(chain, m.bid, user, m.provider)
    fn = chain.market.functions.openSession(user, amount, direct, msg, sig)
    sender = sender or user
    sid = bytes(fn.call({"from": sender}))
    return sid, chain.tx(fn, sender)


def close(chain: Chain, sid: bytes, sender: str, signer: str, tps: int = 10_000, ttft: int = 500) -> Receipt:
    msg, sig = receipt(chain, sid, signer, tps, ttft)
    return chain.tx(chain.market.functions.closeSession(msg, sig), sender)


def session(chain: Chain, sid: bytes) -> list[Any]:
    return list(chain.market.functions.getSession(sid).call())


def provider_state(chain: Chain, p: str) -> list[Any]:
    return list(chain.market.functions.getProvider(p).call())


def claimable(chain: Chain, sid: bytes) -> int:
    return int(chain.market.functions.getProviderClaimableBalance(sid).call())


def transfers(r: Receipt) -> list[tuple[str, str, int]]:
    return [(a["from"], a["to"], a["value"]) for name, a in r.events if name == "Transfer"]


def revert_reason(fn: ContractFunction, sender: str) -> str:
    """Call fn; it must revert with a plain Error(string); returns the message."""
    try:
        fn.call({"from": sender})
    except ContractLogicError as exc:
        return str(exc.message)
    raise AssertionError(f"{fn.fn_name} did not revert")


def plain(value: Any) -> Any:
    """Struct results as nested lists (web3 returns tuples), so tests compare them with list literals."""
    return [plain(v) for v in value] if isinstance(value, list | tuple) else value


def stipend(chain: Chain, amount: int, timestamp: int) -> int:
    return int(chain.market.functions.stakeToStipend(amount, timestamp).call())


def stipend_to_stake(chain: Chain, amount: int, timestamp: int, block: int | str = "latest") -> int:
    return int(chain.market.functions.stipendToStake(amount, timestamp).call(block_identifier=block))


__all__ = ["MOR", "Chain", "Receipt"]

"""Transactions from unlocked dev accounts: devnet deployment and minting, the devnet buyer, tests and benches.

web3's bare `transact({"from": ...})` sends `eth_estimateGas` at the latest block as the gas limit, with no
margin. A call whose cost depends on the block's time then runs out of gas when it is mined in a later second
than the latest block: `closeSession` holds the stake used today (new storage) and pays the provider only
when some seconds have passed, which costs ~40% more than the same call in the block's own second. Here the
estimate is taken on the pending block (the time it will be mined at) and gets `TxSender`'s margin.
"""

from __future__ import annotations

from typing import Any

from hexbytes import HexBytes
from web3 import Web3
from web3.types import TxReceipt

from reconciler.chain.sender import gas_limit


def transact(fn: Any, sender: str) -> HexBytes:
    """Send a contract call or constructor (`fn`) from `sender` with a margin on a pending-block estimate."""
    params: dict[str, Any] = {"from": Web3.to_checksum_address(sender)}
    estimate = int(fn.estimate_gas(params, block_identifier="pending"))
    return HexBytes(fn.transact({**params, "gas": gas_limit(estimate)}))


def send(w3: Web3, fn: Any, sender: str) -> TxReceipt:
    """`transact` and wait for the receipt; a revert on chain is an error naming the function."""
    receipt = w3.eth.wait_for_transaction_receipt(transact(fn, sender))
    if receipt["status"] != 1:
        name = getattr(fn, "fn_name", None) or "constructor"
        raise RuntimeError(f"{name} reverted (gas used {receipt['gasUsed']})")
    return receipt

"""Transactions from unlocked dev accounts: devnet deployment and minting, the devnet buyer, tests and benches.

web3's bare `transact({"from": ...})` sends `eth_estimateGas` as the gas limit, with no margin. A call whose
cost depends on the block's time then runs out of gas when it is mined in a later second than the one it was
estimated in: `closeSession` holds the stake used today (new storage) and pays the provider only once some
seconds of the session have passed, which costs ~40% more than the same call in the session's own second, and
anvil may estimate on a block of the same second as the latest one. So the estimate here is taken as if the
block were mined a few seconds after the latest one (a block override of its time), and gets `TxSender`'s
margin on top.
"""

from __future__ import annotations

from typing import Any

from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import Web3RPCError
from web3.types import TxReceipt

from reconciler.chain.sender import gas_limit

ESTIMATE_AHEAD_SECONDS = 2  # the block time the estimate assumes, after the latest block's


def estimate_ahead(w3: Web3, tx: dict[str, Any]) -> int:
    """eth_estimateGas for `tx` in a block mined ESTIMATE_AHEAD_SECONDS after the latest one."""
    when = int(w3.eth.get_block("latest")["timestamp"]) + ESTIMATE_AHEAD_SECONDS
    fields = ("from", "to", "data", "value")
    call = {k: (hex(v) if isinstance(v, int) else v) for k, v in tx.items() if k in fields and v not in ("", b"", None)}
    answer = w3.provider.make_request("eth_estimateGas", [call, "latest", None, {"time": hex(when)}])  # type: ignore[arg-type]
    if "error" in answer:
        raise Web3RPCError(f"eth_estimateGas failed: {answer['error']}")
    return int(answer["result"], 16)


def transact(fn: Any, sender: str) -> HexBytes:
    """Send a contract call or constructor (`fn`) from `sender` with a margin on an estimate taken ahead."""
    params: dict[str, Any] = {"from": Web3.to_checksum_address(sender)}
    tx = dict(fn.build_transaction({**params, "gas": 1}))  # only to get `to`, `data` and `value`: nothing is sent
    gas = gas_limit(estimate_ahead(fn.w3, {**tx, **params}))
    return HexBytes(fn.transact({**params, "gas": gas}))


def send(w3: Web3, fn: Any, sender: str) -> TxReceipt:
    """`transact` and wait for the receipt; a revert on chain is an error naming the function."""
    receipt = w3.eth.wait_for_transaction_receipt(transact(fn, sender))
    if receipt["status"] != 1:
        name = getattr(fn, "fn_name", None) or "constructor"
        raise RuntimeError(f"{name} reverted (gas used {receipt['gasUsed']})")
    return receipt

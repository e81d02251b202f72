"""Recover a model's base model id, which the chain does not keep, from the transaction that registered it.

`modelId = keccak256(owner, baseModelId)` is one-way, so the only place the base id exists is the calldata of a
`modelRegister` call. The model's `createdAt` is the timestamp of the block that registered it, so a few block
headers find that block (`chain/blocktime.py`) and one narrow `eth_getLogs` per model finds its
`ModelRegisteredUpdated` log there: the cost does not grow with the chain's height. The logged transaction's input
is decoded as `modelRegister`, or, for a call that went through another contract (a multicall, a forwarder),
scanned for a 32-byte word that hashes to the model id with the owner. Either way the hash is checked, so a
recovered id is proven, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_utils import keccak
from web3 import Web3

from reconciler.chain.blocktime import blocks_at
from reconciler.chain.reader import model_registered_topic
from reconciler.chain.rpc import Batch, RpcError
from reconciler.market.ids import norm_hex
from reconciler.observe.model import ModelState

MODEL_REGISTER_TYPES = ["address", "bytes32", "bytes32", "uint256", "uint256", "string", "string[]"]
MODEL_REGISTER_SELECTOR = keccak(text=f"modelRegister({','.join(MODEL_REGISTER_TYPES)})")[:4]


@dataclass(frozen=True)
class Recovery:
    """The outcome for one model: `base_model_id` when proven, else `reason` says why not."""

    model_id: str
    base_model_id: str | None
    tx_hash: str | None = None
    via: str = ""  # "modelRegister calldata" or "calldata of a call to <address>"
    reason: str = ""


def base_id_from_calldata(owner: str, model_id: str, data: bytes) -> tuple[str | None, bool]:
    """(base model id, decoded as a direct modelRegister call) when `data` carries it, else (None, False)."""
    owner_raw = bytes.fromhex(owner.removeprefix("0x"))
    target = bytes.fromhex(model_id.removeprefix("0x"))
    if data[:4] == MODEL_REGISTER_SELECTOR:
        try:
            args = abi_decode(MODEL_REGISTER_TYPES, data[4:])
        except Exception:  # malformed: fall through to the scan
            args = None
        if args is not None:
            arg_owner = bytes.fromhex(str(args[0]).removeprefix("0x"))
            base = bytes(args[1])
            if keccak(arg_owner + base) == target and arg_owner == owner_raw:
                return "0x" + base.hex(), True
    for i in range(0, max(len(data) - 31, 0)):
        word = data[i : i + 32]
        if keccak(owner_raw + word) == target:
            return "0x" + word.hex(), False
    return None, False


def recover(
    owner: str,
    model_ids: Iterable[str],
    txs: Mapping[str, Sequence[tuple[str, str, bytes]]],
    unread: Mapping[str, str] | None = None,
) -> list[Recovery]:
    """Pure: `txs[model_id]` = (tx hash, to, input) of its registering transactions, newest first;
    `unread[model_id]` says why its log could not be read (the endpoint refused it)."""
    out = []
    for mid in sorted(model_ids):
        if unread and mid in unread:
            out.append(Recovery(mid, None, reason=f"its registration log could not be read ({unread[mid]})"))
            continue
        found = None
        candidates = txs.get(mid, ())
        for tx_hash, to, data in candidates:
            base, direct = base_id_from_calldata(owner, mid, data)
            if base is not None:
                via = "modelRegister calldata" if direct else f"calldata of a call to {to}"
                found = Recovery(mid, base, tx_hash, via)
                break
        if found is None:
            if not candidates:
                reason = "no ModelRegisteredUpdated log at its creation time names the transaction that registered it"
            else:
                hashes = ", ".join(h for h, _, _ in candidates[:3])
                reason = (
                    f"its registering transaction ({hashes}) does not carry the base model id in its calldata "
                    "(registered through another contract?)"
                )
            found = Recovery(mid, None, reason=reason)
        out.append(found)
    return out


def read_registrations(
    w3: Web3, diamond: str, owner: str, models: Sequence[ModelState], head: int, head_ts: int
) -> list[Recovery]:
    """Find each model's registering block from its createdAt, read its log there, then the transactions."""
    wanted = {norm_hex(m.model_id): m.created_at for m in models}
    if not wanted:
        return []
    windows = blocks_at(w3, wanted.values(), head, head_ts)
    owner_topic = "0x" + "00" * 12 + owner.lower().removeprefix("0x")
    order = sorted(wanted)
    b = Batch(w3, defer_errors=True)  # an endpoint without that history: that model is imported by modelId
    for mid in order:
        lo, hi = windows[wanted[mid]]
        query = {"address": diamond, "topics": [model_registered_topic(), owner_topic, mid]}
        b.logs(query, lo, hi, f"ModelRegisteredUpdated logs of {mid[:10]}… in blocks {lo}..{hi}")
    hashes: dict[str, list[str]] = {}
    unread: dict[str, str] = {}
    for mid, page in zip(order, b.run(), strict=True):
        if isinstance(page, RpcError):
            unread[mid] = str(page)
            continue
        for log in page:
            if norm_hex(log["topics"][2]) == mid:
                hashes.setdefault(mid, []).append(str(log["transactionHash"]))
    unique = sorted({h for hs in hashes.values() for h in hs})
    b = Batch(w3)
    for h in unique:
        b.add("eth_getTransactionByHash", [h], label=f"transaction {h[:10]}…")
    by_hash: dict[str, tuple[str, str, bytes]] = {}
    for h, tx in zip(unique, b.run(), strict=True):
        if tx is None:
            raise RpcError(f"the node does not know transaction {h} named by a log")
        data = bytes.fromhex(str(tx.get("input", "0x")).removeprefix("0x"))
        by_hash[h] = (h, Web3.to_checksum_address(tx["to"]) if tx.get("to") else "(contract creation)", data)
    txs = {mid: [by_hash[h] for h in reversed(hs)] for mid, hs in hashes.items()}  # newest first
    return recover(owner, wanted, txs, unread)

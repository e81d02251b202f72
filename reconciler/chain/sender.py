"""Signing, journaling, sending and awaiting transactions for one signer.

Every transaction is journaled (fsync) with its raw bytes BEFORE it is broadcast, so a crash at any point is
resumed by `resume()`: a journaled hash that was mined is recorded; one whose nonce was consumed by another
transaction is recorded as replaced; one still unknown to the chain is re-broadcast as the very same bytes,
so it can never be sent twice. Nonces are managed locally, which lets independent writes be pipelined.

A real chain adds three faults, handled here:
- a receipt counts only once `confirmations` blocks are built on top of its block; until then it is read
  again, so a reorg that takes it away is seen. A journaled "mined" transaction of the last `REORG_WINDOW`
  blocks whose receipt is gone is re-checked by `resume()`: the same bytes re-broadcast while its nonce is
  free, else recorded as replaced, and the plan that follows posts the step again if the chain needs it;
- a transaction that leaves the mempool (no receipt, unknown to the node) is re-broadcast with its same
  bytes, and replaced through `speed_up` (same nonce, higher fee) when it is still gone after `drop_timeout`;
- a nonce of ours taken by a transaction nobody journaled is another writer using the key: `WriterConflict`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth_account._utils.legacy_transactions import Transaction
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions import TypedTransaction
from eth_typing import HexStr
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import BlockNotFound, ContractCustomError, ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import BlockIdentifier, RPCEndpoint, TxParams

from reconciler import LockBusy, ReconcileError, TransactionFailed
from reconciler.chain.faults import crash_point
from reconciler.chain.journal import Journal, TxRecord
from reconciler.chain.reverts import ErrorDecoder
from reconciler.chain.rpc import Batch, value

Progress = Callable[[str], None]

GAS_MARGIN_PERCENT = 20
REPLACEMENT_BUMP_PERCENT = 15  # nodes require >= 10% (geth) / 12.5%; a little more is safe
PRIORITY_FEE_FLOOR = 10**6  # 0.001 gwei: L2s often report 0
REORG_WINDOW = 128  # blocks: a journaled "mined" transaction this recent is checked again by resume()
DROP_GRACE = 1.0  # seconds without a receipt before asking whether the node still knows the transaction
TRACE_TOP_CALL = {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": True}}  # geth's, offered widely
_NOT_OFFERED = re.compile(r"\bmethod\b.*\b(not|unsupported|unknown|disabled)\b|not supported", re.IGNORECASE)


def gas_limit(estimate: int) -> int:
    """The gas limit sent for an estimate: the margin covers state that changes between estimate and block."""
    return estimate * (100 + GAS_MARGIN_PERCENT) // 100


class TxError(TransactionFailed):
    """A transaction could not be sent or failed; the message is for a person."""


class TxReverted(TxError):
    """The contract refused the call (at estimation, before anything was sent, or on chain)."""

    def __init__(self, message: str, record: TxRecord | None = None) -> None:
        super().__init__(message)
        self.record = record


class TxTimeout(TxError):
    """A transaction was not mined in time; `records` are still open (journaled, maybe pending)."""

    def __init__(self, message: str, records: Sequence[TxRecord]) -> None:
        super().__init__(message)
        self.records = list(records)


class NonceTaken(TxError):
    """The node says the transaction's nonce is already used."""


class WriterConflict(LockBusy):
    """Another writer uses the signer's key: a nonce of ours was taken by a transaction nobody journaled."""


def writer_conflict(address: str, nonce: int) -> WriterConflict:
    return WriterConflict(
        f"nonce {nonce} of {address} was used by a transaction this apply did not send: another writer uses the "
        "key; stop it (one writer per provider), then run apply again"
    )


@dataclass(frozen=True)
class TxRequest:
    """What an action wants written: a call to `to` with `data`."""

    action_id: str
    action: str
    to: str
    data: str
    value: int = 0
    fee: int = 0  # the MOR its plan said it moves, journaled with it: the bid fee paid
    stake: int = 0  # and the stake sent (negative: refunded)


@dataclass(frozen=True)
class ResumeReport:
    mined: list[TxRecord]
    reverted: list[TxRecord]
    replaced: list[TxRecord]
    rebroadcast: list[TxRecord]
    reorged: list[TxRecord] = field(default_factory=list)  # journaled mined, receipt gone: re-sent or replaced


def _short(tx_hash: str) -> str:
    return tx_hash[:10] + "…" + tx_hash[-4:]


_LONG_HEX = re.compile(r"0x[0-9a-fA-F]{64}")


def label(action: str, action_id: str) -> str:
    """`bid.post:0x24d1…` for people: the action id (which names its kind), 32-byte ids shortened."""
    text = action_id if action_id.startswith(action) else f"{action} {action_id}"
    return _LONG_HEX.sub(lambda m: m.group(0)[:10] + "…", text)


class TxSender:
    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        journal: Journal,
        plan_id: str,
        decoder: ErrorDecoder | None = None,
        legacy: bool = False,
        progress: Progress | None = None,
        poll_interval: float = 0.25,
        confirmations: int = 0,
        drop_timeout: float = 30.0,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.journal = journal
        self.plan_id = plan_id
        self.decoder = decoder or ErrorDecoder([])
        self.legacy = legacy
        self.progress: Progress = progress or (lambda _line: None)
        self.poll_interval = poll_interval
        self.confirmations = confirmations
        self.drop_timeout = drop_timeout  # a dropped transaction still gone this long is replaced (speed_up)
        self.chain_id = w3.eth.chain_id
        self._nonce: int | None = None

    # --- nonces ---------------------------------------------------------------------------------

    def latest_nonce(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.account.address, "latest"))

    def pending_nonce(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.account.address, "pending"))

    def next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = self.pending_nonce()
        nonce = self._nonce
        self._nonce += 1
        return nonce

    def wait_until_no_pending(self, timeout: float = 120.0) -> None:
        """Without a journal (a fresh runner after a killed job) wait until nothing of ours is in flight."""
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            latest, pending = self.latest_nonce(), self.pending_nonce()
            if pending == latest:
                return
            if not announced:
                self.progress(f"waiting for {pending - latest} pending transaction(s) of {self.account.address}")
                announced = True
            if time.monotonic() > deadline:
                raise TxTimeout(
                    f"{pending - latest} transaction(s) of {self.account.address} still pending after "
                    f"{timeout:.0f}s; wait for them or replace them, then run again",
                    [],
                )
            time.sleep(self.poll_interval)

    # --- fees -----------------------------------------------------------------------------------

    def base_fee(self) -> int:
        """The higher of the latest and the pending block's base fee: a spike set for the next block (a busy
        chain, `anvil_setNextBlockBaseFeePerGas`) would otherwise have the node refuse the transaction."""
        latest = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        try:
            pending = int(self.w3.eth.get_block("pending").get("baseFeePerGas", 0) or 0)
        except (Web3RPCError, ValueError, BlockNotFound):
            pending = 0
        return max(latest, pending)

    def fee_fields(self, bump_from: TxRecord | None = None, old_fees: dict[str, int] | None = None) -> dict[str, int]:
        if self.legacy:
            price = int(self.w3.eth.gas_price)
            if old_fees:
                price = max(price, old_fees["gasPrice"] * (100 + REPLACEMENT_BUMP_PERCENT) // 100)
            return {"gasPrice": price}
        base = self.base_fee()
        try:
            prio = max(int(self.w3.eth.max_priority_fee), PRIORITY_FEE_FLOOR)
        except (Web3RPCError, ValueError):
            prio = PRIORITY_FEE_FLOOR
        fees = {"maxPriorityFeePerGas": prio, "maxFeePerGas": 2 * base + prio}
        if old_fees:
            bump = 100 + REPLACEMENT_BUMP_PERCENT
            fees = {
                "maxPriorityFeePerGas": max(
                    fees["maxPriorityFeePerGas"], old_fees["maxPriorityFeePerGas"] * bump // 100
                ),
                "maxFeePerGas": max(fees["maxFeePerGas"], old_fees["maxFeePerGas"] * bump // 100),
            }
            fees["maxFeePerGas"] = max(fees["maxFeePerGas"], fees["maxPriorityFeePerGas"])
        return fees

    # --- sending --------------------------------------------------------------------------------

    def estimate(self, req: TxRequest) -> int:
        """Gas with a margin; a revert here means nothing is sent, and is said in words."""
        call: TxParams = {
            "from": self.account.address,
            "to": Web3.to_checksum_address(req.to),
            "data": req.data,  # type: ignore[typeddict-item]
            "value": req.value,  # type: ignore[typeddict-item]
        }
        try:
            gas = int(self.w3.eth.estimate_gas(call))
        except (ContractCustomError, ContractLogicError) as exc:
            raise TxReverted(f"{req.action} {req.action_id} would revert: {self.explain(exc)}") from None
        return gas_limit(gas)

    def explain(self, exc: ContractLogicError) -> str:
        data = exc.data if isinstance(exc.data, str) else None
        decoded = self.decoder.decode(data) if data else None
        return str(decoded) if decoded else (exc.message or str(exc))

    def send(self, req: TxRequest, gas: int | None = None) -> TxRecord:
        """Estimate, sign, journal, broadcast; returns the open record (does not wait)."""
        gas = gas if gas is not None else self.estimate(req)
        nonce = self.next_nonce()
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": Web3.to_checksum_address(req.to),
            "data": req.data,
            "value": req.value,
            "gas": gas,
            **self.fee_fields(),
        }
        if not self.legacy:
            tx["type"] = 2
        return self._sign_journal_send(tx, req.action_id, req.action, replaces=None, mor=(req.fee, req.stake))

    def _sign_journal_send(
        self, tx: dict[str, Any], action_id: str, action: str, replaces: str | None, mor: tuple[int, int] = (0, 0)
    ) -> TxRecord:
        signed = self.account.sign_transaction(tx)
        record = TxRecord(
            tx_hash="0x" + bytes(signed.hash).hex(),
            status="signed",
            plan_id=self.plan_id,
            action_id=action_id,
            action=action,
            sender=self.account.address,
            nonce=int(tx["nonce"]),
            raw="0x" + bytes(signed.raw_transaction).hex(),
            replaces=replaces,
            note=_fees_note(tx),
            fee=mor[0],
            stake=mor[1],
        )
        self.journal.append(record)  # durable before it leaves this machine
        crash_point("before-send")
        try:
            self._broadcast(record)
        except NonceTaken:
            if replaces is not None:
                raise
            self._nonce = None  # a new nonce of ours was taken by a transaction nobody journaled
            raise writer_conflict(self.account.address, record.nonce) from None
        crash_point("after-send")
        self.progress(f"sent {label(action, action_id)}: tx {_short(record.tx_hash)} nonce {record.nonce}")
        return record

    def _broadcast(self, record: TxRecord) -> None:
        """Send the journaled bytes (to every healthy endpoint: `chain/pool.py`)."""
        try:
            self.w3.eth.send_raw_transaction(HexStr(record.raw))
        except Web3RPCError as exc:
            text = str(exc).lower()
            if "already known" in text or "already imported" in text or "known transaction" in text:
                return
            if "nonce too low" in text:
                raise NonceTaken(f"the node refused tx {_short(record.tx_hash)} ({record.action}): {exc}") from None
            raise TxError(f"the node refused tx {_short(record.tx_hash)} ({record.action}): {exc}") from None

    # --- receipts ---------------------------------------------------------------------------------

    def receipt(self, tx_hash: str) -> Any | None:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None

    def counted(self, rcpt: Any, head: int | None = None) -> bool:
        """A receipt counts once `confirmations` blocks are built on top of its block."""
        if self.confirmations <= 0:
            return True
        head = int(self.w3.eth.block_number) if head is None else head
        return head - int(rcpt["blockNumber"]) >= self.confirmations

    def wait(self, records: Sequence[TxRecord], timeout: float = 120.0) -> list[TxRecord]:
        """Await every receipt (confirmed), journaling each; a revert raises TxReverted after all are recorded.

        A transaction the node no longer knows is re-broadcast (same bytes), and replaced after `drop_timeout`;
        its nonce taken by a transaction nobody journaled raises WriterConflict."""
        open_ = {r.tx_hash: r for r in records}  # by the awaited hash: its record now (a replacement, after a drop)
        done: dict[str, TxRecord] = {}
        dropped_at: dict[str, float] = {}
        swapped: set[str] = set()
        start = time.monotonic()
        last_note = start
        while open_:
            head = int(self.w3.eth.block_number) if self.confirmations > 0 else None
            for orig, rec in list(open_.items()):
                rcpt = self.receipt(rec.tx_hash)
                if rcpt is None:
                    if time.monotonic() - start >= DROP_GRACE:
                        open_[orig] = self._dropped(rec, dropped_at)
                        if open_[orig].tx_hash != rec.tx_hash:
                            swapped.add(orig)
                    continue
                if not self.counted(rcpt, head):
                    continue
                status = "mined" if rcpt["status"] == 1 else "reverted"
                done[orig] = self.journal.update(
                    rec, status=status, block=int(rcpt["blockNumber"]), gas_used=int(rcpt["gasUsed"])
                )
                del open_[orig]
                if orig in swapped:  # a replacement was sent in this wait (a drop): the other one is replaced
                    self._others_replaced(done[orig])
                self.progress(
                    f"{'mined' if status == 'mined' else 'REVERTED'} {label(rec.action, rec.action_id)}: "
                    f"tx {_short(rec.tx_hash)} in block {rcpt['blockNumber']} after {time.monotonic() - start:.1f}s"
                )
            if not open_:
                break
            now = time.monotonic()
            if now - start > timeout:
                hashes = ", ".join(_short(r.tx_hash) for r in open_.values())
                raise TxTimeout(
                    f"{len(open_)} transaction(s) not mined after {timeout:.0f}s ({hashes}); they stay journaled. "
                    f"Run apply again to keep waiting, or with --speed-up to replace them with a higher fee.",
                    list(open_.values()),
                )
            if now - last_note >= 5:
                block = self.w3.eth.block_number
                self.progress(f"waiting for {len(open_)} tx(s), {now - start:.0f}s elapsed, block {block}")
                last_note = now
            time.sleep(self.poll_interval)
        reverted = [r for r in done.values() if r.status == "reverted"]
        if reverted:
            r = reverted[0]
            raise TxReverted(f"{r.action} {r.action_id} reverted on chain (tx {r.tx_hash}): {self._why(r)}", r)
        return [done[r.tx_hash] for r in records]

    def _dropped(self, rec: TxRecord, dropped_at: dict[str, float]) -> TxRecord:
        """No receipt yet: if the node no longer knows the transaction, re-broadcast it, or replace it after
        `drop_timeout`; returns the record to await from now on."""
        try:
            self.w3.eth.get_transaction(rec.tx_hash)  # type: ignore[arg-type]
            dropped_at.pop(rec.tx_hash, None)
            return rec  # pending: wait
        except TransactionNotFound:
            pass
        if self.latest_nonce() > rec.nonce:  # the nonce is used: by our own (journaled) transaction, or not
            ours = self._ours_mined_at(rec.nonce)
            if ours is None:
                raise writer_conflict(self.account.address, rec.nonce)
            return ours  # its receipt is read on the next poll, and `rec` then recorded replaced
        first = dropped_at.setdefault(rec.tx_hash, time.monotonic())
        if time.monotonic() - first >= self.drop_timeout:
            self.progress(f"tx {_short(rec.tx_hash)} ({rec.action}) still dropped: replacing it with a higher fee")
            return self.speed_up(rec)  # the original stays open until one of the two is mined
        self._broadcast(rec)
        self.progress(f"tx {_short(rec.tx_hash)} ({rec.action}) left the mempool: re-broadcast (same bytes)")
        return rec

    def _others_replaced(self, mined: TxRecord) -> None:
        """One transaction of a nonce is on chain: the journal's other open ones of that nonce are replaced."""
        for r in self.journal.open_transactions():
            if r.sender == mined.sender and r.nonce == mined.nonce and r.tx_hash != mined.tx_hash:
                self.journal.update(r, status="replaced", note=f"nonce used by {mined.tx_hash}")

    def _ours_mined_at(self, nonce: int) -> TxRecord | None:
        """A journaled transaction of this signer with that nonce that has a receipt (a speed-up, a resend)."""
        for r in self.journal.transactions():
            if r.sender == self.account.address and r.nonce == nonce and self.receipt(r.tx_hash) is not None:
                return r
        return None

    def _why(self, record: TxRecord) -> str:
        """Why a mined transaction reverted, in words: traced where the endpoint can (exact), else replayed as a
        call at the block before (what a revert that was there already shows), else on its own block, where the
        reason is only probable (the transactions after it in that block are included); else what was tried.

        Replaying at the block before misses a cause in the same block (a right revoked by an earlier transaction
        of that block): the trace does not, and the mined block's replay usually does not either."""
        tried: list[str] = []
        traced = self._traced(record.tx_hash, tried)
        if traced is not None:
            return traced
        try:
            tx = self.w3.eth.get_transaction(record.tx_hash)  # type: ignore[arg-type]
        except Exception as exc:  # best effort: the revert itself is already known
            return (
                f"reason unavailable (tried: {'; '.join([*tried, f'reading the transaction: {type(exc).__name__}'])})"
            )
        call: TxParams = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"]}
        if tx.get("blockNumber") is None:  # not in a block (any more): the chain as it is now is all there is
            reason, note = self._replayed(call, "latest")
            return reason or f"reason unavailable (tried: {'; '.join([*tried, f'replay at the latest block: {note}'])})"
        block = int(tx["blockNumber"])
        reason, note = self._replayed(call, block - 1)
        if reason is not None:
            return reason
        tried.append(f"replay at block {block - 1}: {note}")
        reason, note = self._replayed(call, block)
        if reason is not None:
            return (
                f"probable reason (replayed on block {block}, with the transactions after it in that block): {reason}"
            )
        tried.append(f"replay on block {block}: {note}")
        return f"reason unavailable (tried: {'; '.join(tried)})"

    def _traced(self, tx_hash: str, tried: list[str]) -> str | None:
        """The revert as `debug_traceTransaction` saw it (the top call only), or None, noting why, in `tried`."""
        method = "debug_traceTransaction"
        try:
            answer: Any = self.w3.provider.make_request(RPCEndpoint(method), [tx_hash, TRACE_TOP_CALL])
        except ReconcileError as exc:  # the endpoint client's errors name the endpoint by its label, not its URL
            tried.append(f"{method}: {exc}")
            return None
        except Exception as exc:  # a plain provider's errors may hold the URL: the kind only
            tried.append(f"{method}: {type(exc).__name__}")
            return None
        error = answer.get("error") if isinstance(answer, dict) else None
        if error is not None:
            text = str(error.get("message", error) if isinstance(error, dict) else error)
            code = error.get("code") if isinstance(error, dict) else None
            offered = code != -32601 and not _NOT_OFFERED.search(text)
            tried.append(f"{method}: {'refused (' + text[:120] + ')' if offered else 'not offered by the endpoint'}")
            return None
        frame = answer.get("result") if isinstance(answer, dict) else None
        failure = frame.get("error") if isinstance(frame, dict) else None
        if not failure:
            tried.append(f"{method}: no failure in the trace")
            return None
        output = str(frame.get("output") or "0x") if isinstance(frame, dict) else "0x"
        decoded = self.decoder.decode(output) if len(output) > 2 else None
        if decoded is not None:
            return str(decoded)
        return f"{failure} (no revert data)" if "revert" in str(failure).lower() else str(failure)

    def _replayed(self, call: TxParams, block: BlockIdentifier) -> tuple[str | None, str]:
        """The call replayed at `block`: (its revert reason, "") when it reverts, else (None, what happened)."""
        try:
            self.w3.eth.call(call, block_identifier=block)
        except (ContractCustomError, ContractLogicError) as exc:
            return self.explain(exc), ""
        except Exception as exc:  # best effort: the revert itself is already known
            return None, f"failed ({type(exc).__name__})"
        return None, "no revert"

    # --- crash recovery and stuck transactions ------------------------------------------------------

    def resume(self) -> ResumeReport:
        """Reconcile the journal's open transactions of this signer with the chain (see module doc)."""
        mined: list[TxRecord] = []
        reverted: list[TxRecord] = []
        replaced: list[TxRecord] = []
        rebroadcast: list[TxRecord] = []
        reorged = self._reorged()
        open_records = [r for r in self.journal.open_transactions() if r.sender == self.account.address]
        latest = self.latest_nonce()
        for rec in open_records:
            rcpt = self.receipt(rec.tx_hash)
            if rcpt is not None:
                status = "mined" if rcpt["status"] == 1 else "reverted"
                upd = self.journal.update(
                    rec, status=status, block=int(rcpt["blockNumber"]), gas_used=int(rcpt["gasUsed"])
                )
                (mined if status == "mined" else reverted).append(upd)
            elif rec.nonce < latest:
                replaced.append(self.journal.update(rec, status="replaced", note="nonce used by another transaction"))
            else:
                self._broadcast(rec)
                rebroadcast.append(rec)
                self.progress(f"re-broadcast journaled tx {_short(rec.tx_hash)} ({rec.action}) nonce {rec.nonce}")
        return ResumeReport(mined=mined, reverted=reverted, replaced=replaced, rebroadcast=rebroadcast, reorged=reorged)

    def _reorged(self) -> list[TxRecord]:
        """Journaled "mined" transactions of the last REORG_WINDOW blocks whose receipt is gone: opened again
        (status signed), so the loop of `resume()` re-sends their bytes or records them replaced."""
        head = int(self.w3.eth.block_number)
        recent = [
            r
            for r in self.journal.transactions()
            if r.sender == self.account.address
            and r.status in ("mined", "reverted")
            and r.block is not None
            and r.block >= head - REORG_WINDOW
        ]
        if not recent:
            return []
        batch = Batch(self.w3, defer_errors=True)  # one round trip, however many there are
        for r in recent:
            batch.add("eth_getTransactionReceipt", [r.tx_hash], label=f"receipt of {_short(r.tx_hash)}")
        receipts = [value(x) for x in batch.run()]
        out: list[TxRecord] = []
        for rec, rcpt in zip(recent, receipts, strict=True):
            if rcpt is not None and int(str(rcpt["blockNumber"]), 16) == rec.block:
                continue
            self.progress(f"journal: tx {_short(rec.tx_hash)} ({rec.action}) left the chain (a reorg): checking it")
            out.append(self.journal.update(rec, status="signed", block=None, gas_used=None, note="reorged out"))
        return out

    def speed_up(self, record: TxRecord) -> TxRecord:
        """Replace a stuck transaction: same nonce, same call, higher fee; journaled like any other."""
        tx = signed_fields(record.raw)  # from the journal: a dropped transaction is unknown to the node
        old = {k: int(tx[k]) for k in ("maxFeePerGas", "maxPriorityFeePerGas", "gasPrice") if tx.get(k) is not None}
        new_tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": record.nonce,
            "to": Web3.to_checksum_address(tx["to"]),
            "data": "0x" + bytes(tx["data"]).hex(),
            "value": int(tx["value"]),
            "gas": int(tx["gas"]),
            **self.fee_fields(old_fees=old),
        }
        if not self.legacy:
            new_tx["type"] = 2
        return self._sign_journal_send(
            new_tx, record.action_id, record.action, replaces=record.tx_hash, mor=(record.fee, record.stake)
        )


def signed_fields(raw: str) -> dict[str, Any]:
    """The fields of a signed transaction's bytes (typed or legacy)."""
    data = HexBytes(raw)
    if data and data[0] < 0x7F:
        return dict(TypedTransaction.from_bytes(data).as_dict())
    return dict(rlp.decode(bytes(data), Transaction).as_dict())


def _fees_note(tx: dict[str, Any]) -> str:
    if "gasPrice" in tx:
        return f"gas {tx['gas']} gasPrice {tx['gasPrice']}"
    return f"gas {tx['gas']} maxFee {tx['maxFeePerGas']} prio {tx['maxPriorityFeePerGas']}"

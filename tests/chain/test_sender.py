"""Journaled sending on a real anvil: pipelining, crash recovery without double sends, stuck txs, reverts."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from web3 import Web3

from reconciler.chain.journal import Journal, TxRecord
from reconciler.chain.reverts import ErrorDecoder
from reconciler.chain.sender import TxRequest, TxSender, TxTimeout
from reconciler.devnet.local import dev_accounts

RECIPIENT = "0x000000000000000000000000000000000000dEaD"


def make_sender(w3: Web3, tmp_path: Path, index: int = 3, **kw: object) -> TxSender:
    from eth_account import Account

    acct = Account.from_key(dev_accounts()[index].private_key)
    return TxSender(w3, acct, Journal(tmp_path / "journal.jsonl"), plan_id="plan-1", poll_interval=0.05, **kw)  # type: ignore[arg-type]


def transfer(action_id: str, value: int = 1) -> TxRequest:
    return TxRequest(action_id=action_id, action="test.transfer", to=RECIPIENT, data="0x", value=value)


def test_pipelined_sends_use_consecutive_nonces(w3: Web3, tmp_path: Path) -> None:
    s = make_sender(w3, tmp_path)
    lines: list[str] = []
    s.progress = lines.append
    recs = [s.send(transfer(f"t{i}", value=i + 1)) for i in range(5)]
    assert [r.nonce for r in recs] == [0, 1, 2, 3, 4]
    done = s.wait(recs)
    assert all(r.status == "mined" for r in done)
    assert w3.eth.get_balance(RECIPIENT) >= 15
    assert s.journal.open_transactions() == []
    assert any(line.startswith("sent test.transfer t0") for line in lines)
    assert any(line.startswith("mined test.transfer t4") for line in lines)


def test_crash_after_journal_before_broadcast_resends_the_same_bytes(w3: Web3, tmp_path: Path) -> None:
    s = make_sender(w3, tmp_path)
    s._broadcast = lambda record: None  # type: ignore[method-assign]  # the process dies right after the fsync
    rec = s.send(transfer("t0", value=7))
    assert w3.eth.get_transaction_count(s.account.address, "pending") == 0

    again = make_sender(w3, tmp_path)  # the next run, same journal
    report = again.resume()
    assert [r.tx_hash for r in report.rebroadcast] == [rec.tx_hash]
    again.wait(report.rebroadcast)
    again.resume()  # a second resume finds nothing to do and sends nothing
    assert w3.eth.get_transaction_count(s.account.address, "latest") == 1
    assert w3.eth.get_transaction_receipt(rec.tx_hash)["status"] == 1


def test_crash_after_broadcast_before_receipt_is_recorded_as_mined(w3: Web3, tmp_path: Path) -> None:
    s = make_sender(w3, tmp_path)
    rec = s.send(transfer("t0"))  # killed before waiting
    w3.eth.wait_for_transaction_receipt(rec.tx_hash)  # type: ignore[arg-type]  # mined while nobody watched
    report = make_sender(w3, tmp_path).resume()
    assert [r.tx_hash for r in report.mined] == [rec.tx_hash]
    assert report.rebroadcast == [] and report.replaced == []
    assert w3.eth.get_transaction_count(s.account.address, "latest") == 1


def test_nonce_taken_by_another_transaction_marks_it_replaced(w3: Web3, tmp_path: Path) -> None:
    s = make_sender(w3, tmp_path)
    s._broadcast = lambda record: None  # type: ignore[method-assign]
    rec = s.send(transfer("t0"))
    # meanwhile the same key sends something else with that nonce (a human, another tool)
    other = w3.eth.send_transaction({"from": s.account.address, "to": RECIPIENT, "value": 99, "nonce": rec.nonce})
    w3.eth.wait_for_transaction_receipt(other)  # automine seals it a moment after the send answers
    report = make_sender(w3, tmp_path).resume()
    assert [r.tx_hash for r in report.replaced] == [rec.tx_hash]
    assert report.rebroadcast == []


def test_stuck_transaction_times_out_then_speed_up_replaces_it(w3: Web3, tmp_path: Path) -> None:
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    s = make_sender(w3, tmp_path)
    rec = s.send(transfer("t0"))
    with pytest.raises(TxTimeout, match="speed-up") as info:
        s.wait([rec], timeout=0.3)
    assert [r.tx_hash for r in info.value.records] == [rec.tx_hash]

    faster = s.speed_up(rec)
    assert faster.nonce == rec.nonce and faster.replaces == rec.tx_hash and faster.tx_hash != rec.tx_hash
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert s.wait([faster])[0].status == "mined"
    report = make_sender(w3, tmp_path).resume()
    assert [r.tx_hash for r in report.replaced] == [rec.tx_hash]
    assert w3.eth.get_transaction_count(s.account.address, "latest") == 1


def test_wait_until_no_pending(w3: Web3, tmp_path: Path) -> None:
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    s = make_sender(w3, tmp_path)
    s.send(transfer("t0"))
    fresh = make_sender(w3, tmp_path / "other")  # no journal: a fresh CI runner
    with pytest.raises(TxTimeout, match="still pending"):
        fresh.wait_until_no_pending(timeout=0.2)
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    fresh.wait_until_no_pending(timeout=5)


def test_legacy_transactions(w3: Web3, tmp_path: Path) -> None:
    s = make_sender(w3, tmp_path, legacy=True)
    rec = s.send(transfer("t0"))
    assert "gasPrice" in rec.note
    assert s.wait([rec])[0].status == "mined"
    assert w3.eth.get_transaction(rec.tx_hash)["type"] == 0


def test_journal_holds_the_record_before_the_node_sees_it(w3: Web3, tmp_path: Path) -> None:
    s = make_sender(w3, tmp_path)
    seen: list[list[TxRecord]] = []

    def spy(record: TxRecord) -> None:
        seen.append(Journal(tmp_path / "journal.jsonl").transactions())

    s._broadcast = spy  # type: ignore[method-assign]
    rec = s.send(transfer("t0"))
    assert seen and seen[0][-1].tx_hash == rec.tx_hash and seen[0][-1].raw == rec.raw


ABI = [
    {
        "type": "error",
        "name": "ProviderStakeTooLow",
        "inputs": [{"name": "newTotal", "type": "uint256"}, {"name": "min", "type": "uint256"}],
    },
    {"type": "error", "name": "MarketplaceActiveBidNotFound", "inputs": []},
    {
        "type": "error",
        "name": "InsufficientRightsForOperation",
        "inputs": [{"name": "a", "type": "address"}, {"name": "b", "type": "address"}],
    },
]


def test_error_decoder_speaks_in_words() -> None:
    dec = ErrorDecoder([ABI])
    data = keccak(text="ProviderStakeTooLow(uint256,uint256)")[:4] + abi_encode(
        ["uint256", "uint256"], [10**17, 2 * 10**17]
    )
    assert str(dec.decode("0x" + data.hex())) == "ProviderStakeTooLow: stake 0.1 MOR below minimum 0.2 MOR"
    sel = keccak(text="MarketplaceActiveBidNotFound()")[:4]
    assert str(dec.decode(sel)) == "MarketplaceActiveBidNotFound: the bid is not active"
    other = keccak(text="Nope()")[:4]
    assert str(dec.decode(other)).startswith("unknown error 0x")
    err = bytes.fromhex("08c379a0") + abi_encode(["string"], ["boom"])
    assert str(dec.decode(err)) == "Error: boom"

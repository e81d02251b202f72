"""The apply journal survives crashes (torn lines, re-reads) and the lock refuses a second live apply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import StateUnusable
from reconciler.apply.lock import LockHeld, StateLock
from reconciler.chain.journal import Journal, JournalUnreadable, TxRecord


def test_latest_record_wins_and_open_ones_are_listed(tmp_path: Path) -> None:
    j = Journal(tmp_path / "state" / "journal.jsonl")
    a = j.append(TxRecord(tx_hash="0xa", status="signed", plan_id="p1", action_id="bid:x", nonce=3, raw="0x01"))
    j.append(TxRecord(tx_hash="0xb", status="signed", plan_id="p1", action_id="bid:y", nonce=4, raw="0x02"))
    j.update(a, status="mined", block=12, gas_used=21000)
    assert [t.tx_hash for t in j.open_transactions()] == ["0xb"]
    assert j.done_actions("p1") == {"bid:x"}
    mined = next(t for t in j.transactions() if t.tx_hash == "0xa")
    assert (mined.block, mined.nonce, mined.raw) == (12, 3, "0x01")
    assert (tmp_path / "state" / "journal.jsonl").stat().st_mode & 0o777 == 0o600


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j = Journal(path)
    j.append(TxRecord(tx_hash="0xa", status="signed", nonce=1))
    with path.open("a") as f:
        f.write('{"type": "tx", "tx_hash": "0xb", "sta')  # crash mid-write
    assert [t.tx_hash for t in Journal(path).transactions()] == ["0xa"]


def test_records_are_plain_json(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    Journal(path).append(TxRecord(tx_hash="0xa", status="signed", action="bid.post", nonce=7))
    data = json.loads(path.read_text())
    assert data["type"] == "tx" and data["action"] == "bid.post" and data["nonce"] == 7


def test_lock_refuses_live_holder_and_takes_over_dead_one(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    with StateLock(path):
        with pytest.raises(LockHeld, match="another apply is running"):
            StateLock(path).acquire()
    assert not path.exists()

    # a holder that died without releasing (kill -9) leaves its file behind
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(proc.stdout)
    path.write_text(json.dumps({"pid": dead_pid, "host": os.uname().nodename, "startedAt": 0}))
    lock = StateLock(path).acquire()
    try:
        assert lock.took_over is not None and lock.took_over.pid == dead_pid
        assert json.loads(path.read_text())["pid"] == os.getpid()
    finally:
        lock.release()


def test_lock_on_another_host_is_not_taken(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    path.write_text(json.dumps({"pid": 1, "host": "some-other-host", "startedAt": 0}))
    with pytest.raises(LockHeld, match="some-other-host"):
        StateLock(path).acquire()


def test_a_record_after_a_torn_line_is_not_glued_onto_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"type": "tx", "tx_hash": "0xb", "sta')  # a crash mid-write, then the next run appends
    Journal(path).append(TxRecord(tx_hash="0xa", status="signed", nonce=1))
    assert [t.tx_hash for t in Journal(path).transactions()] == ["0xa"]


@pytest.mark.parametrize(
    ("line", "named"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b'"x"', "not a JSON object"),
        (b'{"type": "tx"}', "tx_hash"),
        (b'{"type": "tx", "tx_hash": "0xa", "status": "signed", "nonce": "seven"}', "nonce"),
        (b'{"type": "tx", "tx_hash": "0xa", "status": "gone"}', "status"),
    ],
)
def test_a_journal_line_of_the_wrong_shape_is_named_not_a_crash(tmp_path: Path, line: bytes, named: str) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"type": "tx", "tx_hash": "0x1", "status": "mined"}\n' + line + b"\n")
    with pytest.raises(JournalUnreadable, match=rf"{path}:2: .*{named}"):
        Journal(path).transactions()


def test_undecodable_bytes_are_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"type": "tx", "tx_hash": "0x1", "status": "mined"}\n\xff\xfe{"ty\n')
    assert [t.tx_hash for t in Journal(path).transactions()] == ["0x1"]


@pytest.mark.parametrize(
    "holder",
    [
        '{"pid": 1e400, "host": "HOST", "startedAt": 0}',
        '{"pid": 99999999999999999999, "host": "HOST", "startedAt": 0}',
        '{"pid": -1, "host": "HOST", "startedAt": 0}',
        '{"pid": 0, "host": "HOST", "startedAt": 0}',
        '{"pid": 12, "host": "HOST", "startedAt": NaN}',
        "[1]",
    ],
)
def test_a_lock_naming_no_process_is_taken_over_after_a_while(tmp_path: Path, holder: str) -> None:
    """A lock file no apply could have written holds nobody: it is stale once old enough, never a crash."""
    path = tmp_path / "apply.lock"
    path.write_text(holder.replace("HOST", os.uname().nodename))
    os.utime(path, (0, 0))
    lock = StateLock(path).acquire()
    lock.release()
    assert not path.exists()


def test_a_foreign_lock_with_a_wild_start_time_is_described(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    path.write_text('{"pid": 12, "host": "some-other-host", "startedAt": 1e300}')
    with pytest.raises(LockHeld, match="some-other-host"):
        StateLock(path).acquire()


def test_a_state_dir_that_is_a_file_is_named(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("not a folder")
    with pytest.raises(StateUnusable, match=str(state)):
        StateLock(state / "provider" / "apply.lock").acquire()
    with pytest.raises(StateUnusable, match=str(state)):
        Journal(state / "provider" / "journal.jsonl").append(TxRecord(tx_hash="0xa", status="signed"))


def test_a_fresh_lock_that_is_not_a_lock_is_named_so(tmp_path: Path) -> None:
    """Not "another process keeps taking it": nobody is taking it, the file is just not a lock."""
    path = tmp_path / "apply.lock"
    path.write_text("{}")
    with pytest.raises(LockHeld, match="names no apply"):
        StateLock(path).acquire()
    assert path.read_text() == "{}"  # left for the operator: it may be another apply's half-written lock


def test_a_lock_naming_this_very_process_is_stale(tmp_path: Path) -> None:
    """A container restarted with the same state volume gets the same small pid: the lock then names us, and we
    hold no lock; it is a dead run's, not "another apply"."""
    path = tmp_path / "apply.lock"
    path.write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "startedAt": 0}))
    lock = StateLock(path).acquire()
    try:
        assert lock.took_over is not None and lock.took_over.pid == os.getpid()
    finally:
        lock.release()


def test_a_lock_older_than_the_process_with_its_pid_is_stale(tmp_path: Path) -> None:
    """After a reboot the pid may be another program's: one that started after the lock was written is not it."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = tmp_path / "apply.lock"
        path.write_text(json.dumps({"pid": other.pid, "host": os.uname().nodename, "startedAt": 1000.0}))
        lock = StateLock(path).acquire()
        lock.release()
        assert lock.took_over is not None and lock.took_over.pid == other.pid
    finally:
        other.kill()
        other.wait()

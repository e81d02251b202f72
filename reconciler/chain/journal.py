"""The apply journal: every transaction is on disk (fsync) before it is sent, and updated on its receipt.

An append-only JSON-lines file, in the spirit of Foundry's broadcast journal: a crash is a pause, not a loss.
A record of a transaction holds its plan id, action, nonce, hash and the signed raw bytes (public once sent,
never a secret), so a resumed apply can look the hash up, re-broadcast the very same transaction, or see that
its nonce was taken by another one. Nothing here talks to the chain.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

TxStatus = Literal["signed", "mined", "reverted", "replaced", "dropped"]
OPEN_STATUSES: frozenset[str] = frozenset({"signed"})


@dataclass(frozen=True)
class TxRecord:
    """One transaction as the journal knows it; later records for the same hash supersede earlier ones."""

    tx_hash: str
    status: TxStatus
    plan_id: str = ""
    action_id: str = ""
    action: str = ""
    sender: str = ""
    nonce: int = -1
    raw: str = ""
    replaces: str | None = None
    block: int | None = None
    gas_used: int | None = None
    note: str = ""
    ts: float = field(default_factory=time.time)

    @property
    def is_open(self) -> bool:
        """Sent (or about to be) and not yet known mined, replaced or dropped."""
        return self.status in OPEN_STATUSES


class Journal:
    """Append-only, fsync'd JSON lines under a state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: TxRecord) -> TxRecord:
        new_file = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"type": "tx", **asdict(record)}, sort_keys=True) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if new_file:
            _fsync_dir(self.path.parent)
        return record

    def update(self, record: TxRecord, **changes: Any) -> TxRecord:
        """Append a newer version of a transaction's record (e.g. status mined with its block)."""
        return self.append(replace(record, ts=time.time(), **changes))

    def _lines(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open() as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    # a torn last line from a crash mid-write: the record before it still stands
                    continue

    def transactions(self) -> list[TxRecord]:
        """The latest record of every transaction, in the order they were first journaled."""
        latest: dict[str, TxRecord] = {}
        for data in self._lines():
            if data.pop("type", None) != "tx":
                continue
            rec = TxRecord(**{k: v for k, v in data.items() if k in TxRecord.__dataclass_fields__})
            latest[rec.tx_hash] = rec
        return list(latest.values())

    def open_transactions(self) -> list[TxRecord]:
        return [t for t in self.transactions() if t.is_open]

    def done_actions(self, plan_id: str) -> set[str]:
        """Action ids of a plan whose transaction was mined successfully."""
        return {t.action_id for t in self.transactions() if t.plan_id == plan_id and t.status == "mined"}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

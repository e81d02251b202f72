"""The apply journal: every transaction is on disk (fsync) before it is sent, and updated on its receipt.

An append-only JSON-lines file, in the spirit of Foundry's broadcast journal: a crash is a pause, not a loss.
A record of a transaction holds its plan id, action, nonce, hash, the signed raw bytes (public once sent,
never a secret) and the MOR its plan said it moves, so a resumed apply can look the hash up, re-broadcast the very same transaction, or see that
its nonce was taken by another one. Nothing here talks to the chain.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from reconciler import StateUnusable

TxStatus = Literal["signed", "mined", "reverted", "replaced", "dropped"]
OPEN_STATUSES: frozenset[str] = frozenset({"signed"})
_STATUSES = frozenset(get_args(TxStatus))
_OPTIONAL_INTS = frozenset({"block", "gas_used"})
_INTS = frozenset({"nonce", "fee", "stake"})


class JournalUnreadable(StateUnusable):
    """A journal line no apply wrote (not a record, or a field of the wrong type): resuming from it is a guess."""


def append_line(path: Path, line: str) -> None:
    """Append one JSON line and fsync it; a torn last line (a crash mid-write) is ended first, so the new line is
    never glued onto it and lost with it. A state folder that cannot be written is a `StateUnusable`."""
    try:
        new_file = not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
            os.write(fd, (("\n" if torn else "") + line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if new_file:
            _fsync_dir(path.parent)
    except OSError as exc:
        raise StateUnusable(f"cannot write {path}: {exc.strerror or exc}") from None


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
    # the MOR its plan said it moves (wei): the bid fee paid, the stake sent (negative: refunded)
    fee: int = 0
    stake: int = 0

    @property
    def is_open(self) -> bool:
        """Sent (or about to be) and not yet known mined, replaced or dropped."""
        return self.status in OPEN_STATUSES


class Journal:
    """Append-only, fsync'd JSON lines under a state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: TxRecord) -> TxRecord:
        append_line(self.path, json.dumps({"type": "tx", **asdict(record)}, sort_keys=True))
        return record

    def update(self, record: TxRecord, **changes: Any) -> TxRecord:
        """Append a newer version of a transaction's record (e.g. status mined with its block)."""
        return self.append(replace(record, ts=time.time(), **changes))

    def _lines(self) -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateUnusable(f"cannot read {self.path}: {exc.strerror or exc}") from None
        for number, line in enumerate(raw.splitlines(), start=1):
            try:
                data = json.loads(line.decode())
            except ValueError:
                # a torn line from a crash mid-write (never sent: it is written before): the records around it stand
                continue
            if not isinstance(data, dict):
                raise JournalUnreadable(
                    f"{self.path}:{number}: not a JSON object; fix or delete that line (no apply writes it)"
                )
            yield number, data

    def transactions(self) -> list[TxRecord]:
        """The latest record of every transaction, in the order they were first journaled."""
        latest: dict[str, TxRecord] = {}
        for number, data in self._lines():
            if data.pop("type", None) != "tx":
                continue
            rec = _record(data, f"{self.path}:{number}")
            latest[rec.tx_hash] = rec
        return list(latest.values())

    def open_transactions(self) -> list[TxRecord]:
        return [t for t in self.transactions() if t.is_open]

    def done_actions(self, plan_id: str) -> set[str]:
        """Action ids of a plan whose transaction was mined successfully."""
        return {t.action_id for t in self.transactions() if t.plan_id == plan_id and t.status == "mined"}


def _record(data: dict[str, Any], where: str) -> TxRecord:
    """A journal line as a record, each field of the type an apply writes (a wrong one is named, not guessed)."""
    fields = {k: v for k, v in data.items() if k in TxRecord.__dataclass_fields__}
    for name in ("tx_hash", "status"):
        if not isinstance(fields.get(name), str):
            raise JournalUnreadable(f"{where}: a record without a {name}; fix or delete that line (no apply writes it)")
    for name, value in fields.items():
        if name in _OPTIONAL_INTS or name in _INTS:
            ok = (value is None and name not in _INTS) or (isinstance(value, int) and not isinstance(value, bool))
        elif name == "ts":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str) or (name == "replaces" and value is None)
        if not ok:
            raise JournalUnreadable(f"{where}: {name} is {value!r}; fix or delete that line (no apply writes it)")
    if fields["status"] not in _STATUSES:
        raise JournalUnreadable(
            f"{where}: unknown status {fields['status']!r}; fix or delete that line (no apply writes it)"
        )
    return TxRecord(**fields)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Which models the marketplace holds and who owns each, learned once and kept in the state dir.

A provider's undeclared models are found from the registry's own list (`getModelIds`, paged), not from logs,
so a plan's cost does not grow with the chain's height. That list only grows (ids are appended, never removed)
and an id's owner never changes (the id is keccak(owner, base id)), so what was read once need not be read
again: a plan reads the ids past those it knows (one call, and one per further page of new ids) and one
`getModel` per id it has not seen. The file is only a cache: without it (or when it does not match this
chain) the registry is read again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

MODEL_PAGE = 500  # ids per getModelIds call (16 KB of answer)


def index_path(state_dir: Path, chain_id: int, diamond: str) -> Path:
    return state_dir / f"{chain_id}-{diamond.lower()}" / "models.json"


@dataclass
class ModelIndex:
    """`ids` in the registry's order (a prefix of `getModelIds`); `owners` for every id whose owner is known."""

    ids: list[str] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    saved: tuple[tuple[str, ...], int] | None = None  # (ids, number of owners) as on disk: unchanged, not written
    writable: bool = True  # False: read the file if it is there, never write it (status, import)

    @classmethod
    def load(cls, path: Path | None, writable: bool = True) -> ModelIndex:
        """The saved index, or an empty one when there is none or it cannot be read (it is only a cache)."""
        if path is None:
            return cls()
        try:
            data = json.loads(path.read_text())
            ids = [str(i) for i in data["ids"]]
            owners = {str(k): str(v) for k, v in data["owners"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cls(path=path, writable=writable)
        return cls(ids, owners, path, (tuple(ids), len(owners)), writable)

    def save(self) -> None:
        """Best effort: a read-only state dir costs the next plan some reads, nothing else."""
        if self.path is None or not self.writable or self.saved == (tuple(self.ids), len(self.owners)):
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"ids": self.ids, "owners": self.owners}, separators=(",", ":")))
            os.replace(tmp, self.path)
            self.saved = (tuple(self.ids), len(self.owners))
        except OSError:
            pass

    def next_offset(self) -> int:
        """Where the next read starts: at the last known id, so its answer also proves the prefix unchanged."""
        return max(len(self.ids) - 1, 0)

    def extend(self, offset: int, page: list[str], total: int) -> bool:
        """Take a `getModelIds(offset, ...)` answer. False when it contradicts what is known (another chain
        under the same id and address, a reorg): the known ids are dropped and must be read from 0."""
        if self.ids and (total < len(self.ids) or offset != len(self.ids) - 1 or not page or page[0] != self.ids[-1]):
            self.ids = []
            return offset == 0 and self.extend(0, page, total)
        self.ids = self.ids[:offset] + page if self.ids else list(page)
        return True

    def owned_by(self, owner: str) -> list[str]:
        return [i for i in self.ids if self.owners.get(i) == owner]

    def unknown(self) -> list[str]:
        return [i for i in self.ids if i not in self.owners]

"""What a watcher may do on this run: apply, or only report, and why. Pure decisions, no I/O.

Every reason that turns auto-apply into alert-only is named, so each report can say why nothing was applied
(suspended, another writer seen, backing off, stopped after failures, no --auto-apply).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal

from reconciler.desired.references import Reference

Mode = Literal["apply", "alert-only"]


@dataclass(frozen=True)
class Gate:
    auto_apply: bool
    policy_suspend: bool = False
    switch_suspend: bool = False
    writer_conflict: bool = False
    backing_off: bool = False
    stopped_after_failures: bool = False

    @property
    def suspended(self) -> bool:
        return self.policy_suspend or self.switch_suspend

    def reasons(self) -> list[str]:
        out = []
        if not self.auto_apply:
            out.append("alert-only (no --auto-apply)")
        if self.policy_suspend:
            out.append("suspended by policy.suspend")
        if self.switch_suspend:
            out.append("suspended by `reconcile watch --suspend`")
        if self.writer_conflict:
            out.append("another writer uses the signer's key (run `reconcile watch --resume` after checking)")
        if self.stopped_after_failures:
            out.append("stopped after repeated failures until the desired state changes")
        elif self.backing_off:
            out.append("backing off after a failure")
        return out

    @property
    def mode(self) -> Mode:
        return "alert-only" if self.reasons() else "apply"


def budget_refusal(planned: int, spent_last_day: int, limit: int | None) -> str | None:
    """Why a plan spending `planned` wei may not run under policy.maxSpendPerDay, or None when it may."""
    if limit is None or planned <= 0 or spent_last_day + planned <= limit:
        return None
    return (
        f"policy.maxSpendPerDay: this plan spends {planned} wei but only {max(limit - spent_last_day, 0)} wei of "
        f"the {limit} wei rolling-day budget is left ({spent_last_day} wei spent in the last 24 h)"
    )


def foreign_nonce(chain_nonce: int, known_next: int) -> bool:
    """The signer's nonce moved past every transaction this watcher knows of (journal or start): someone else."""
    return chain_nonce > known_next


def low_funds(
    signer_eth: int, provider_mor: int, min_signer_eth: int | None, min_provider_mor: int | None
) -> list[str]:
    out = []
    if min_signer_eth is not None and signer_eth < min_signer_eth:
        out.append(f"signer native coin {signer_eth} wei < policy.alerts.minSignerEth {min_signer_eth} wei")
    if min_provider_mor is not None and provider_mor < min_provider_mor:
        out.append(f"provider MOR {provider_mor} wei < policy.alerts.minProviderMor {min_provider_mor} wei")
    return out


def file_references(value: Any) -> set[Path]:
    """Every `file:` reference inside a loaded desired state (secrets whose change must re-run the watcher)."""
    found: set[Path] = set()

    def walk(v: Any) -> None:
        if isinstance(v, Reference):
            if v.kind == "file":
                found.add(Path(v.target))
        elif is_dataclass(v) and not isinstance(v, type):
            for f in fields(v):
                walk(getattr(v, f.name))
        elif isinstance(v, Mapping):
            for x in v.values():
                walk(x)
        elif isinstance(v, (tuple, list, set, frozenset)):
            for x in v:
                walk(x)

    walk(value)
    return found


def files_fingerprint(paths: Iterable[Path]) -> str:
    """sha256 over the named files' paths and bytes (a missing file counts as empty): "did anything change"."""
    h = hashlib.sha256()
    for p in sorted(set(paths)):
        h.update(str(p).encode() + b"\0")
        try:
            h.update(p.read_bytes() if p.is_file() else b"<not a file>")  # never a fifo or a device
        except OSError:
            h.update(b"<missing>")
        h.update(b"\0")
    return h.hexdigest()

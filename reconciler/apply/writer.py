"""The provider's one writer: its state folder, its lock, its journal and a sender, set up in one place.

apply, claim, approve and delegate all write through an open writer, so two of them never write at once for a
provider on a machine, and a killed run of any of them is resumed by the next run of any of them: the journal's
open transactions are recorded as mined, replaced or reverted, or re-sent as the very same bytes. (Named a
writer, not a session: a session is the marketplace's compute session, `reconciler/sessions/`.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3

from reconciler.apply.lock import StateLock
from reconciler.chain.calls import ChainCalls
from reconciler.chain.journal import Journal
from reconciler.chain.networks import Network
from reconciler.chain.sender import ResumeReport, TxSender

LOCK_FILE = "apply.lock"
JOURNAL_FILE = "journal.jsonl"

Progress = Callable[[str], None]


def state_path(state_dir: Path, network: Network, provider: str) -> Path:
    """The per-provider folder under --state-dir: `<chainId>-<provider, lower case>`."""
    return state_dir / f"{network.chain_id}-{provider.lower()}"


def journal_path(state: Path) -> Path:
    return state / JOURNAL_FILE


@dataclass
class ProviderWriter:
    """A held lock and a sender journaling into the provider's folder."""

    sender: TxSender
    journal: Journal

    def resume_and_wait(self, timeout: float = 120.0) -> ResumeReport:
        """Finish what a killed run left: record what was mined, and wait for what is re-sent (same bytes)."""
        report = self.sender.resume()
        if report.rebroadcast:
            self.sender.wait(report.rebroadcast, timeout=timeout)
        return report


@contextmanager
def open_writer(
    state: Path,
    w3: Web3,
    account: LocalAccount,
    network: Network,
    *,
    progress: Progress,
    plan_id: str = "",
    legacy: bool | None = None,
) -> Iterator[ProviderWriter]:
    """Take the provider's lock (a dead holder's is taken over, and said), then open its journal and a sender
    that speaks `network`'s rules: its contracts' errors, its confirmations, and legacy fees unless told."""
    with StateLock(state / LOCK_FILE) as lock:
        if lock.took_over is not None:
            progress(f"took over the lock of a run that is gone ({lock.took_over.describe()})")
        journal = Journal(journal_path(state))
        sender = TxSender(
            w3,
            account,
            journal,
            plan_id=plan_id,
            decoder=ChainCalls(network.diamond, network.mor).decoder,
            legacy=network.legacy if legacy is None else legacy,
            progress=progress,
            confirmations=network.confirmations,
        )
        yield ProviderWriter(sender=sender, journal=journal)

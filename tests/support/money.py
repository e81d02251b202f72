"""The money invariant of every devnet apply run through tests/support/apply_helpers.py: the provider wallet's
MOR moved by the run, to the wei, is what apply printed (fees and stake out, refunds in), what the journal says
its transactions mined in the run move (the plan's figures journaled with each), and what they moved (their
receipts' MOR Transfer logs), so a crashed or reverted run is held to its journal too.

`DevnetCase.reconcile` measures each `apply` (`measure_apply`) and records it in `RUNS`; the autouse fixture in
tests/conftest.py empties `RUNS` before each test and checks every recorded run after it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from web3 import Web3

from reconciler.chain.artifacts import load_artifact

WEI_PER_MOR = 10**18
TRANSFER = Web3.keccak(text="Transfer(address,address,uint256)")
SUMMARY = re.compile(r"MOR spent: fees (-?[\d.]+) MOR, stake (-?[\d.]+) MOR; refunded (-?[\d.]+) MOR")


@dataclass(frozen=True)
class ApplyRun:
    """One `reconcile apply` as the provider wallet saw it."""

    command: str
    provider: str
    delta: int  # the provider wallet's MOR balance after the run less before
    journal_moved: int  # what the journal's transactions mined during the run moved (their Transfer logs)
    journal_said: (
        int  # what the journal says they move (the plan's figures journaled with each) to (+) or from (-) the wallet
    )
    printed: int | None  # refunded less fees and stake, as apply printed them; None when it printed no summary

    def problems(self) -> list[str]:
        out = []
        if self.delta != self.journal_moved:
            out.append(f"wallet delta {self.delta} wei, the journal's transactions moved {self.journal_moved} wei")
        if self.delta != self.journal_said:
            out.append(f"wallet delta {self.delta} wei, the journal says {self.journal_said} wei")
        if self.printed is not None and self.delta != self.printed:
            out.append(f"wallet delta {self.delta} wei, apply printed {self.printed} wei (refunds less spend)")
        return out


RUNS: list[ApplyRun] = []


def _wei(text: str) -> int:
    return int(Decimal(text) * WEI_PER_MOR)


def printed_delta(stdout: str) -> int | None:
    """Refunded less fees and stake, from apply's summary line (None when there is none)."""
    found = SUMMARY.search(stdout)
    if found is None:
        return None
    fees, stake, refunded = (_wei(g) for g in found.groups())
    return refunded - fees - stake


def _option(args: tuple[str, ...], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def provider_of(args: tuple[str, ...], work: Path) -> str:
    """The provider of an `apply` command line: its desired state's, else its saved plan's."""
    from reconciler.desired.loader import load_desired

    saved = _option(args, "--plan")
    paths = [a for a in args[1:] if a.endswith((".yaml", ".yml")) and a != saved]
    if paths:
        desired, _ = load_desired(work / paths[0])
        return Web3.to_checksum_address(desired.provider.address)
    assert saved is not None, f"apply without a desired state or a saved plan: {args}"
    return Web3.to_checksum_address(json.loads((work / saved).read_text())["network"]["provider"])


def _journal(path: Path) -> dict[str, dict[str, Any]]:
    """The latest record of each transaction in the journal, by hash."""
    if not path.exists():
        return {}
    out: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line
        if isinstance(record, dict) and record.get("tx_hash"):
            out[record["tx_hash"]] = record
    return out


def moved_by(w3: Web3, mor: str, who: str, journal: dict[str, dict[str, Any]], after_block: int) -> tuple[int, int]:
    """What the journal's transactions mined after `after_block` moved to (+) or from (-) `who`: by their receipts'
    MOR Transfer logs, and by the plan figures journaled with them (a journaled transaction of an earlier run that
    this run re-broadcast counts)."""
    token = Web3.to_checksum_address(mor)
    contract = w3.eth.contract(address=token, abi=load_artifact("MorToken").abi)
    logged = said = 0
    for h, record in journal.items():
        try:
            receipt = w3.eth.get_transaction_receipt(h)  # type: ignore[arg-type]
        except Exception:  # not mined (dropped or replaced): it moved nothing
            continue
        if receipt["blockNumber"] <= after_block or receipt["status"] != 1:
            continue
        said -= int(record.get("fee", 0)) + int(record.get("stake", 0))
        for log in receipt["logs"]:
            if log["address"] != token or not log["topics"] or log["topics"][0] != TRANSFER:
                continue
            ev = contract.events.Transfer().process_log(log)
            src, dst, value = ev["args"]["from"], ev["args"]["to"], int(ev["args"]["value"])
            logged += (value if dst == who else 0) - (value if src == who else 0)
    return logged, said


def _printed(result: Any) -> str:
    """What `reconcile apply` prints of a result: a child process's stdout, or an in-process result's summary."""
    if hasattr(result, "summary"):
        return str(result.summary()) if result.applied or result.txs else ""
    return str(getattr(result, "stdout", "") or "")


def measure_apply(info: dict[str, Any], work: Path, args: tuple[str, ...], run: Callable[[], Any]) -> Any:
    """Run `run` (an `apply` with these arguments, in a child process or in this one) and record what it moved;
    returns what `run` returned."""
    w3 = Web3(Web3.HTTPProvider(info["rpcUrl"]))
    provider = provider_of(args, work)
    state = work / (_option(args, "--state-dir") or ".reconcile")
    journal = state / f"{w3.eth.chain_id}-{provider.lower()}" / "journal.jsonl"
    mor = w3.eth.contract(address=info["mor"], abi=load_artifact("MorToken").abi)
    block = w3.eth.block_number
    before = int(mor.functions.balanceOf(provider).call())
    result = run()
    after = int(mor.functions.balanceOf(provider).call())
    logged, said = moved_by(w3, info["mor"], provider, _journal(journal), block)
    stdout = _printed(result)
    RUNS.append(
        ApplyRun(
            command=" ".join(args[:2]),
            provider=provider,
            delta=after - before,
            journal_moved=logged,
            journal_said=said,
            printed=printed_delta(stdout),
        )
    )
    return result

"""`reconcile claim PATH [--dry-run] [--yes] [--state-dir]`: collect the provider's earnings from ended sessions.

Shows the sessions it would claim and the MOR each pays, and asks as apply does (`--yes` for a script; piped
input never answers, `commands/confirm.py`). Prints, per session, what it collects and the gas it costs, then
the total and the room left under the stake cap. Transactions go through the journaled sender (crash-safe, resumed on the next run) under the same state
directory and lock as apply, so the two never race on the signer's nonces. The chain side (web3) is imported
when the command runs, so `reconcile --help` starts without it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.commands.options import state_dir_option
from reconciler.commands.outcome import EXIT_OK, handled, say
from reconciler.desired.loader import load_desired
from reconciler.market.units import format_mor

if TYPE_CHECKING:
    from reconciler.sessions.claim import ClaimItem, ClaimReport


@click.command("claim")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would be collected and the estimated gas; send nothing.")
@click.option(
    "--yes",
    "--auto-approve",
    "auto_approve",
    is_flag=True,
    help="Send without asking for confirmation (required without a terminal), as for apply.",
)
@state_dir_option("Where the transaction journal and the apply lock live (shared with apply).")
def claim_cmd(path: Path, dry_run: bool, auto_approve: bool, state_dir: Path) -> None:
    """Collect the provider's earnings from ended sessions (claimForProvider), within the stake cap."""
    sys.exit(run_claim(path, dry_run, state_dir, auto_approve=auto_approve))


def _confirm_with(auto_approve: bool, names: Mapping[str, str]) -> Callable[[Sequence[ClaimItem]], bool]:
    """apply's question for claims: the sessions and the MOR they pay are shown, then `--yes` or a typed 'yes'."""
    from reconciler.commands.confirm import require_terminal
    from reconciler.sessions.claim import ClaimError

    def confirm(items: Sequence[ClaimItem]) -> bool:
        say(render_items(items, names), nl=False)
        if auto_approve:
            return True
        require_terminal("claim", ClaimError)
        answer = click.prompt("Send these claims? Only 'yes' is accepted", default="", show_default=False)
        return bool(answer.strip() == "yes")

    return confirm


def render_items(items: Sequence[ClaimItem], names: Mapping[str, str]) -> str:
    """What a claim would send: one line per session with the MOR the rules say it pays now, and the total."""
    lines = [f"will claim {format_mor(sum(i.amount for i in items))} from {len(items)} session(s):"]
    for i in items:
        model = names.get(i.model_id) or (i.model_id[:10] + "…" if i.model_id else "?")
        lines.append(f"  session {i.session_id[:10]}…{i.session_id[-4:]} ({model}): {format_mor(i.amount)}")
    return "\n".join(lines) + "\n"


@handled
def run_claim(
    path: Path,
    dry_run: bool,
    state_dir: Path,
    environ: Mapping[str, str] | None = None,
    auto_approve: bool = False,
) -> int:
    from reconciler.apply.writer import state_path
    from reconciler.chain.networks import resolve_network
    from reconciler.chain.reader import ChainReader
    from reconciler.chain.signer import load_signer
    from reconciler.sessions.claim import claim_all, claim_journaled

    env = os.environ if environ is None else environ
    desired, _warnings = load_desired(path)
    network = resolve_network(desired.network, env)
    reader = ChainReader.connect(network, state_dir=state_dir)
    names = {m.model_id: m.name or m.key for m in desired.models}
    if dry_run:
        report = claim_all(reader, desired, None)
    else:
        account = load_signer(desired.signer, env)
        state = state_path(state_dir, network, desired.provider.address)  # apply's journal and lock
        report = claim_journaled(
            reader,
            desired,
            account,
            state,
            network.legacy,
            lambda line: say(f"  {line}", err=True),
            _confirm_with(auto_approve, names),
        )
    say(render_report(report, names), nl=False)
    return EXIT_OK


def render_report(r: ClaimReport, names: Mapping[str, str]) -> str:
    from reconciler.plan.context import utc
    from reconciler.render.common import gas_text

    verb = "would collect" if r.dry_run else "collected"
    lines = [f"claims for provider {r.provider} at block {r.block}" + (" (dry run: nothing sent)" if r.dry_run else "")]
    for o in r.outcomes:
        model = names.get(o.model_id) or (o.model_id[:10] + "…" if o.model_id else "?")
        head = f"  session {o.session_id[:10]}…{o.session_id[-4:]} ({model}): "
        if o.note:
            lines.append(head + o.note)
            continue
        amount = o.expected if r.dry_run else o.collected
        gas = (
            f"estimated gas {gas_text(o.gas, o.gas_wei)}"
            if r.dry_run
            else f"gas {o.gas:,} ({o.gas_wei / 10**18:.6f} ETH)"
        )
        tx = f", tx {o.tx_hash}" if o.tx_hash else ""
        lines.append(head + f"{verb} {format_mor(amount)}, {gas}{tx}")
    if not r.outcomes:
        lines.append("  nothing to claim: no ended session has unpaid earnings")
    n = sum(1 for o in r.outcomes if not o.note)
    lines.append(
        f"total: {verb} {format_mor(r.collected)} from {n} session(s), "
        f"gas {gas_text(r.gas, r.gas_wei) if r.dry_run else f'{r.gas:,} ({r.gas_wei / 10**18:.6f} ETH)'}; "
        f"room left under the stake cap {format_mor(max(r.cap_room_after, 0))}"
    )
    if r.stopped_at_cap:
        lines.append(
            f"stopped at the stake cap: the rest stays claimable and is paid by a claim after {utc(r.limit_period_end)}, "
            "when a new 365-day period starts (or raise provider.stake)"
        )
    if r.live_sessions:
        lines.append(f"{r.live_sessions} session(s) still live: claimable once they end")
    lines += [f"note: {note}" for note in r.notes]
    return "\n".join(lines) + "\n"

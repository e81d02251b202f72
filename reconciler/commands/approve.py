"""`reconcile approve PATH`: the MOR allowance the plan needs, sent from the PROVIDER wallet.

The shell of `apply/approve.py`: parse the options, show what will be approved, ask, print the outcome. The
chain side (web3) is imported when the command runs, so `reconcile --help` starts without it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import click

from reconciler.commands.confirm import require_terminal
from reconciler.commands.options import keystore_options, state_dir_option
from reconciler.commands.outcome import EXIT_ERROR, EXIT_OK, handled, say
from reconciler.commands.provider_key import password_prompt
from reconciler.desired.loader import load_desired
from reconciler.market.units import format_mor, parse_amount


@click.command("approve")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--amount", help='A standing allowance (e.g. "5 MOR"); default: exactly what the plan spends.')
@state_dir_option("Where the journal and the lock are kept (shared with apply).")
@click.option(
    "--yes", "--auto-approve", "auto_approve", is_flag=True, help="Send without asking (--auto-approve: old name)."
)
@click.option(
    "--key-ref", help="The PROVIDER wallet's key: env:NAME or file:PATH (default: the signer's, if it is the provider)."
)
@keystore_options
def approve_cmd(
    path: Path,
    amount: str | None,
    state_dir: Path,
    auto_approve: bool,
    key_ref: str | None,
    keystore: Path | None,
    password_ref: str | None,
) -> None:
    """Send the MOR approve the plan of PATH needs, from the provider wallet (the manual step of delegate mode)."""
    sys.exit(run_approve(path, amount, state_dir, auto_approve, key_ref, keystore=keystore, password_ref=password_ref))


@handled
def run_approve(
    path: Path,
    amount_text: str | None,
    state_dir: Path,
    auto_approve: bool,
    key_ref: str | None,
    environ: Mapping[str, str] | None = None,
    keystore: Path | None = None,
    password_ref: str | None = None,
) -> int:
    from reconciler.apply.approve import MAX_UINT256, ApproveError, allowance_need, provider_key, send_allowance
    from reconciler.chain.signer import key_options, load_given_key

    key = key_options(key_ref, keystore, password_ref, Path.cwd())
    from reconciler.desired.secrets import flag_uses

    given = flag_uses(key.key, key.password) if key is not None else ()
    desired, _warnings = load_desired(path, environ, given)
    amount = None if amount_text is None else parse_amount(amount_text)
    want = allowance_need(desired, environ, amount, state_dir)
    if not want.need:
        click.echo(
            f"nothing to approve: the allowance of {want.provider} to the Diamond ({format_mor(want.current)}) "
            "covers what this plan spends"
        )
        return EXIT_OK
    if want.amount == MAX_UINT256:
        click.echo("warning: an unlimited allowance: the Diamond may spend every MOR of this wallet", err=True)
    account = provider_key(desired, None if key is None else load_given_key(key, environ, password_prompt()), environ)
    click.echo(
        f"approve: {want.provider} lets the Diamond {want.network.diamond} spend {format_mor(want.amount)} "
        f"(allowance now {format_mor(want.current)}; this plan spends {format_mor(want.need)})"
    )
    if not auto_approve:
        require_terminal("approve", ApproveError)
    if not auto_approve and not click.confirm("Send this approve?", default=False):
        click.echo("cancelled: nothing was sent", err=True)
        return EXIT_ERROR
    progress = lambda line: say(line, err=True)  # noqa: E731
    done, now = send_allowance(want, account, state_dir, progress, exact_refresh=amount_text is None)
    if done is None:
        click.echo(f"the allowance is already {format_mor(now)}: nothing sent")
        return EXIT_OK
    click.echo(
        f"approved {format_mor(want.amount)} for the Diamond from {want.provider} (tx {done.tx_hash}, block "
        f"{done.block}); now run `reconcile apply {path}`"
    )
    return EXIT_OK

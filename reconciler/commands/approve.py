"""`reconcile approve PATH`: the MOR allowance the plan needs, sent from the PROVIDER wallet.

The shell of `apply/approve.py`: parse the options, show what will be approved, ask, print the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import click

from reconciler.apply.approve import MAX_UINT256, allowance_need, provider_key, send_allowance
from reconciler.chain.signer import key_options, load_given_key
from reconciler.commands.outcome import EXIT_ERROR, EXIT_OK, handled
from reconciler.commands.provider_key import password_prompt
from reconciler.desired.loader import load_desired
from reconciler.market.units import format_mor, parse_amount


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
    key = key_options(key_ref, keystore, password_ref, Path.cwd())
    desired, _warnings = load_desired(path)
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
    if not auto_approve and not click.confirm("Send this approve?", default=False):
        click.echo("cancelled: nothing was sent", err=True)
        return EXIT_ERROR
    progress = lambda line: click.echo(line, err=True)  # noqa: E731
    done, now = send_allowance(want, account, state_dir, progress, exact_refresh=amount_text is None)
    if done is None:
        click.echo(f"the allowance is already {format_mor(now)}: nothing sent")
        return EXIT_OK
    click.echo(
        f"approved {format_mor(want.amount)} for the Diamond from {want.provider} (tx {done.tx_hash}, block "
        f"{done.block}); now run `reconcile apply {path}`"
    )
    return EXIT_OK

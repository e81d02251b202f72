"""`reconcile delegate PATH check|grant|revoke`: the hot key's delegate.xyz rights, from the PROVIDER wallet.

The shell of `apply/delegate.py`: parse the options, show the rights, ask, print the outcome. `check` sends
nothing and exits 2 when a right the desired state needs is missing (like `plan --detailed-exitcode`). The chain
side (web3) is imported when the command runs, so `reconcile --help` starts without it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import click

from reconciler.commands.confirm import require_terminal
from reconciler.commands.options import keystore_options, state_dir_option
from reconciler.commands.outcome import EXIT_ERROR, EXIT_OK, EXIT_PENDING, handled, say
from reconciler.commands.provider_key import password_prompt
from reconciler.desired.loader import load_desired

PAST = {"grant": "granted", "revoke": "revoked"}  # what each sending verb says once done


@click.command("delegate")
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("verb", type=click.Choice(["check", "grant", "revoke"]))
@click.option(
    "--rights", help="Comma list of provider,model,marketplace,session (default: what PATH needs; revoke: all)."
)
@click.option("--key-ref", help="The PROVIDER wallet's key: file:PATH (0600) or env:NAME; never the key itself.")
@keystore_options
@state_dir_option("Where the journal and the lock are kept (shared with apply).")
@click.option("--yes", "auto_approve", is_flag=True, help="Send without asking for confirmation.")
def delegate_cmd(
    path: Path,
    verb: str,
    rights: str | None,
    key_ref: str | None,
    keystore: Path | None,
    password_ref: str | None,
    state_dir: Path,
    auto_approve: bool,
) -> None:
    """Check, grant or revoke the signer's delegate.xyz rights, sent from the provider wallet (delegate mode)."""
    sys.exit(
        run_delegate(path, verb, rights, key_ref, state_dir, auto_approve, keystore=keystore, password_ref=password_ref)
    )


@handled
def run_delegate(
    path: Path,
    verb: str,
    rights_text: str | None,
    key_ref: str | None,
    state_dir: Path,
    auto_approve: bool,
    environ: Mapping[str, str] | None = None,
    keystore: Path | None = None,
    password_ref: str | None = None,
) -> int:
    from reconciler.apply.delegate import (
        DelegateError,
        changes,
        cold_key,
        parse_rights,
        read_delegation,
        rights_needed,
        send_rights,
    )
    from reconciler.chain.reader import DELEGATION_RIGHTS
    from reconciler.chain.signer import key_options, load_given_key
    from reconciler.plan.context import delegate_command

    key = key_options(key_ref, keystore, password_ref, Path.cwd())
    from reconciler.desired.secrets import flag_uses

    given = flag_uses(key.key, key.password) if key is not None else ()
    desired, _warnings = load_desired(path, environ, given)
    needed = rights_needed(desired)
    if rights_text is not None:
        rights = parse_rights(rights_text)
    else:
        rights = needed if verb != "revoke" else DELEGATION_RIGHTS
    d = read_delegation(desired, environ)
    click.echo(f"delegate.xyz registry {d.registry} (named by the Diamond {d.network.diamond})")
    click.echo(f"provider wallet {d.provider} -> delegate (the signer, hot key) {d.delegate}:")
    for r in DELEGATION_RIGHTS:
        need = "needed" if r in needed else "not needed"
        click.echo(f"  {r:<12} {'granted' if d.granted[r] else 'missing':<8} ({need} by {path})")
    if verb == "check":
        missing = [r for r in needed if not d.granted[r]]
        if not missing:
            click.echo("every right this desired state needs is granted")
            return EXIT_OK
        click.echo(f"missing: {', '.join(missing)}; grant them: {delegate_command(desired)}")
        return EXIT_PENDING
    enable = verb == "grant"
    done_word = PAST[verb]
    todo = changes(d, rights, enable)
    if not todo:
        click.echo(f"nothing to {verb}: {', '.join(rights)} already {done_word}")
        return EXIT_OK
    if key is None:
        raise DelegateError(
            f"rights are {done_word} by the provider wallet {d.provider}: give its key with --key-ref file:PATH "
            "(a 0600 file, never the key itself on a command line) or --keystore PATH (an encrypted keystore)"
        )
    account = cold_key(d, load_given_key(key, environ, password_prompt()))
    click.echo(f"{verb}: {', '.join(todo)} ({len(todo)} transaction(s) from {d.provider} to the registry)")
    if not auto_approve:
        require_terminal(verb, DelegateError)
    if not auto_approve and not click.confirm(f"Send the {verb}?", default=False):
        click.echo("cancelled: nothing was sent", err=True)
        return EXIT_ERROR
    progress = lambda line: say(line, err=True)  # noqa: E731
    done = send_rights(d, account, todo, enable, state_dir, progress)
    for rec in done:
        click.echo(f"{rec.action}: tx {rec.tx_hash} (block {rec.block})")
    click.echo(f"{done_word} {', '.join(todo)}; `reconcile delegate {path} check` reads them back")
    return EXIT_OK

"""`reconcile validate PATH`: check a desired state offline (schema and static checks, no network, no web3)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.commands.outcome import EXIT_OK, handled, report, say
from reconciler.desired.diagnostics import Severity, ValidationFailed
from reconciler.desired.loader import load_desired


@click.command("validate")
@click.argument("path", type=click.Path(path_type=Path))
def validate_cmd(path: Path) -> None:
    """Check a desired state (file or directory) without any network; exit 1 on errors."""
    sys.exit(run_validate(path))


@handled
def run_validate(path: Path) -> int:
    try:
        desired, warnings = load_desired(path)
    except ValidationFailed as exc:  # its diagnostics as every command prints them, then what was not done
        code = report(exc)
        errors = [d for d in exc.diagnostics if d.severity is Severity.ERROR]
        click.echo(f"{len(errors)} error(s); nothing was checked against the chain", err=True)
        return code
    for d in warnings:
        say(str(d), err=True)
    own = sum(1 for m in desired.models if m.managed)
    bids = sum(1 for m in desired.models if m.bid is not None)
    click.echo(
        f"{path}: valid ({len(desired.models)} models, {own} own, {bids} bids, "
        f"{len(desired.upstreams)} upstreams, {len(warnings)} warning(s))"
    )
    return EXIT_OK

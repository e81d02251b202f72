"""`reconcile validate PATH`: check a desired state offline (schema and static checks, no network, no web3).

On a fleet (a folder holding fleet.yaml) every provider is validated, with the fleet-wide checks, and each gets a
summary line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.commands.outcome import EXIT_OK, handled, report, say
from reconciler.desired.diagnostics import Diagnostic, Severity, ValidationFailed
from reconciler.desired.fleet import Fleet, is_fleet, load_fleet
from reconciler.desired.loader import load_desired
from reconciler.desired.model import Desired


@click.command("validate")
@click.argument("path", type=click.Path(path_type=Path))
def validate_cmd(path: Path) -> None:
    """Check a desired state (file, directory or fleet) without any network; exit 1 on errors."""
    sys.exit(run_validate(path))


@handled
def run_validate(path: Path) -> int:
    try:
        if is_fleet(path):
            fleet = load_fleet(path)
        else:
            desired, warnings = load_desired(path)
    except ValidationFailed as exc:  # its diagnostics as every command prints them, then what was not done
        code = report(exc)
        errors = [d for d in exc.diagnostics if d.severity is Severity.ERROR]
        click.echo(f"{len(errors)} error(s); nothing was checked against the chain", err=True)
        return code
    if is_fleet(path):
        _fleet_summary(path, fleet)
        return EXIT_OK
    for d in warnings:
        say(str(d), err=True)
    click.echo(f"{path}: valid ({_counts(desired, warnings)})")
    return EXIT_OK


def _counts(desired: Desired, warnings: list[Diagnostic] | tuple[Diagnostic, ...]) -> str:
    own = sum(1 for m in desired.models if m.managed)
    bids = sum(1 for m in desired.models if m.bid is not None)
    return (
        f"{len(desired.models)} models, {own} own, {bids} bids, "
        f"{len(desired.upstreams)} upstreams, {len(warnings)} warning(s)"
    )


def _fleet_summary(path: Path, fleet: Fleet) -> None:
    """One line for the fleet, one per provider, one per upstream account with a limit: its slots by provider."""
    warnings = list(dict.fromkeys(w for m in fleet.members for w in m.warnings))
    for w in warnings:
        say(str(w), err=True)
    networks = sorted({_network(m.desired) for m in fleet.members})
    say(f"{path}: valid fleet ({len(fleet.members)} providers on {', '.join(networks)}, {len(warnings)} warning(s))")
    for m in fleet.members:
        d = m.desired
        say(f"  {m.name}: valid ({_counts(d, m.warnings)}) on {_network(d)}, provider {d.provider.address}")
    limits = {u.name: u.max_concurrency for m in fleet.members for u in m.desired.upstreams if u.max_concurrency}
    for name, limit in limits.items():
        shares = [
            (m.name, sum(x.concurrent_slots or 0 for x in m.desired.models if x.upstream == name and not x.absent))
            for m in fleet.members
            if m.desired.upstream(name) is not None
        ]
        used = sum(n for _, n in shares)
        parts = ", ".join(f"{p} {n}" for p, n in shares if n)
        say(f"  upstream {name}: {used} of {limit} slots ({parts or 'none used'})")


def _network(desired: Desired) -> str:
    n = desired.network
    return n.preset or f"chain {n.chain_id}"

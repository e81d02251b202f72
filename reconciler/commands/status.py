"""`reconcile status PATH [--format text|json|html]`: the provider's business on one screen.

The reading, the document and its renderers live in reconciler.status (reading.py, model.py, text.py, page.py,
html.py; report.py puts them together); this module is the click command: it prints what report.py gives and
chooses the exit code. The reading (web3, httpx) is imported when the command runs, so `reconcile --help`
starts without it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import click
from click.core import ParameterSource

from reconciler.commands.options import provider_option, state_dir_option, trust_host_option, weights_option
from reconciler.commands.outcome import EXIT_ERROR, EXIT_OK, handled


@click.command("status")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@state_dir_option(
    "the watcher's state directory: its last upstream and router health; html: its last runs and chart. Only "
    "read, but for the registry's model index (a cache), kept up to date in a --state-dir given that exists."
)
@trust_host_option
@provider_option("On a fleet folder: this member in full (repeatable: these members in the table; default: all).")
@weights_option
def status_cmd(
    path: Path,
    fmt: str,
    state_dir: Path,
    trust_hosts: tuple[str, ...],
    providers: tuple[str, ...],
    weights_file: Path | None,
) -> None:
    """Show the provider on one screen: stake, bids and prices, slots, live sessions, earnings, claimable, drift.
    On a fleet: every provider's state in one table."""
    given = click.get_current_context().get_parameter_source("state_dir") is not ParameterSource.DEFAULT
    write_index = given and state_dir.is_dir()  # a look never creates a state dir
    sys.exit(
        run_status(
            path,
            fmt,
            state_dir=state_dir,
            trust_hosts=trust_hosts,
            providers=providers,
            write_index=write_index,
            weights_file=weights_file,
        )
    )


@handled
def run_status(
    path: Path,
    fmt: str,
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
    trust_hosts: tuple[str, ...] = (),
    providers: tuple[str, ...] = (),
    write_index: bool = False,
    weights_file: Path | None = None,
) -> int:
    from reconciler.desired.fleet import is_fleet
    from reconciler.observe.destinations import with_trusted_hosts
    from reconciler.observe.market_input import with_weights
    from reconciler.status.report import fleet_status_output, status_output

    env = with_weights(with_trusted_hosts(os.environ if environ is None else environ, trust_hosts), weights_file)
    if not is_fleet(path):
        if providers:
            click.echo(f"error: --provider names a member of a fleet, and {path} holds one provider", err=True)
            return EXIT_ERROR
        click.echo(status_output(path, fmt, env, state_dir, write_index), nl=False)
        return EXIT_OK
    if fmt == "html" and len(providers) != 1:
        click.echo("error: a status page is one provider's: give one --provider NAME of the fleet", err=True)
        return EXIT_ERROR
    text, all_read = fleet_status_output(path, fmt, providers, env, state_dir, write_index)
    click.echo(text, nl=False)
    return EXIT_OK if all_read else EXIT_ERROR

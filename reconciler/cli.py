"""The `reconcile` command line: the group, the registration of its commands, and `main` (the console script).

Each command's click code and body live in its own `commands/` module and end through `commands/outcome.py`
(`@handled`: expected failures print `error: ...` and exit 1). Exit codes: 0 ok / no changes, 1 error, 2 changes
pending. A bug escapes the commands and is printed here in one line, or raised with `reconcile --traceback`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from reconciler import __version__
from reconciler.commands.apply import apply_cmd
from reconciler.commands.approve import approve_cmd
from reconciler.commands.claim import claim_cmd
from reconciler.commands.delegate import delegate_cmd
from reconciler.commands.devnet import devnet_group
from reconciler.commands.import_state import import_cmd
from reconciler.commands.market import market_cmd
from reconciler.commands.outcome import EXIT_ERROR, unexpected
from reconciler.commands.plan import plan_cmd
from reconciler.commands.status import status_cmd
from reconciler.commands.validate import validate_cmd
from reconciler.commands.watch import watch_cmd

TRACEBACK_FLAGS = ("--traceback", "--verbose")  # --verbose: the old name, kept hidden


@click.group()
@click.version_option(__version__, prog_name="reconcile")
@click.option("--traceback", "show_traceback", is_flag=True, help="Show the traceback of an unexpected error (a bug).")
@click.option("--verbose", "old_traceback", is_flag=True, hidden=True, help="The old name of --traceback.")
def cli(show_traceback: bool, old_traceback: bool) -> None:
    """GitOps for Morpheus resale providers: declare in YAML, plan, apply, watch."""


COMMANDS = (
    devnet_group,
    validate_cmd,
    plan_cmd,
    apply_cmd,
    import_cmd,
    approve_cmd,
    delegate_cmd,
    claim_cmd,
    status_cmd,
    market_cmd,
    watch_cmd,
)
for command in COMMANDS:
    cli.add_command(command)


def wants_traceback(args: Sequence[str]) -> bool:
    """--traceback (or --verbose) among the group's own options, before the command's name: after it,
    `--verbose` is the command's own flag (`plan --verbose`)."""
    for arg in args:
        if not arg.startswith("-"):
            return False
        if arg in TRACEBACK_FLAGS:
            return True
    return False


def main() -> None:
    """The console script: expected failures are handled by each command; a bug is one line unless --traceback."""
    try:
        cli()
    except Exception as exc:
        if wants_traceback(sys.argv[1:]):
            raise
        click.echo(unexpected(exc), err=True)
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()

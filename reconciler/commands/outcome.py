"""How a command ends: the exit codes and the one mapping from the reconciler's errors to what is printed.

Exit codes (docs/architecture.md, "Stable interfaces"): 0 success or nothing pending, 1 error, 2 changes
pending (`plan --detailed-exitcode`). Every command's body is `@handled`: an expected failure (`ReconcileError`)
prints `error: ` and its message, or each diagnostic of a `ValidationFailed`, and exits 1; Ctrl-C says how to go
on and exits 1; anything else is a bug, shown by the CLI's `main` in one line (`unexpected`) unless
`reconcile --traceback`. Whatever a command prints that may quote a value from YAML or chain (errors, warnings,
diagnostics, progress, notes) goes through `say`, which shows control and bidi characters escaped.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import ParamSpec

import click

from reconciler import ReconcileError
from reconciler.desired.diagnostics import ValidationFailed
from reconciler.render.controls import escape_controls

EXIT_OK, EXIT_ERROR, EXIT_PENDING = 0, 1, 2

P = ParamSpec("P")
INTERRUPTED = "a transaction already sent is in the journal: run the same command again to finish it"
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I)  # an RPC URL may carry an API key in its path or query


def say(text: str, err: bool = False, nl: bool = True) -> None:
    """Print a line (or lines) for a person, control and bidi characters but newline and tab shown escaped: piped,
    click strips only colour, so a name's OSC sequence would otherwise reach a CI log or a terminal as it is."""
    click.echo(escape_controls(text, keep="\n\t"), err=err, nl=nl)


def report(exc: ReconcileError) -> int:
    """Print an expected failure for a person; returns the exit code."""
    if isinstance(exc, ValidationFailed):
        for d in exc.diagnostics:
            say(str(d), err=True)
    else:
        say(f"error: {exc}", err=True)
    return EXIT_ERROR


def handled(run: Callable[P, int]) -> Callable[P, int]:
    """A command's body whose expected failures become their message and exit 1."""

    @functools.wraps(run)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> int:
        try:
            return run(*args, **kwargs)
        except ReconcileError as exc:
            return report(exc)
        except KeyboardInterrupt:  # the lock and files are released by now; say how to go on, not "Aborted!"
            click.echo(f"error: interrupted; {INTERRUPTED}", err=True)
            return EXIT_ERROR

    return wrapper


def unexpected(exc: BaseException) -> str:
    """One line for a bug: the type and the message, with any URL left out (it may hold a key)."""
    text = escape_controls(_URL.sub("<url>", str(exc).splitlines()[0] if str(exc) else ""))
    return f"error: unexpected {type(exc).__name__}: {text} (run again with reconcile --traceback for the traceback)"

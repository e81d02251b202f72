"""How a command ends: the exit codes and the one mapping from the reconciler's errors to what is printed.

Exit codes (docs/architecture.md, "Stable interfaces"): 0 success or nothing pending, 1 error, 2 changes
pending (`plan --detailed-exitcode`). Every command's body is `@handled`: an expected failure (`ReconcileError`)
prints `error: ` and its message, or each diagnostic of a `ValidationFailed`, and exits 1; Ctrl-C says how to go
on and exits 1; anything else is a bug, shown by the CLI's `main` in one line (`unexpected`) unless
`reconcile --traceback`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import ParamSpec

import click

from reconciler import ReconcileError
from reconciler.desired.diagnostics import ValidationFailed

EXIT_OK, EXIT_ERROR, EXIT_PENDING = 0, 1, 2

P = ParamSpec("P")
INTERRUPTED = "a transaction already sent is in the journal: run the same command again to finish it"
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I)  # an RPC URL may carry an API key in its path or query


def report(exc: ReconcileError) -> int:
    """Print an expected failure for a person; returns the exit code."""
    if isinstance(exc, ValidationFailed):
        for d in exc.diagnostics:
            click.echo(str(d), err=True)
    else:
        click.echo(f"error: {exc}", err=True)
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
    text = _URL.sub("<url>", str(exc).splitlines()[0] if str(exc) else "")
    return f"error: unexpected {type(exc).__name__}: {text} (run again with reconcile --traceback for the traceback)"

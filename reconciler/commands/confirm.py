"""One confirmation rule for every command that sends (apply, approve, delegate, claim): `--yes`, or an answer
typed at a terminal. Piped input never answers: a `yes |` in front of a command would otherwise approve whatever
it prints, so a script that means to send says so with `--yes`."""

from __future__ import annotations

import sys

from reconciler import GuardRefused


def require_terminal(verb: str, refusal: type[GuardRefused]) -> None:
    """Refuse (nothing sent) when no person can answer: stdin is not a terminal and `--yes` was not given."""
    if not sys.stdin.isatty():
        raise refusal(
            f"no terminal to ask for confirmation: run with --yes to {verb} unattended (a piped answer is not taken)"
        )

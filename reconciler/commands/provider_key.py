"""The hidden password prompt for `approve`/`delegate --keystore` without `--password-ref`: the shell's part of
`chain.signer.load_given_key`, offered only when a person is at the terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click


def _ask(keystore: Path) -> str:
    return str(click.prompt(f"Password of the keystore {keystore}", hide_input=True, err=True))


def password_prompt() -> Callable[[Path], str] | None:
    """The prompt when stdin is a terminal, else None (a script must give --password-ref, not hang)."""
    return _ask if sys.stdin.isatty() else None

"""The operator's own pricing strategy: a command on the host, given one model's market as JSON on stdin, that
prints a price on stdout (as Akash's shellScript bid strategy does, here against the competing bids).

Configured on the host only (`--price-command` or RECONCILE_PRICE_COMMAND for `apply` and `watch`), never in the
desired state: a pull request must not be able to run code in CI's `plan`. Its answer is data for the pure
planner, which bounds it by the policy's floor and ceiling; any failure here leaves that bid as it is.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler import FileUnusable
from reconciler.market.policy import BadPriceAnswer, Commanded, parse_price_answer

PRICE_COMMAND_ENV = "RECONCILE_PRICE_COMMAND"
DEFAULT_TIMEOUT_SECONDS = 10.0
_STDERR_SHOWN = 200


class PriceCommandFailed(FileUnusable):
    """The price command gave no usable price: it could not start, crashed, timed out or answered no price."""


@dataclass(frozen=True)
class PriceCommand:
    """A command line (split as a shell would split words, run without a shell) and how long it may take."""

    command: str
    timeout: float = DEFAULT_TIMEOUT_SECONDS


class PriceAnswers:
    """The price command's answers of one run (an apply, or one watcher run): each model is asked once, and its
    answer is reused by every plan of the run (the one before an apply, the one after it, the page's). The
    answer is an input of the plan, like the market snapshot; a new run asks again."""

    def __init__(self, command: PriceCommand) -> None:
        self.command = command
        self._answers: dict[str, Commanded] = {}

    @staticmethod
    def of(command: PriceCommand | PriceAnswers | None) -> PriceAnswers | None:
        """A run's answers: the ones given, or a fresh set for a bare command (None: no command)."""
        return PriceAnswers(command) if isinstance(command, PriceCommand) else command

    def answer(self, model_id: str, market: Callable[[], dict[str, Any]]) -> Commanded:
        """The model's answer: asked with the `market` document the first time, the same answer after it."""
        if model_id not in self._answers:
            try:
                self._answers[model_id] = Commanded(price=ask_price(self.command, market()))
            except PriceCommandFailed as exc:
                self._answers[model_id] = Commanded(error=str(exc))
        return self._answers[model_id]


def ask_price(command: PriceCommand, market: dict[str, Any]) -> int:
    """The command's price in wei for this market document (raises PriceCommandFailed, saying why)."""
    try:
        argv = shlex.split(command.command)
    except ValueError as exc:
        raise PriceCommandFailed(f"the price command cannot be run: {exc}") from None
    if not argv:
        raise PriceCommandFailed("the price command cannot be run: it is empty")
    try:
        done = subprocess.run(
            argv,
            input=json.dumps(market, sort_keys=True),
            capture_output=True,
            text=True,
            timeout=command.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PriceCommandFailed(f"the price command timed out after {command.timeout:g} s") from None
    except OSError as exc:
        raise PriceCommandFailed(f"the price command cannot be run: {exc.strerror or exc}") from None
    if done.returncode != 0:
        said = " ".join(done.stderr.split())[:_STDERR_SHOWN]
        raise PriceCommandFailed(
            f"the price command exited with status {done.returncode}" + (f": {said}" if said else "")
        )
    try:
        return parse_price_answer(done.stdout)
    except BadPriceAnswer as exc:
        raise PriceCommandFailed(f"the price command {exc}") from None

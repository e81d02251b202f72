"""The operator's price command: JSON of the model's market on stdin, a price on stdout; every failure is a clear
error (the planner then leaves the bid as it is: tests/plan/test_market_policy.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

MARKET = {"modelId": "0x" + "11" * 32, "floor": "1000", "ceiling": "9000", "bids": []}


def script(tmp_path: Path, body: str) -> str:
    """A tiny Python script written into tmp_path, as the command line that runs it."""
    path = tmp_path / "price.py"
    path.write_text(body)
    return f"{sys.executable} {path}"


def test_the_command_reads_the_market_on_stdin_and_answers_a_price(tmp_path: Path) -> None:
    from reconciler.observe.price_command import PriceCommand, ask_price

    body = "import json, sys\nm = json.load(sys.stdin)\nprint(int(m['floor']) + len(m['modelId']))\n"
    assert ask_price(PriceCommand(script(tmp_path, body)), MARKET) == 1000 + 66
    assert ask_price(PriceCommand(script(tmp_path, "print('0.0045 MOR')")), MARKET) == 4_500_000_000_000_000


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("pass", "printed nothing"),
        ("print(-5)", "negative"),
        ("print('about forty')", "not a price"),
        ("import sys\nsys.stderr.write('no market data\\n')\nsys.exit(3)", "exited with status 3: no market data"),
        ("import time\ntime.sleep(30)", "timed out after 0.5 s"),
    ],
    ids=["empty", "negative", "non-numeric", "crash", "timeout"],
)
def test_each_failure_of_the_command_is_a_clear_error(tmp_path: Path, body: str, says: str) -> None:
    from reconciler.observe.price_command import PriceCommand, PriceCommandFailed, ask_price

    with pytest.raises(PriceCommandFailed, match=says) as caught:
        ask_price(PriceCommand(script(tmp_path, body), timeout=0.5), MARKET)
    assert str(caught.value).startswith("the price command ")


def test_a_command_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    from reconciler.observe.price_command import PriceCommand, PriceCommandFailed, ask_price

    with pytest.raises(PriceCommandFailed, match="cannot be run"):
        ask_price(PriceCommand(str(tmp_path / "missing-script")), MARKET)
    with pytest.raises(PriceCommandFailed, match="cannot be run"):
        ask_price(PriceCommand(""), MARKET)
    assert json.dumps(MARKET)  # the document given on stdin is plain JSON


def test_one_runs_answers_ask_each_model_once_and_a_new_run_asks_again(tmp_path: Path) -> None:
    from reconciler.market.policy import Commanded
    from reconciler.observe.price_command import PriceAnswers, PriceCommand

    calls = tmp_path / "calls.txt"
    body = f"import json, sys\njson.load(sys.stdin)\nopen({str(calls)!r}, 'a').write('called\\n')\nprint(7000)\n"
    command = PriceCommand(script(tmp_path, body))
    run = PriceAnswers.of(command)
    assert run is not None and PriceAnswers.of(run) is run and PriceAnswers.of(None) is None
    for _ in range(3):  # the plan before an apply, the one after it, the page's
        assert run.answer("0x01", lambda: MARKET) == Commanded(price=7000)
    assert run.answer("0x02", lambda: MARKET) == Commanded(price=7000)
    assert calls.read_text().count("called") == 2  # once per model
    assert PriceAnswers.of(command).answer("0x01", lambda: MARKET) == Commanded(price=7000)  # type: ignore[union-attr]
    assert calls.read_text().count("called") == 3  # a new run asks again

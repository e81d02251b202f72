"""`apply --plan FILE` with a file that is not a saved plan: one line naming what is wrong, nothing sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.plan.codec import plan_to_json
from reconciler.plan.planner import plan
from tests.support.planfactory import desired_from, observed


def saved() -> dict[str, Any]:
    return json.loads(json.dumps(plan_to_json(plan(desired_from(), observed()))))


def edited(change: str) -> Any:
    data = saved()
    if change == "a list":
        return [data]
    if change == "diamond a number":
        data["network"]["diamond"] = 12
    elif change == "sources not strings":
        data["sources"] = [1]
    elif change == "an action without its cost":
        del data["actions"][0]["cost"]
    elif change == "an action of an unknown kind":
        data["actions"][0]["kind"] = "wallet.drain"
    return data


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("a list", "the top level"),
        ("diamond a number", "network/diamond"),
        ("sources not strings", "sources/0"),
        ("an action without its cost", "actions/0"),
        ("an action of an unknown kind", "actions/0/kind"),
    ],
)
def test_an_edited_plan_is_named_by_what_is_wrong(tmp_path: Path, change: str, named: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(edited(change)))
    result = CliRunner().invoke(cli, ["apply", "--plan", str(path), "--yes", "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot read the saved plan {path}")
    assert f"at {named}:" in lines[0] and "unexpected" not in lines[0]
    assert not (tmp_path / "s").exists()  # nothing planned, locked or sent

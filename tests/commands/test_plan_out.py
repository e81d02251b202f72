"""`plan --out` somewhere a plan cannot be saved: said at once, in one line, before the chain is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.support.apply_helpers import EXAMPLE


@pytest.mark.parametrize(("where", "named"), [(".", "is a directory"), ("a-file/plan.json", "is a file")])
def test_an_out_path_that_cannot_hold_a_file_is_one_line(tmp_path: Path, where: str, named: str) -> None:
    (tmp_path / "a-file").write_text("x")
    out = tmp_path / where
    # no devnet.json here: the command must stop on --out before it looks for the network
    env = {"RECONCILE_DEVNET_DIR": str(tmp_path / "no-devnet")}
    result = CliRunner(env=env).invoke(cli, ["plan", str(EXAMPLE), "--out", str(out)])
    assert result.exit_code == 1 and (result.exception is None or isinstance(result.exception, SystemExit))
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: --out {out}: ") and named in line

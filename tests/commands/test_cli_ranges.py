"""Numbers no command can run with are refused before anything starts, in one line: a negative poll spun a core,
a port above 65535 printed a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli


@pytest.mark.parametrize(
    "args",
    [
        ["watch", "d.yaml", "--poll", "-1"],
        ["watch", "d.yaml", "--poll", "0"],
        ["watch", "d.yaml", "--interval", "0"],
        ["watch", "d.yaml", "--git-pull", "0"],
        ["watch", "d.yaml", "--backoff", "-5"],
        ["watch", "d.yaml", "--max-failures", "0"],
        ["devnet", "up", "--port", "99999"],
        ["devnet", "up", "--start-block", "-1"],
        ["apply", "d.yaml", "--receipt-timeout", "0"],
        ["import", "--chain-id", "0", "--network", "base", "--provider", "0x" + "11" * 20],
    ],
)
def test_out_of_range_numbers_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    r = CliRunner().invoke(cli, [*args, "--state-dir", str(tmp_path / "s")] if args[0] == "watch" else args)
    flag = next(a for a in args if a.startswith("--"))
    assert r.exit_code == 2 and f"Invalid value for '{flag}'" in r.output, r.output
    assert not (tmp_path / "s").exists()  # refused before anything started


def test_a_listen_port_out_of_range_is_refused_in_one_line(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["watch", str(tmp_path / "d.yaml"), "--http-listen", "127.0.0.1:99999"])
    assert r.exit_code == 1 and "--http-listen: expected HOST:PORT with a port from 0 to 65535" in r.output, r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("command", ["plan", "apply", "watch"])
def test_a_bad_weights_file_is_refused_before_anything_is_read(tmp_path: Path, command: str) -> None:
    desired = tmp_path / "d.yaml"
    desired.write_text("network: {preset: devnet}\n")
    r = CliRunner().invoke(cli, [command, str(desired), "--weights", str(tmp_path / "missing.json")])
    assert r.exit_code == 1 and "--weights" in r.output and "cannot read it" in r.output, r.output

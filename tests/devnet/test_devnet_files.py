"""The devnet's own files (devnet.json, anvil.pid) when they are broken or stale: named, and nobody else's process
is ever stopped. No chain needed: nothing here starts anvil."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.devnet import local as devnet


def test_a_stale_pid_file_naming_another_process_is_not_stopped(tmp_path: Path) -> None:
    """After a reboot anvil.pid may name a pid some other program now has: `down` must not kill it."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "anvil.pid").write_text(f"{other.pid}\n")
        assert devnet.down(tmp_path) is False
        assert other.poll() is None  # still running
        assert devnet.status(tmp_path).running is False
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("pid", ["0", "-1", "99999999999999999999", "garbage"])
def test_a_pid_file_naming_no_process_is_none(tmp_path: Path, pid: str) -> None:
    (tmp_path / "anvil.pid").write_text(pid)
    assert devnet.down(tmp_path) is False


@pytest.mark.parametrize("command", [["status"], ["down"], ["up", "--port", "1"]])
def test_a_dir_that_is_a_file_or_holds_a_broken_devnet_json_is_one_line(tmp_path: Path, command: list[str]) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "devnet.json").write_text("{")
    for where in (a_file, broken):
        result = CliRunner().invoke(cli, ["devnet", *command, "--dir", str(where)])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code == (0 if command == ["down"] else 1), result.output
        if command != ["down"]:
            assert len(result.stderr.splitlines()) <= 1 and str(where) in result.output

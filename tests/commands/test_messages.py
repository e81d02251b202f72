"""What commands print for a person quotes values from YAML, chain and the command line: diagnostics and errors
show control and bidi characters escaped, through the commands' one printer (issue 26)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli
from tests.support.hostile_text import TERMINAL_NAME, inert

MINIMAL = (Path(__file__).resolve().parents[1] / "corpus" / "good" / "minimal.yaml").read_text()


def test_diagnostics_are_printed_escaped(tmp_path: Path) -> None:
    missing = tmp_path / "x\x1b]0;pwned\x07\u202e.yaml"
    r = CliRunner().invoke(cli, ["validate", str(missing)])
    assert r.exit_code == 1 and inert(r.stderr), r.stderr
    assert "x\\x1b]0;pwned\\x07\\u202e.yaml: (root): no such file or directory" in r.stderr
    path = tmp_path / "state.yaml"
    path.write_text(MINIMAL.replace("  - name: llama-3.3-70b\n", '  - name: "llama\\e[2J\\u202E"\n', 1))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 1 and inert(r.stderr), r.stderr
    assert "models[0].name: 'llama\\x1b[2J\\u202e' is not text without control or bidi characters" in r.stderr


def test_a_hostile_name_in_an_error_is_printed_escaped(tmp_path: Path) -> None:
    path = tmp_path / f"{TERMINAL_NAME[:40]}.yaml"
    r = CliRunner().invoke(cli, ["plan", str(path)])
    assert r.exit_code == 1 and inert(r.stderr) and inert(r.stdout), r.stderr

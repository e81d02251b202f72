"""Every bad desired state in tests/corpus/bad* fails `reconcile validate` with its file and line, offline."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
BAD_FILES = sorted((CORPUS / "bad").glob("*.yaml"))
BAD_DIRS = sorted(p for p in (CORPUS / "bad-dirs").iterdir() if p.is_dir())


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Fail any outgoing connection (loopback included): proves a command needs no network."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        attempts.append(args[1] if len(args) > 1 else args)
        raise AssertionError("network call during validate")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts


EXPECT = re.compile(r"^# expect: (?:(?P<file>\S+) )?line (?P<line>\d+): (?P<text>.+)$")


def _expectation(path: Path) -> tuple[str | None, int, str]:
    first = sorted(path.glob("*.yaml"))[0] if path.is_dir() else path
    m = EXPECT.match(first.read_text().splitlines()[0])
    assert m, f"{path} has no '# expect:' header"
    return m.group("file"), int(m.group("line")), m.group("text")


def test_corpus_is_large_enough() -> None:
    assert len(BAD_FILES) + len(BAD_DIRS) >= 25


@pytest.mark.parametrize("path", BAD_FILES + BAD_DIRS, ids=lambda p: p.name)
def test_bad_desired_state_fails_with_file_and_line(path: Path, no_network: list[Any]) -> None:
    file, line, text = _expectation(path)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    where = str(path / file) if file else str(path)
    assert f"{where}:{line}: " in result.output, result.output
    assert text in result.output
    assert no_network == []


def test_good_corpus_validates(no_network: list[Any]) -> None:
    for path in sorted((CORPUS / "good").glob("*.yaml")):
        result = CliRunner().invoke(cli, ["validate", str(path)])
        assert result.exit_code == 0, result.output


def test_literal_secret_is_never_echoed() -> None:
    path = CORPUS / "bad" / "malformed-reference-literal-key.yaml"
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert "sk-live-abcdef123456" not in result.output
    path = CORPUS / "bad" / "private-key-inline-hex.yaml"
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert "59c6995e998f97a5" not in result.output
    assert str(int("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d", 16))[:12] not in result.output

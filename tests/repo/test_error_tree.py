"""One error tree, one mapping to exit codes, one place for the provider session's files."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import reconciler
from reconciler import (
    DesiredStateInvalid,
    EndpointUnusable,
    GuardRefused,
    LockBusy,
    ReconcileError,
    StateUnusable,
)
from reconciler import cli as cli_module

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = (
    DesiredStateInvalid,
    EndpointUnusable,
    LockBusy,
    StateUnusable,
    GuardRefused,
    reconciler.TransactionFailed,
)


def reconciler_exceptions() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(reconciler.__path__, "reconciler."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__.startswith("reconciler"):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def test_every_error_of_the_reconciler_is_in_one_family() -> None:
    errors = [e for e in reconciler_exceptions() if e is not ReconcileError and e not in FAMILIES]
    assert len(errors) >= 20
    assert [e.__qualname__ for e in errors if not issubclass(e, FAMILIES)] == []
    assert not [e for e in errors if e.__name__.endswith("_")], "no trailing-underscore names"


def test_exit_codes_are_defined_once() -> None:
    definitions = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "reconciler").rglob("*.py")
        if re.search(r"^EXIT_\w+(, EXIT_\w+)* =", p.read_text(), re.M)
    ]
    assert definitions == ["reconciler/commands/outcome.py"]


def test_the_session_files_are_named_in_one_place() -> None:
    named = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "reconciler").rglob("*.py")
        if "apply.lock" in p.read_text() or "journal.jsonl" in p.read_text()
    ]
    assert named == ["reconciler/apply/session.py"]


def test_a_bug_is_one_line_without_a_url_and_a_traceback_only_with_verbose(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> None:
        raise KeyError("no such thing at https://rpc.example/v2/SECRETKEY")

    monkeypatch.setattr(cli_module, "cli", broken)
    monkeypatch.setattr(sys, "argv", ["reconcile", "plan", "x.yaml"])
    with pytest.raises(SystemExit) as stopped:
        cli_module.main()
    err = capsys.readouterr().err
    assert stopped.value.code == 1 and err.count("\n") == 1
    assert "unexpected KeyError" in err and "--verbose" in err and "Traceback" not in err
    assert "no such thing at <url>" in err and "SECRETKEY" not in err
    monkeypatch.setattr(sys, "argv", ["reconcile", "--verbose", "plan", "x.yaml"])
    with pytest.raises(KeyError):
        cli_module.main()

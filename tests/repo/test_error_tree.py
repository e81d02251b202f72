"""One error tree, one mapping to exit codes, one place for the provider writer's files and the state dir."""

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
    FileUnusable,
    GuardRefused,
    InternalError,
    LockBusy,
    ReconcileError,
    StateUnusable,
)
from reconciler import cli as cli_module

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = (
    DesiredStateInvalid,
    EndpointUnusable,
    FileUnusable,
    LockBusy,
    StateUnusable,
    GuardRefused,
    reconciler.TransactionFailed,
)
_BRANCH = re.compile(r"^    ((?:│   |    )*)(?:├── |└── )(\w+)")


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
    errors = [e for e in reconciler_exceptions() if e not in (ReconcileError, InternalError, *FAMILIES)]
    assert len(errors) >= 20
    assert [e.__qualname__ for e in errors if not issubclass(e, FAMILIES)] == []
    assert not [e for e in errors if e.__name__.endswith("_")], "no trailing-underscore names"


def drawn_tree() -> dict[str, str]:
    """Each class drawn in the package face's docstring, with the class it hangs from."""
    parents: dict[str, str] = {}
    stack = ["ReconcileError"]
    for line in (reconciler.__doc__ or "").splitlines():
        m = _BRANCH.match(line)
        if m is None:
            continue
        depth = len(m.group(1)) // 4 + 1
        del stack[depth:]
        parents[m.group(2)] = stack[-1]
        stack.append(m.group(2))
    return parents


def test_the_tree_drawn_in_the_docstring_is_the_tree() -> None:
    actual = {
        e.__name__: next(b.__name__ for b in e.__bases__ if issubclass(b, ReconcileError))
        for e in reconciler_exceptions()
        if issubclass(e, ReconcileError) and e is not ReconcileError and not e.__name__.startswith("_")
    }
    assert drawn_tree() == actual
    assert "    ReconcileError\n" in (reconciler.__doc__ or "")
    assert "    InternalError (RuntimeError)" in (reconciler.__doc__ or "")


def test_a_bug_is_no_reconcile_error_and_a_file_is_no_endpoint() -> None:
    from reconciler.apply.proxy_config import ProxyReloadError, ProxyWriteError
    from reconciler.apply.refusals import ApplyError

    assert issubclass(InternalError, RuntimeError) and not issubclass(InternalError, ReconcileError)
    assert issubclass(ApplyError, GuardRefused)
    assert issubclass(ProxyWriteError, FileUnusable) and not issubclass(ProxyWriteError, EndpointUnusable)
    assert issubclass(ProxyReloadError, EndpointUnusable)
    raised_bare = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "reconciler").rglob("*.py")
        if re.search(r"raise (ApplyError|GuardRefused)\(f?\"apply does not know", p.read_text())
    ]
    assert raised_bare == []


def test_exit_codes_are_defined_once() -> None:
    definitions = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "reconciler").rglob("*.py")
        if re.search(r"^EXIT_\w+(, EXIT_\w+)* =", p.read_text(), re.M)
    ]
    assert definitions == ["reconciler/commands/outcome.py"]


def test_the_writer_files_are_named_in_one_place() -> None:
    named = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "reconciler").rglob("*.py")
        if "apply.lock" in p.read_text() or "journal.jsonl" in p.read_text()
    ]
    assert named == ["reconciler/apply/writer.py"]


def test_the_default_state_dir_is_written_once() -> None:
    named = [str(p.relative_to(ROOT)) for p in (ROOT / "reconciler").rglob("*.py") if '".reconcile"' in p.read_text()]
    assert named == ["reconciler/__init__.py"]


def test_a_bug_is_one_line_without_a_url_and_a_traceback_only_with_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> None:
        raise KeyError("no such thing at https://rpc.example/v2/SECRETKEY")

    monkeypatch.setattr(cli_module, "cli", broken)
    for argv in (["reconcile", "plan", "x.yaml"], ["reconcile", "plan", "x.yaml", "--verbose"]):
        monkeypatch.setattr(sys, "argv", argv)  # plan's own --verbose is no traceback flag
        with pytest.raises(SystemExit) as stopped:
            cli_module.main()
        err = capsys.readouterr().err
        assert stopped.value.code == 1 and err.count("\n") == 1
        assert "unexpected KeyError" in err and "--traceback" in err and "Traceback" not in err
        assert "no such thing at <url>" in err and "SECRETKEY" not in err
    for flag in ("--traceback", "--verbose"):  # --verbose: the group's old name for it, kept hidden
        monkeypatch.setattr(sys, "argv", ["reconcile", flag, "plan", "x.yaml"])
        with pytest.raises(KeyError):
            cli_module.main()


def test_the_traceback_flag_is_shown_and_its_old_name_hidden() -> None:
    from click.testing import CliRunner

    shown = CliRunner().invoke(cli_module.cli, ["--help"]).output
    assert "--traceback" in shown and "--verbose" not in shown
    assert "--verbose" in CliRunner().invoke(cli_module.cli, ["plan", "--help"]).output
    for flag in ("--traceback", "--verbose"):
        assert CliRunner().invoke(cli_module.cli, [flag, "validate", "--help"]).exit_code == 0


def test_every_command_ends_through_handled() -> None:
    """Each command's body is @handled: its expected errors print `error: ...` and exit 1 in one place."""
    import click

    def leaves(group: click.Group) -> list[click.Command]:
        out: list[click.Command] = []
        for command in group.commands.values():
            out += leaves(command) if isinstance(command, click.Group) else [command]
        return out

    commands = leaves(cli_module.cli)
    assert len(commands) == 13
    for command in commands:
        module = sys.modules[command.callback.__module__]  # type: ignore[union-attr]
        assert module.__name__.startswith("reconciler.commands."), command.name
        body = re.findall(r"sys\.exit\(\s*(run_\w+)\(", inspect.getsource(command.callback))  # type: ignore[arg-type]
        assert len(body) == 1, command.name
        assert hasattr(getattr(module, body[0]), "__wrapped__"), f"{command.name}: {body[0]} is not @handled"
        assert "ClickException" not in inspect.getsource(module), command.name

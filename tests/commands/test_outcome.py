"""What commands print for a person quotes values from YAML and chain: errors, diagnostics, a bug's one line and
progress lines show control and bidi characters escaped, keeping the newlines of several lines (issue 26)."""

from __future__ import annotations

import pytest

from reconciler import ReconcileError
from reconciler.commands.outcome import report, say, unexpected
from reconciler.desired.diagnostics import Diagnostic, Location, ValidationFailed
from tests.support.hostile_text import TERMINAL_NAME, inert


def test_errors_diagnostics_and_lines_are_printed_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    report(ReconcileError(f"model {TERMINAL_NAME} refused"))
    report(ValidationFailed([Diagnostic(Location("a.yaml", 3), "models[0].name", f"bad {TERMINAL_NAME}")]))
    say(f"apply: {TERMINAL_NAME}\nsecond line\tafter a tab", err=True)
    say(TERMINAL_NAME)
    out, err = capsys.readouterr()
    assert inert(out) and inert(err), (out, err)
    assert "error: model pwn\\x1b[2J" in err and "a.yaml:3: models[0].name: bad pwn\\x1b[2J" in err
    assert "\nsecond line\tafter a tab\n" in err  # the format's own newlines and tabs stay
    assert inert(unexpected(RuntimeError(f"{TERMINAL_NAME} at http://key@host/x")))

"""Diagnostics: errors and warnings that name the file, the line and the field (`file.yaml:12: a.b: message`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reconciler import DesiredStateInvalid
from reconciler.render.controls import escape_controls


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Location:
    """Where a value was written: a file and a 1-based line (0 when unknown)."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        # a file name is written by whoever wrote the folder (a pull request): a newline in it would start a line
        # of its own in a CI log, so it is shown escaped, as every other name is
        file = escape_controls(self.file)
        return f"{file}:{self.line}" if self.line else file


@dataclass(frozen=True)
class Diagnostic:
    location: Location
    path: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        prefix = "" if self.severity is Severity.ERROR else "warning: "
        return f"{self.location}: {self.path}: {prefix}{self.message}"


def format_path(parts: tuple[str | int, ...]) -> str:
    """('models', 0, 'bid') -> 'models[0].bid'; the root is '(root)'."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or "(root)"


class ValidationFailed(DesiredStateInvalid):
    """Loading the desired state found errors: carries every diagnostic (errors and warnings), each printed on
    its own line. One member of the family `DesiredStateInvalid`, whose others are found later, one at a time
    (a reference with no value, a key that does not decrypt)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        super().__init__(f"{len(errors)} error(s) in the desired state")

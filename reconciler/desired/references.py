"""References to values kept outside the YAML (`env:NAME`, `file:PATH`): secrets, RPC URLs, prices.

A reference is resolved only where its value is needed; a missing value is an error only there. Resolved
secret values never leave this module's callers except as a fingerprint.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconciler import DesiredStateInvalid

_REF = re.compile(r"^(env):([A-Za-z_][A-Za-z0-9_]*)$|^(file):(.+)$")


class BadReference(DesiredStateInvalid, ValueError):
    """A reference is malformed or its value is missing (the message never holds the value)."""


@dataclass(frozen=True)
class Reference:
    """`env:NAME` or `file:PATH` (PATH absolute, resolved against the YAML file's folder at load time)."""

    kind: Literal["env", "file"]
    target: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


def parse_reference(text: str, base_dir: Path | None = None) -> Reference:
    m = _REF.match(text)
    if not m:
        raise BadReference("must be a reference env:NAME or file:PATH, not a literal value (value not shown)")
    if m.group(1):
        return Reference("env", m.group(2))
    path = Path(m.group(4)).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = (base_dir / path).resolve()
    return Reference("file", str(path))


def resolve(ref: Reference, environ: Mapping[str, str] | None = None) -> str | None:
    """The referenced value (a file's content without its trailing newline), or None when missing."""
    if ref.kind == "env":
        value = (os.environ if environ is None else environ).get(ref.target)
        return value if value else None
    path = Path(ref.target)
    if not path.is_file():  # a fifo would block forever, /dev/zero never end: only a regular file holds a value
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    text = text.rstrip("\r\n")
    return text if text else None


def fingerprint(secret: str) -> str:
    """First 12 hex digits of sha256 of the UTF-8 bytes: shows a rotation without showing the key."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]

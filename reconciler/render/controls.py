"""Control and bidi characters shown escaped: the one function every renderer puts data through.

Why: a model's name, tags or any string read from the chain (or written in a pull request) may hold terminal
escapes (clear the screen, set the window title, an OSC 8 link, OSC 52 writing the clipboard) or bidi controls
that reorder what a reader sees. Printed raw they act on the terminal, the CI log or the page; shown as `\\x1b`
or `\\u202e` they are only text. Text output, Markdown, HTML, logs and the status page use `escape_controls`;
JSON keeps values exact (it escapes controls itself).
"""

from __future__ import annotations

import re

# C0 (newline and tab included: a format that uses them passes `keep`), DEL, C1, the Arabic letter mark, the
# left-to-right and right-to-left marks, the line and paragraph separators, the bidi embeddings and overrides
# (U+202A-U+202E) and isolates (U+2066-U+2069).
CONTROLS = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{CONTROLS}]")


_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escaped(match: re.Match[str]) -> str:
    c = match.group()
    if c in _SHORT:
        return _SHORT[c]
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def escape_controls(text: str, keep: str = "") -> str:
    """`text` with every control and bidi character shown as an escape (`\\x1b`, `\\u202e`; `\\n`, `\\r`, `\\t`), except those in
    `keep` (newline and tab, where the format uses them). Everything else, backslashes included, is unchanged."""
    if not keep:
        return _CONTROL.sub(_escaped, text)
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else _escaped(m), text)


def has_controls(text: str) -> bool:
    """True when `text` holds a control or bidi character (what the schema refuses in the operator's strings)."""
    return _CONTROL.search(text) is not None

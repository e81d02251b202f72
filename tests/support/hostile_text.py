"""Names as a stranger on chain or a pull request would write them, and the check that output is inert:
no byte below 0x20 but newline and tab, no DEL or C1 control, no bidi control (issue 26)."""

from __future__ import annotations

import re

CLEAR = "\x1b[2J"  # clears the screen
TITLE = "\x1b]0;pwned\x07"  # sets the window title
LINK = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"  # an OSC 8 hyperlink
CLIPBOARD = "\x1b]52;c;cHduZWQ=\x07"  # OSC 52: writes the clipboard
BIDI = "\u202egnp.exe"  # right-to-left override

TERMINAL_NAME = f"pwn{CLEAR}{TITLE}{LINK}{CLIPBOARD}{BIDI}\r\x9b2J\x7f"
MARKDOWN_NAME = (
    "x\n\n#### No changes\n\n[approve here](https://evil.example/approve) @mention "
    "![x](https://evil.example/t.png) <b>bold</b> `code` ``` | table |"
)

# C0 but newline and tab, DEL, C1, and the bidi embeddings, overrides, isolates and marks
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def inert(text: str) -> bool:
    """True when nothing in `text` can act on a terminal or reorder what a reader sees."""
    return FORBIDDEN.search(text) is None


def outside_code_spans(line: str) -> str:
    """The parts of one Markdown line a reader's renderer would interpret: CommonMark code spans taken out (a run of
    n backticks opens a span that only the next run of exactly n backticks closes)."""
    out, i = [], 0
    while i < len(line):
        if line[i] != "`":
            out.append(line[i])
            i += 1
            continue
        n = len(line[i:]) - len(line[i:].lstrip("`"))
        close = re.compile(rf"(?<!`)`{{{n}}}(?!`)").search(line, i + n)
        if close is None:  # an unmatched run is literal text
            out.append(line[i : i + n])
            i += n
            continue
        i = close.end()
    return "".join(out)

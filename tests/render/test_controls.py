"""Control and bidi characters from YAML or chain are shown escaped by every renderer, through one function; in
Markdown every such value sits in a code span it cannot break out of (issue 26, "Why" 3)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from reconciler.market import ids
from reconciler.observe.model import BidState, ModelState
from reconciler.plan.model import Action, ActionKind, BidRef, Plan, Status
from reconciler.plan.planner import plan
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from tests.plan.test_planner import converged_world
from tests.support.hostile_text import MARKDOWN_NAME, TERMINAL_NAME, inert, outside_code_spans
from tests.support.planfactory import MOR, NOW, PROVIDER, desired_from

PRUNE = {'  maxSpendPerApply: "10 MOR"\n': '  maxSpendPerApply: "10 MOR"\n  prune: true\n'}
_SGR = re.compile(r"\x1b\[[0-9;]*m")  # the renderer's own colours


def test_controls_and_bidi_are_shown_escaped_and_nothing_else_changes() -> None:
    from reconciler.render.controls import escape_controls

    assert escape_controls("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert escape_controls("\x1b]0;pwned\x07") == "\\x1b]0;pwned\\x07"
    assert escape_controls("x\u202ey\u2066z\u200f") == "x\\u202ey\\u2066z\\u200f"
    assert escape_controls("\x00\x7f\x85\x9b") == "\\x00\\x7f\\x85\\x9b"
    assert escape_controls("a\r\nb\tc") == "a\\r\\nb\\tc"
    assert escape_controls("a\nb\tc\r", keep="\n\t") == "a\nb\tc\\r"
    for plain in ("llama-3.3-70b", "café 模型 🦙", "👩\u200d💻", "a\\b", ""):
        assert escape_controls(plain) == plain
    classes = [*range(0x20), *range(0x7F, 0xA0), 0x61C, 0x200E, 0x200F, 0x2028, 0x2029]
    for cp in [*classes, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]:
        shown = escape_controls(chr(cp))
        assert shown.startswith("\\") and shown.isascii() and shown.isprintable(), hex(cp)


def _hostile_plan(prune: bool) -> Plan:
    """A converged provider with two own models on chain that the desired state does not declare, named by an
    attacker (or by a mistake), with a bid on one; warnings and errors quoting the names."""
    _d, o = converged_world()
    models, bids = [], []
    for i, name in enumerate((TERMINAL_NAME, MARKDOWN_NAME)):
        mid = ids.model_id(PROVIDER, "0x" + f"{0x70 + i:02x}" * 32)
        models.append(ModelState(mid, PROVIDER, name, (name[:60], "llm"), 0, MOR // 10))
        bids.append(BidState(ids.bid_id(PROVIDER, mid, 0), PROVIDER, mid, 10**16, 0, NOW - 10))
    o = replace(o, chain=replace(o.chain, models=(*o.chain.models, *models), bids=(*o.chain.bids, *bids)))
    p = plan(desired_from(**PRUNE) if prune else desired_from(), o)
    extra = Action(
        id="bid.delete:0x01",
        kind=ActionKind.BID_DELETE,
        target=f"bid on {MARKDOWN_NAME}",
        reason=f"because {TERMINAL_NAME}",
        subject=BidRef("0x01", "0x02"),
        before={"name": MARKDOWN_NAME, "tags": [TERMINAL_NAME]},
        warnings=(f"warned about {TERMINAL_NAME}",),
        errors=(f"refused {MARKDOWN_NAME}",),
        status=Status.DRAINING,
    )
    return replace(
        p,
        actions=(*p.actions, extra),
        warnings=(*p.warnings, f"model {TERMINAL_NAME} and {MARKDOWN_NAME}"),
        errors=(*p.errors, f"error on {MARKDOWN_NAME} {TERMINAL_NAME}"),
    )


@pytest.mark.parametrize("prune", [False, True])
def test_text_shows_names_from_chain_escaped(prune: bool) -> None:
    p = _hostile_plan(prune)
    for color in (False, True):
        text = render_text(p, color=color, verbose=True)
        assert inert(_SGR.sub("", text)), text
        assert "\\x1b[2J" in text and "\\x1b]0;pwned\\x07" in text and "\\u202egnp.exe" in text
        assert not any(line.lstrip().startswith("#### No changes") for line in text.splitlines())
    assert "? model.deregister undeclared model pwn\\x1b[2J" in render_text(p) or prune


@pytest.mark.parametrize("prune", [False, True])
def test_markdown_keeps_every_value_in_a_code_span(prune: bool) -> None:
    md = render_markdown(_hostile_plan(prune))
    assert inert(md), md
    assert "approve here" in md and "\\x1b]0;pwned\\x07" in md  # shown, not dropped
    headings = [line for line in md.splitlines() if line.lstrip("> ").startswith("#")]
    assert all(h.startswith("### `reconcile plan`") or re.fullmatch(r"#### [a-z]+", h) for h in headings), headings
    for line in md.splitlines():
        live = outside_code_spans(line)
        for forged in ("@mention", "](https://", "![x]", "<b>", "evil.example", "pwned"):
            assert forged not in live, (forged, line)


def test_the_schema_refuses_exactly_what_is_shown_escaped() -> None:
    """The desired state's `plainText` pattern and `escape_controls` name the same characters."""
    from reconciler.desired.schema import load_schema
    from reconciler.render.controls import has_controls

    pattern = re.compile(load_schema("desired-state.schema.json")["$defs"]["plainText"]["pattern"])
    for cp in range(0x3000):
        assert (pattern.search(chr(cp)) is None) == has_controls(chr(cp)), hex(cp)

"""Renderers: JSON (schema, round trip), text (color only on TTY, NO_COLOR, summary), Markdown (limit)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import jsonschema

from reconciler.desired.schema import load_schema
from reconciler.observe.model import LiveSession, SessionState
from reconciler.plan.codec import plan_from_json, plan_to_json
from reconciler.plan.model import Action, ActionKind, Plan, ProxyFile, ProxyFileRef, Status
from reconciler.plan.planner import plan
from reconciler.render.markdown import GITHUB_COMMENT_LIMIT, render_markdown
from reconciler.render.text import render_text, use_color
from tests.support.planfactory import VENICE_KEY, desired_from, observed, overflowing_actions

ROOT = Path(__file__).resolve().parents[2]


def sample() -> Plan:
    return plan(desired_from(), observed())


def test_json_validates_and_round_trips() -> None:
    p = sample()
    data = plan_to_json(p)
    jsonschema.validate(data, load_schema("plan.schema.json"))
    text = json.dumps(data)
    assert VENICE_KEY not in text
    assert plan_from_json(json.loads(text)) == p
    assert data["format_version"] == 1 and data["summary"]["pending"] == 7


def test_text_summary_and_color() -> None:
    p = sample()
    plain = render_text(p)
    assert plain.rstrip().splitlines()[-1] == (
        "Plan: 5 to create, 2 to update, 0 to delete; fees 0.6 MOR, stake +0.4 MOR, gas ~2,065,000 (~0.002065 ETH)"
    )
    assert "\033[" not in plain
    assert "\033[32m" in render_text(p, color=True)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_color_only_on_tty_and_no_color(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(FakeTTY()) and not use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(FakeTTY())


def test_markdown_summary_first_and_destructive_callout() -> None:
    d = desired_from()
    o = observed()
    from reconciler.plan.simulate import simulate

    after = simulate(o, plan(d, o))
    gone = desired_from(**{"    upstreamModel: qwen-2.5\n": "    upstreamModel: qwen-2.5\n    absent: true\n"})
    md = render_markdown(plan(gone, after))
    assert md.startswith("### `reconcile plan`")
    assert md.index("| to delete | 3 |") < md.index("**Cost:**") < md.index("[!WARNING]") < md.index("<details>")
    assert "`bid.delete`" in md and "`model.deregister`" in md


def test_markdown_never_exceeds_the_comment_limit_and_keeps_the_summary() -> None:
    p = sample()
    filler = overflowing_actions(with_values=True)
    big = replace(p, actions=p.actions + filler)
    md = render_markdown(big)
    assert len(md) <= GITHUB_COMMENT_LIMIT
    assert "| to create | 5 |" in md and "**Cost:**" in md
    assert "details truncated" in md and md.rstrip().endswith("</details>")
    small = render_markdown(p)
    assert "truncated" not in small


def _one_of_each_kind() -> Plan:
    """A plan holding one action of every kind there is, each with its own target."""
    p = sample()
    actions = tuple(
        Action(
            id=f"{kind.value}:x",
            kind=kind,
            target=f"target-of-{kind.value}",
            reason=f"reason-of-{kind.value}",
            subject=ProxyFileRef(ProxyFile.FORWARDER),
            status=Status.UNMANAGED if kind is ActionKind.PROXY_UNMANAGED else Status.PENDING,
        )
        for kind in ActionKind
    )
    return replace(p, actions=actions)


def test_every_action_kind_is_rendered_in_text_and_markdown() -> None:
    p = _one_of_each_kind()
    text, md = render_text(p), render_markdown(p)
    for a in p.actions:
        assert f" {a.kind.shown} target-of-{a.kind.value}" in text, a.kind
        assert f"reason-of-{a.kind.value}" in text, a.kind
        assert f"{a.kind.shown}` " in md and f"target-of-{a.kind.value}" in md, a.kind
    s = p.summary()
    listed = sum(1 for line in text.splitlines() if line.startswith("  - "))
    assert listed == s.delete == 4
    assert f"All {len(p.actions)} actions" in md


def test_a_drain_is_shown_as_docs_sessions_md_says() -> None:
    from tests.plan.test_planner import converged_world
    from tests.support.planfactory import NOW

    d0, o = converged_world()
    qwen = d0.models[1].model_id
    live = (LiveSession("0x" + "01" * 32, NOW + 600),)
    session = SessionState("0x" + "01" * 32, "0xb", qwen, "0xu", 10**18, 10**16, 0, NOW - 60, NOW + 600)
    bids = tuple(replace(b, live_sessions=live) if b.model_id == qwen else b for b in o.chain.bids)
    o = replace(o, now=NOW, chain=replace(o.chain, bids=bids, sessions=(session,)))
    absent = desired_from(**{"    upstreamModel: qwen-2.5\n": "    upstreamModel: qwen-2.5\n    absent: true\n"})
    text = render_text(plan(absent, o))
    until = "2027-01-15 08:10:00 UTC"
    shown = [
        "⧗ proxy.remove forwarder models-config",
        f"draining until {until}: 1 live session(s) on its bids",
        "⧗ model.deregister",
        f"draining until {until}: 1 live session(s) on its bids; deregistered after",
    ]
    doc = (ROOT / "docs" / "sessions.md").read_text()
    for line in shown:
        assert line in text, (line, text)
        assert line.replace(until, "2026-11-25 21:04:12 UTC") in doc, line
    assert "does not wait" not in doc

"""Renderers: JSON (schema, round trip), text (color only on TTY, NO_COLOR, summary), Markdown (limit)."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import jsonschema

from reconciler.desired.schema import load_schema
from reconciler.plan.codec import plan_from_json, plan_to_json
from reconciler.plan.model import Action, ActionKind, Plan, ProxyFile, ProxyFileRef
from reconciler.plan.planner import plan
from reconciler.render.markdown import GITHUB_COMMENT_LIMIT, render_markdown
from reconciler.render.text import render_text, use_color
from tests.support.planfactory import VENICE_KEY, desired_from, observed


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
    filler = tuple(
        Action(
            id=f"proxy.x{i}",
            kind=ActionKind.PROXY_RELOAD,
            target=f"t{i}",
            reason="r" * 200,
            subject=ProxyFileRef(ProxyFile.FORWARDER),
            before={"a": i},
            after={"a": i + 1},
        )
        for i in range(2000)
    )
    big = replace(p, actions=p.actions + filler)
    md = render_markdown(big)
    assert len(md) <= GITHUB_COMMENT_LIMIT
    assert "| to create | 5 |" in md and "**Cost:**" in md
    assert "details truncated" in md and md.rstrip().endswith("</details>")
    small = render_markdown(p)
    assert "truncated" not in small

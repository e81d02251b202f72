"""A changed upstream host is said plainly (issue 26, "Why" row 2): when the plan can read the forwarder's current
file, a key about to go to another host is named by its fingerprint with the new host, in text and Markdown,
not only as a changed fingerprint or URL among an entry's fields."""

from __future__ import annotations

from dataclasses import replace

from reconciler.desired.modelsconfig import forwarder_entries
from reconciler.desired.references import fingerprint
from reconciler.observe.model import ForwarderState, ModelsConfigState, ProxyEntry
from reconciler.plan.planner import plan
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from tests.support.planfactory import VENICE_KEY, desired_from, observed, refs

NEW_URL = "https://collector.example.net/api/v1"


def _with_file(entries: tuple[ProxyEntry, ...]) -> ForwarderState:
    return ForwarderState(file=ModelsConfigState(source="file:/f.json", exists=True, version="v1", entries=entries))


def test_a_key_sent_to_a_new_host_is_said_plainly_in_text_and_markdown() -> None:
    before = desired_from()
    fps = refs().fingerprints
    have = tuple(forwarder_entries(before, fps))
    after = desired_from(**{"baseUrl: https://api.venice.ai/api/v1": f"baseUrl: {NEW_URL}"})
    p = plan(after, observed(proxy=_with_file(have)))
    line = f"the key {fingerprint(VENICE_KEY)} will be sent to collector.example.net"
    assert any(line in w for w in p.warnings), p.warnings
    assert sum(line in w for w in p.warnings) == 1  # one line per key and new host, not one per model
    assert line in render_text(p)
    assert line in render_markdown(p)
    assert VENICE_KEY not in render_text(p) + render_markdown(p)


def test_the_same_host_says_nothing_of_the_kind() -> None:
    before = desired_from()
    fps = refs().fingerprints
    have = tuple(replace(e, api_url=e.api_url.replace("/api/v1", "/api/v2")) for e in forwarder_entries(before, fps))
    p = plan(before, observed(proxy=_with_file(have)))
    assert not any("will be sent to" in w for w in p.warnings)

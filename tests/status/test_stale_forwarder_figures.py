"""The page's Forwarder figures never pass for current when the forwarder's /metrics cannot be read: the last
figures are hidden, with the reason and how long ago they were last read."""

from __future__ import annotations

from reconciler.status.html import _forwarder
from reconciler.status.page import PageInputs, build_page

ROW = {
    "modelId": "0x" + "ab" * 32,
    "name": "llama",
    "inFlight": 0,
    "limit": 6,
    "requestsPerMinute": 0.0,
    "errorsPerMinute": 0.0,
    "latencyP50Ms": None,
}


def test_figures_of_an_unreadable_forwarder_are_hidden_with_their_age() -> None:
    unreadable = "admin /metrics unreachable (ConnectError)"
    doc = build_page(
        PageInputs(
            now=10_000.0, observation=None, forwarder=[ROW], forwarder_note=unreadable, forwarder_seen_at=9_850.0
        )
    )
    f = doc["forwarder"]
    assert f["models"] == [] and f["stale"] == {"lastSeenAgo": "2 min"}
    html = _forwarder(doc)
    assert "0 / 6" not in html and "last seen 2 min ago" in html and unreadable in html
    fresh = build_page(PageInputs(now=10_000.0, observation=None, forwarder=[ROW], forwarder_seen_at=9_995.0))
    assert fresh["forwarder"]["models"] and "stale" not in fresh["forwarder"] and "0 / 6" in _forwarder(fresh)

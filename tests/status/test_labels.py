"""`status` names each model row by its place in the desired state: declared, draining, absent or undeclared."""

from __future__ import annotations

import json

from reconciler.market import ids
from reconciler.observe.model import ModelState, SessionState
from reconciler.observe.slots import SlotsReading
from reconciler.plan.planner import plan
from reconciler.status.model import build_status
from reconciler.status.text import render_status
from tests.support.hostile_text import TERMINAL_NAME, inert
from tests.support.planfactory import NOW, PROVIDER, desired_from, empty_chain, observed

QWEN = ids.model_id(PROVIDER, ids.base_model_id_for_name("qwen"))
OTHER = "0x" + "77" * 32


def _session(sid: str, model_id: str) -> SessionState:
    return SessionState(sid, "0x" + "0b" * 32, model_id, "0xu", 10**18, 10**16, 0, NOW - 60, NOW + 600)


def test_an_absent_model_with_live_sessions_is_draining_not_undeclared() -> None:
    desired = desired_from(**{"    upstreamModel: qwen-2.5\n": "    upstreamModel: qwen-2.5\n    absent: true\n"})
    chain = empty_chain(sessions=(_session("0x01", QWEN), _session("0x02", OTHER)))
    doc = build_status(desired, chain, plan(desired, observed(chain)), SlotsReading(known=False, note="no admin"))
    rows = {r["modelId"]: r for r in doc["models"]}
    assert rows[QWEN]["name"] == "qwen" and rows[QWEN]["draining"] and not rows[QWEN]["declared"]
    assert not rows[OTHER]["draining"] and not rows[OTHER]["absent"]
    text = render_status(doc)
    assert "qwen (draining)" in text and "(undeclared)" in text
    assert "qwen (undeclared)" not in text


def test_status_text_shows_names_from_chain_escaped() -> None:
    hostile = ids.model_id(PROVIDER, "0x" + "66" * 32)
    desired = desired_from()
    model = ModelState(hostile, PROVIDER, TERMINAL_NAME, ("llm",), 0, 10**17)
    chain = empty_chain(models=(model,), sessions=(_session("0x01", hostile),))
    doc = build_status(desired, chain, plan(desired, observed(chain)), SlotsReading(known=False, note="no admin"))
    text = render_status(doc)
    assert inert(text) and "pwn\\x1b[2J" in text, text
    names = [m["name"] for m in json.loads(json.dumps(doc))["models"]]
    assert TERMINAL_NAME in names  # JSON keeps the value exact

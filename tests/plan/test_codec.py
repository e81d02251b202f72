"""The saved-plan codec reads what format_version 1 wrote: the golden files in tests/fixtures/ (written by
`reconcile plan --out` before the plan model was split into one reference type per subject; how, and the
devnet test that applies them: tests/apply/test_saved_plan_devnet.py) decode and encode back the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.desired.schema import load_schema
from reconciler.plan.codec import plan_from_json, plan_to_json

GOLDEN = sorted((Path(__file__).resolve().parents[1] / "fixtures").glob("saved-plan-v1-*.json"))


def golden(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_a_v1_saved_plan_decodes_and_encodes_back_the_same(path: Path) -> None:
    data = golden(path)
    jsonschema.validate(data, load_schema("plan.schema.json"))
    plan = plan_from_json(data)
    assert plan_to_json(plan) == data
    assert plan_from_json(plan_to_json(plan)) == plan


def test_the_golden_plans_cover_the_action_kinds() -> None:
    assert len(GOLDEN) == 2
    kinds = {(a["kind"], a["status"]) for path in GOLDEN for a in golden(path)["actions"]}
    assert kinds >= {
        ("mor.approve", "pending"),
        ("provider.register", "pending"),
        ("provider.update", "pending"),
        ("model.register", "pending"),
        ("model.update", "pending"),
        ("model.deregister", "pending"),
        ("bid.post", "pending"),
        ("bid.delete", "pending"),
        ("proxy.write-config", "pending"),
        ("proxy.reload", "pending"),
        ("proxy.remove", "pending"),
        ("proxy.write-config", "unmanaged"),
    }


def test_a_price_change_is_saved_and_shown_in_mor_while_a_v1_file_keeps_its_wei_reason() -> None:
    """A bid.post that replaces a bid says its prices in MOR/s and MOR/h, like the churn guard, in the saved plan and
    in the plan's text; a format_version 1 file written before keeps its wei reason and decodes as it was."""
    from dataclasses import replace

    from reconciler.plan.planner import plan
    from reconciler.plan.simulate import simulate
    from reconciler.render.text import render_text
    from tests.support.planfactory import NOW, desired_from, observed

    o = observed()
    o = simulate(o, plan(desired_from(), o))
    changed = desired_from(**{'pricePerSecond: "0.01 MOR"': 'pricePerSecond: "0.012 MOR"'})
    p = plan(changed, replace(o, now=NOW + 7200))
    post = next(a for a in p.pending if a.id.startswith("bid.post"))
    saved = next(a for a in plan_to_json(p)["actions"] if a["id"] == post.id)
    expected = "price 0.01 MOR/s -> 0.012 MOR/s (36 MOR/h -> 43.2 MOR/h): replaces bid"
    assert saved["reason"].startswith(expected) and "wei" not in saved["reason"], saved["reason"]
    assert expected in render_text(p)
    old = next(a for path in GOLDEN for a in golden(path)["actions"] if "replaces bid" in a.get("reason", ""))
    assert old["reason"].startswith("price 6000000000000000 -> 7000000000000000 wei/s")
    decoded = next(a for path in GOLDEN for a in plan_from_json(golden(path)).actions if a.id == old["id"])
    assert decoded.reason == old["reason"]

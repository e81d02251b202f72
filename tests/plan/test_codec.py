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

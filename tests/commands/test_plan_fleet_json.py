"""`plan --format json` on a fleet carries the format_version a single provider's plan JSON carries, so a reader
of either tells which document it holds and of which version. Pure: the fleet's network has nothing listening,
so every provider is reported with its error, in the same document."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from click.testing import CliRunner
from referencing import Registry, Resource

from reconciler.cli import cli
from reconciler.desired.schema import load_schema
from reconciler.plan.codec import FORMAT_VERSION
from tests.desired.test_fleet import ENV, three
from tests.support.ports import free_port


def test_a_fleet_plan_json_has_the_plan_format_version(tmp_path: Path) -> None:
    schemas = {n: load_schema(n) for n in ("plan.schema.json", "fleet-plan.schema.json")}
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    validator = jsonschema.Draft202012Validator(schemas["fleet-plan.schema.json"], registry=registry)
    assert "format_version" in schemas["fleet-plan.schema.json"]["required"]
    env = dict(ENV, RPC_URL=f"http://127.0.0.1:{free_port()}")
    r = CliRunner().invoke(cli, ["plan", str(three(tmp_path / "fleet")), "--format", "json"], env=env)
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    validator.validate(doc)
    assert doc["format_version"] == FORMAT_VERSION
    assert [(p["name"], p["plan"]) for p in doc["providers"]] == [("alpha", None), ("beta", None), ("gamma", None)]
    assert not validator.is_valid({**doc, "format_version": FORMAT_VERSION + 1})

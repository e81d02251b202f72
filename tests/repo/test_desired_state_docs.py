"""docs/desired-state.md is kept in step with schemas/desired-state.schema.json: every property the schema
defines (at any depth, through $defs, items, patternProperties, oneOf/anyOf/allOf) is named in the reference."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "desired-state.schema.json").read_text())
# A fleet's files (issue 30): fleet.yaml and the shared files at its root, documented in the same reference.
FLEET_SCHEMAS = [
    json.loads((ROOT / "schemas" / n).read_text()) for n in ("fleet.schema.json", "fleet-shared.schema.json")
]
DOC = (ROOT / "docs" / "desired-state.md").read_text()


def properties(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(property name, where in the schema) for every property at any depth."""
    if isinstance(node, dict):
        for name in node.get("properties") or {}:
            yield name, f"{path}/properties/{name}"
        for key, sub in node.items():
            if isinstance(sub, (dict, list)):
                yield from properties(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from properties(sub, f"{path}/{i}")


def named_in_doc(name: str) -> bool:
    """Named as code (`name`, `parent.name`, `name: value`), not just as an English word."""
    return re.search(rf"`[^`\n]*(?<![\w-]){re.escape(name)}(?![\w-])[^`\n]*`", DOC) is not None


def test_the_schema_has_properties_to_check() -> None:
    names = {n for n, _ in properties(SCHEMA)}
    assert {"network", "signer", "provider", "models", "proxy", "policy"} <= names


def test_every_schema_property_is_in_the_reference() -> None:
    every = [*properties(SCHEMA), *(p for schema in FLEET_SCHEMAS for p in properties(schema))]
    missing = sorted({f"{name} ({where})" for name, where in every if not named_in_doc(name)})
    assert missing == [], "add these to docs/desired-state.md:\n" + "\n".join(missing)


PRESET_VALUES = {"base", "base-sepolia", "arbitrum", "arbitrum-sepolia"}  # the preset table lists values, not keys


def test_every_documented_field_exists_in_the_schema() -> None:
    """The reverse: a field named in the first column of a reference table is a schema property (no stale docs)."""
    names = {n for n, _ in properties(SCHEMA)} | {n for schema in FLEET_SCHEMAS for n, _ in properties(schema)}
    first_cells = [line.split("|")[1] for line in DOC.splitlines() if line.startswith("| `")]
    documented = {part for cell in first_cells for code in re.findall(r"`([^`]+)`", cell) for part in code.split(".")}
    assert documented - PRESET_VALUES, first_cells
    assert sorted(documented - PRESET_VALUES - names) == []

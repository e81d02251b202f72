"""The desired-state JSON Schema (schemas/desired-state.schema.json) and readable messages for its errors."""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from reconciler.market.units import AmountError, parse_amount

SCHEMAS_DIR = Path(__file__).resolve().parent.parent.parent / "schemas"


@cache
def load_schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS_DIR / name).read_text())
    return data


def desired_state_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema("desired-state.schema.json"))


FLEET_SCHEMAS = ("desired-state.schema.json", "fleet.schema.json", "fleet-shared.schema.json")


@cache
def _registry() -> Registry:
    """The schemas that refer to each other (a fleet's shared files reuse the desired state's fields)."""
    return Registry().with_resources(
        (load_schema(name)["$id"], Resource.from_contents(load_schema(name))) for name in FLEET_SCHEMAS
    )


def fleet_validator(pointer: str = "fleet.schema.json") -> jsonschema.Draft202012Validator:
    """A validator for fleet.yaml, a fleet's shared files (`fleet-shared.schema.json`) or a part of one
    (`fleet-shared.schema.json#/$defs/use`, a provider's model that uses a shared definition)."""
    base = load_schema("desired-state.schema.json")["$id"].rsplit("/", 1)[0]
    return jsonschema.Draft202012Validator({"$ref": f"{base}/{pointer}"}, registry=_registry())


def _is_reference_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and str(schema.get("pattern", "")).startswith("^(env:")


def _is_amount_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and str(schema.get("description", "")).startswith("An exact amount")


_PATTERN_HINTS = {
    "^0x[0-9a-fA-F]{40}$": "an address: 0x followed by 40 hex digits",
    "^0x[0-9a-fA-F]{64}$": "32 bytes of hex: 0x followed by 64 hex digits",
    "^[A-Za-z0-9.-]+:[0-9]{1,5}$": "host:port without a scheme, e.g. provider.example.com:3333",
    "^https?://[^\\s]+$": "an http(s) URL",
    # $defs/plainText: the same characters as reconciler.render.controls.CONTROLS (a test checks they agree)
    r"^[^\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]*(?![\s\S])": (
        "text without control or bidi characters (shown escaped here: printed as they are, they would act on a "
        "terminal or reorder what a reader sees)"
    ),
}


def explain(error: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    """Readable (path, message) pairs for one schema error; secrets in references are never echoed."""
    path = tuple(error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema.get("properties", {})) if isinstance(schema, dict) else []
        out = []
        for key in sorted(k for k in error.instance if k not in known):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known fields: {', '.join(known)})"
            out.append(((*path, key), f"unknown field '{key}'{hint}"))
        return out
    if _is_reference_schema(schema):
        return [(path, "must be a reference env:NAME or file:PATH, not a literal value (value not shown)")]
    if _is_amount_schema(schema):
        try:
            parse_amount(error.instance)
        except AmountError as exc:
            return [(path, str(exc))]
        return [(path, 'expected an amount like "0.1 MOR" or an integer of wei')]
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else error.message
        return [(path, f"missing required field '{missing}'")]
    if error.validator == "pattern":
        hint = _PATTERN_HINTS.get(str(error.validator_value), f"a value matching {error.validator_value}")
        return [(path, f"{_shown(error.instance)} is not {hint}")]
    if error.validator == "dependentRequired":
        return [(path, error.message.replace("is a dependency of", "is required together with"))]
    if error.validator == "oneOf" and isinstance(error.validator_value, list):
        failing = {e.relative_schema_path[0] for e in error.context or []}
        if len(failing) < len(error.validator_value) - 1:
            names = [k for sub in error.validator_value for k in sub.get("required", [])]
            return [(path, f"set exactly one of: {', '.join(names)}")]
    if error.validator in ("anyOf", "oneOf") and error.context:
        return _explain_branches(error, path)
    return [(path, error.message.replace(repr(error.instance), _shown(error.instance)))]


def _shown(value: object, limit: int = 60) -> str:
    """A value as a diagnostic quotes it: a long one cut, with its length, so the message stays one line."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} characters" if isinstance(value, str) else f"{len(text)} characters as written"
    return f"{text[:limit]}… ({size})"


def _explain_branches(error: ValidationError, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    """For anyOf/oneOf: explain the branch that fits the value best, not a random one."""
    branches: dict[int, list[ValidationError]] = {}
    for e in error.context or []:
        branches.setdefault(int(e.relative_schema_path[0]), []).append(e)
    plausible = {
        i: errs
        for i, errs in branches.items()
        if not any(not e.relative_path and e.validator in ("type", "const", "enum") for e in errs)
    }
    if not plausible:
        inner = best_match(error.context or [])
        return explain(inner) if inner is not None else [(path, error.message)]
    fewest = min(len(errs) for errs in plausible.values())
    best = [errs for errs in plausible.values() if len(errs) == fewest]
    if len(best) == 1:
        return [pair for e in best[0] for pair in explain(e)]
    shared = [e for e in best[0] if e.validator == "additionalProperties"]
    alternatives = sorted(
        {str(k) for errs in best for e in errs if e.validator == "required" for k in _as_list(e.validator_value)}
    )
    out = [pair for e in shared for pair in explain(e)]
    if alternatives:
        out.append((path, f"expected one of: {', '.join(alternatives)}"))
    return out or [(path, error.message)]


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []

"""docs/forwarder.md's claudeai translation tables cover every request field and content part type of the pinned
openai SDK (a new SDK field without a row fails here), and the pinned SDKs are the installed ones."""

from __future__ import annotations

import re
import typing
from importlib.metadata import version
from pathlib import Path

import pytest
import typing_extensions
from openai.types.chat import ChatCompletionMessageParam, completion_create_params

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "forwarder.md"
FIELDS = "### claudeai: OpenAI request fields"
PARTS = "### claudeai: content part types"
HANDLING = {"mapped", "dropped", "refused"}


def table(heading: str) -> dict[str, tuple[str, str]]:
    """`name` -> (handling, how or why) from the first table after `heading`."""
    text = DOC.read_text(encoding="utf-8")
    assert heading in text, f"{heading!r} missing from docs/forwarder.md"
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    rows = {}
    for m in re.finditer(r"^\| `([\w.]+)` \| (\w+) \| (.*) \|$", section, re.M):
        rows[m.group(1)] = (m.group(2), m.group(3).strip())
    return rows


def sdk_fields() -> set[str]:
    names: set[str] = set()
    for cls in (
        completion_create_params.CompletionCreateParamsStreaming,
        completion_create_params.CompletionCreateParamsNonStreaming,
    ):
        names |= set(typing.get_type_hints(cls))
    return names


def _typed_dicts(tp: object) -> list[type]:
    if isinstance(tp, type) and typing_extensions.is_typeddict(tp):
        return [tp]
    return [d for arg in typing.get_args(tp) for d in _typed_dicts(arg)]


def sdk_part_types() -> set[str]:
    kinds: set[str] = set()
    for message in typing.get_args(ChatCompletionMessageParam):
        content = typing.get_type_hints(message).get("content")
        for part in _typed_dicts(content):
            kinds.update(typing.get_args(typing.get_type_hints(part)["type"]))
    return kinds


@pytest.mark.parametrize(("heading", "names"), [(FIELDS, sdk_fields), (PARTS, sdk_part_types)])
def test_every_sdk_name_has_exactly_one_documented_row(heading, names):
    rows, expected = table(heading), names()
    assert expected, "the SDK introspection found nothing"
    assert sorted(expected - rows.keys()) == [], "rows missing in docs/forwarder.md"
    assert sorted(rows.keys() - expected) == [], "rows for names the pinned SDK does not have"
    for name, (handling, why) in rows.items():
        assert handling in HANDLING and why, f"{name}: say mapped/dropped/refused, and how or why"


def test_the_pinned_sdks_are_installed():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for name in ("openai", "anthropic"):
        pin = re.search(rf'"{name}==([\w.]+)"', text)
        assert pin is not None, f"{name} is not pinned to an exact version in pyproject.toml"
        assert version(name) == pin.group(1), f"installed {name} {version(name)} is not the pinned {pin.group(1)}"

"""models-config: DESIGN.md's version hash and key fingerprints, entries, and the file apply writes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from planfactory import VENICE_KEY, desired_from, refs

from reconciler.desired.schema import load_schema
from reconciler.modelsconfig import (
    ConfigBuildError,
    build_config,
    config_version,
    forwarder_entries,
    forwarder_key_refs,
    state_from_json,
)
from reconciler.observe.proxy import read_config_file
from reconciler.references import fingerprint

FIXTURE = Path(__file__).parent / "fixtures" / "models-config-reconciler-nonascii.json"


def test_version_of_a_non_ascii_file_is_exact() -> None:
    # independently: jq -cSj . FILE | sha256sum
    obj = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert config_version(obj) == "37c9d8a51db086d34aa884dd3834579f890abfa2071ad285609a2cab590e2df9"


def test_fingerprints_are_first_12_hex_of_sha256() -> None:
    assert fingerprint("clé-secrète-🔑") == "2fcfc3fa2473"
    assert fingerprint("sk-ant-test") == "cdba95a3170e"


def test_file_state_holds_fingerprints_not_keys() -> None:
    state = read_config_file(str(FIXTURE))
    assert state.exists and state.version == "37c9d8a51db086d34aa884dd3834579f890abfa2071ad285609a2cab590e2df9"
    first = state.entries[0]
    assert first.api_key_fingerprint == "2fcfc3fa2473"
    assert first.parameters == (("note", "Grüße aus Köln"), ("temperature", "0.7"))
    assert "clé-secrète" not in repr(state)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    assert not read_config_file(str(tmp_path / "none.json")).exists
    (tmp_path / "bad.json").write_text("{not json")
    assert read_config_file(str(tmp_path / "bad.json")).error


def test_legacy_shape_is_read() -> None:
    mid = "0x" + "ab" * 32
    state = state_from_json(
        "x", {mid: {"modelName": "m", "apiType": "openai", "apiUrl": "http://u/v1/chat/completions"}}
    )
    assert state.entries[0].model_id == mid


def test_build_config_resolves_keys_keeps_undeclared_and_validates() -> None:
    d = desired_from()
    entries = forwarder_entries(d, refs().fingerprints)
    kept = {
        "modelId": "0x" + "ee" * 32,
        "modelName": "by-hand",
        "apiType": "openai",
        "apiUrl": "http://x/v1",
        "apiKey": "k",
    }
    doc = build_config(entries, forwarder_key_refs(d), [kept], environ={"VENICE_API_KEY": VENICE_KEY})
    jsonschema.validate(doc, load_schema("models-config.schema.json"))
    assert [m["modelName"] for m in doc["models"]] == ["llama-3.3-70b", "qwen-2.5", "by-hand"]
    assert doc["models"][0]["apiKey"] == VENICE_KEY
    state = state_from_json("built", doc)
    assert [e.api_key_fingerprint for e in state.entries[:2]] == [fingerprint(VENICE_KEY)] * 2
    with pytest.raises(ConfigBuildError) as exc:
        build_config(entries, forwarder_key_refs(d), environ={})
    assert "env:VENICE_API_KEY" in str(exc.value)

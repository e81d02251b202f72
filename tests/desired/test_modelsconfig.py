"""models-config: the version hash (docs/architecture.md) and key fingerprints, entries, and the file apply writes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reconciler.desired.modelsconfig import (
    ConfigBuildError,
    build_config,
    config_version,
    forwarder_entries,
    forwarder_key_refs,
    state_from_json,
)
from reconciler.desired.references import fingerprint
from reconciler.desired.schema import load_schema
from reconciler.observe.proxy import read_config_file
from tests.support.planfactory import VENICE_KEY, desired_from, refs

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "models-config-reconciler-nonascii.json"


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


def test_written_forwarder_file_converges_the_plan(tmp_path: Path) -> None:
    """Write the file apply would write, read it back as the observer does: nothing left for the proxy."""
    from dataclasses import replace

    from reconciler.desired.modelsconfig import forwarder_file
    from reconciler.observe.model import ForwarderState
    from reconciler.plan.planner import plan
    from tests.support.planfactory import observed

    d = desired_from()
    stray = {
        "modelId": "0x" + "ee" * 32,
        "modelName": "by-hand",
        "apiType": "openai",
        "apiUrl": "http://x/v1",
        "apiKey": "k",
    }
    existing = {"models": [stray]}
    doc = forwarder_file(d, existing, environ={"VENICE_API_KEY": VENICE_KEY})
    path = tmp_path / "fwd.json"
    path.write_text(json.dumps(doc))
    o = replace(observed(), proxy=ForwarderState(file=read_config_file(str(path))))
    p = plan(d, o)
    assert not [a for a in p.pending if a.kind.value.startswith("proxy.")]
    assert [a.status.value for a in p.actions if a.kind.value.startswith("proxy.")] == ["unmanaged"]
    # an absent model stays until its removal is passed in (after its bids are deleted)
    gone = desired_from(**{"    upstreamModel: qwen-2.5\n": "    upstreamModel: qwen-2.5\n    absent: true\n"})
    qwen = d.models[1].model_id
    kept = forwarder_file(gone, doc, environ={"VENICE_API_KEY": VENICE_KEY})
    assert qwen in [m["modelId"] for m in kept["models"]]
    removed = forwarder_file(gone, doc, remove_ids={qwen}, environ={"VENICE_API_KEY": VENICE_KEY})
    assert qwen not in [m["modelId"] for m in removed["models"]]
    assert "0x" + "ee" * 32 in [m["modelId"] for m in removed["models"]]


def test_the_forwarders_fixture_hashes_the_same_here() -> None:
    # docs/architecture.md: reconciler and forwarder compute version and fingerprints independently; both sides test the
    # same files (tests/proxy/test_config.py asserts these values with the forwarder's code).
    shared = Path(__file__).resolve().parents[1] / "fixtures" / "models-config-nonascii.json"
    state = read_config_file(str(shared))
    assert state.version == "cc5c53a00e75e4c1d8ecf7bd0c31da530aee709fffc907a43efb37ac7ecd4663"
    assert [e.api_key_fingerprint for e in state.entries] == ["ae46107a0c71", "c97bd8d8cc6c"]

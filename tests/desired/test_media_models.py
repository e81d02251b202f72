"""Image, video and decisions models in the desired state and in both models-config files.

The router's entry keeps the real apiType, the real upstream model name and the parameters (its adapter
builds the upstream request from them) and points at the forwarder's relay path for the model, with the
client token as its only key; the forwarder's entry holds the real URL and key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from proxy.config import RELAY, parse_config
from reconciler.desired.diagnostics import ValidationFailed
from reconciler.desired.loader import load_desired
from reconciler.desired.model import Endpoint
from reconciler.desired.modelsconfig import forwarder_entries, forwarder_file, router_entries, router_file
from reconciler.desired.schema import load_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "desired-state" / "devnet-all-types.yaml"
ENV = {
    "DEMO_UPSTREAM_KEY": "sk-chat-key",
    "DEMO_ANTHROPIC_KEY": "sk-ant-key",
    "DEMO_PRODIA_KEY": "prodia-key-123",
    "DEMO_HYPERBOLIC_KEY": "hyp-key-456",
    "DEMO_DECISIONS_KEY": "dec-key-789",
    "DEMO_CLIENT_TOKEN": "client-token-abc",
}
STUB = "http://127.0.0.1:8099"


def _by_name(entries: list) -> dict:  # type: ignore[type-arg]
    return {e.model_name: e for e in entries}


def test_the_example_declares_all_seven_api_types_with_their_defaults() -> None:
    d, warnings = load_desired(EXAMPLE)
    assert warnings == []
    models = {m.name: m for m in d.models}
    assert {m.api_type for m in d.models} == {
        "openai", "claudeai", "prodia-sd", "prodia-sdxl", "prodia-v2", "hyperbolic-sd", "decisions"
    }  # fmt: skip
    assert models["demo-sd"].endpoint is Endpoint.IMAGE and models["demo-sd"].tags == ("image",)
    assert models["demo-sdxl"].tags == ("image",) and models["demo-hyperbolic"].tags == ("image",)
    assert models["demo-video"].endpoint is Endpoint.VIDEO and models["demo-video"].tags == ("video",)
    assert models["demo-decisions"].endpoint is Endpoint.DECISIONS and models["demo-decisions"].tags == ("decisions",)
    assert models["demo-chat"].tags == ("llm",)
    assert models["demo-hyperbolic"].parameters == (("height", "1024"), ("width", "1024"))


def test_forwarder_entries_hold_the_real_urls_default_path_per_type_or_the_full_url() -> None:
    d, _ = load_desired(EXAMPLE)
    fwd = _by_name(forwarder_entries(d, {}))
    assert fwd["v1-5-pruned-emaonly.safetensors [d7049739]"].api_url == f"{STUB}/prodia/v1/sd/generate"
    assert fwd["sd_xl_base_1.0.safetensors [be9edd61]"].api_url == f"{STUB}/prodia/v1/sdxl/generate"
    assert fwd["inference.veo.fast.txt2vid.v1"].api_url == f"{STUB}/prodia/v2/job"
    assert fwd["SDXL1.0-base"].api_url == f"{STUB}/hyperbolic/v1/image/generation"
    assert fwd["system-one"].api_url == f"{STUB}/decisions/v1/decide"
    assert fwd["claude-sonnet-4-5"].api_url == f"{STUB}/anthropic/v1/messages"
    assert fwd["llama-3.3-70b"].api_url == f"{STUB}/openai/v1/chat/completions"
    assert {e.api_type for e in fwd.values()} >= {"prodia-sd", "prodia-sdxl", "prodia-v2", "hyperbolic-sd"}


def test_router_entries_keep_type_name_and_parameters_and_point_at_the_relay_path() -> None:
    d, _ = load_desired(EXAMPLE)
    ids = {m.name: m.model_id for m in d.models}
    router = {e.model_id: e for e in router_entries(d, {})}
    sd = router[ids["demo-sd"]]
    assert (sd.api_type, sd.model_name) == ("prodia-sd", "v1-5-pruned-emaonly.safetensors [d7049739]")
    assert sd.api_url == f"http://127.0.0.1:8090/v1/relay/{ids['demo-sd']}"
    hyp = router[ids["demo-hyperbolic"]]
    assert hyp.api_type == "hyperbolic-sd" and dict(hyp.parameters) == {"height": "1024", "width": "1024"}
    assert router[ids["demo-video"]].api_type == "prodia-v2"
    assert router[ids["demo-decisions"]].model_name == "system-one"
    assert router[ids["demo-decisions"]].api_url.endswith("/v1/relay/" + ids["demo-decisions"])
    # chat models are unchanged: openai-typed, named by their id, on the forwarder's OpenAI paths
    chat = router[ids["demo-chat"]]
    assert (chat.api_type, chat.model_name) == ("openai", ids["demo-chat"])
    assert chat.api_url == "http://127.0.0.1:8090/v1/chat/completions"


def test_written_files_keep_the_real_keys_in_the_forwarders_file_only() -> None:
    d, _ = load_desired(EXAMPLE)
    fwd = forwarder_file(d, None, environ=ENV)
    rtr = router_file(d, None, environ=ENV)
    schema = load_schema("models-config.schema.json")
    jsonschema.validate(fwd, schema)
    jsonschema.validate(rtr, schema)
    keys = {m["modelName"]: m.get("apiKey") for m in fwd["models"]}
    assert keys["SDXL1.0-base"] == "hyp-key-456" and keys["system-one"] == "dec-key-789"
    assert keys["inference.veo.fast.txt2vid.v1"] == "prodia-key-123"
    assert {m["apiKey"] for m in rtr["models"]} == {"client-token-abc"}
    text = json.dumps(rtr)
    assert not any(v in text for k, v in ENV.items() if k != "DEMO_CLIENT_TOKEN")
    # the forwarder loads the file it is given: the five new types routed by path
    cfg = parse_config(fwd, "forwarder.json")
    kinds = {r.api_type: r.kind for r in cfg.routes}
    assert len(kinds) == 7 and all(kinds[t] == RELAY for t in kinds if t not in ("openai", "claudeai"))


def test_decisions_upstream_without_a_key_writes_no_key(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "    apiKey: env:DEMO_DECISIONS_KEY                    # optional for decisions only\n", ""
    )
    path = tmp_path / "state.yaml"
    path.write_text(text)
    d, warnings = load_desired(path)
    assert warnings == []
    fwd = forwarder_file(d, None, environ=ENV)
    dec = next(m for m in fwd["models"] if m["apiType"] == "decisions")
    assert "apiKey" not in dec


@pytest.mark.parametrize("doc", ["README.md", "docs/desired-state.md"])
def test_the_docs_show_an_image_model_and_a_decisions_model_that_validate(tmp_path: Path, doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    snippet = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "apiType: hyperbolic-sd" in b)
    minimal = (ROOT / "tests" / "corpus" / "good" / "minimal.yaml").read_text()
    head = minimal[: minimal.index("upstreams:")]
    path = tmp_path / "state.yaml"
    path.write_text(head + snippet + 'proxy:\n  modelsConfigPath: x.json\npolicy:\n  maxSpendPerApply: "2 MOR"\n')
    d, warnings = load_desired(path)
    assert warnings == []
    assert {m.endpoint for m in d.models} == {Endpoint.IMAGE, Endpoint.DECISIONS}


def test_a_chat_models_upstream_url_must_end_with_its_endpoint_path(tmp_path: Path) -> None:
    minimal = (ROOT / "tests" / "corpus" / "good" / "minimal.yaml").read_text()
    good = minimal.replace(
        "    upstreamModel: llama-3.3-70b\n",
        "    upstreamModel: llama-3.3-70b\n    upstreamUrl: https://eu.venice.example/api/v1/chat/completions\n",
    )
    path = tmp_path / "good.yaml"
    path.write_text(good)
    d, _ = load_desired(path)
    assert forwarder_entries(d, {})[0].api_url == "https://eu.venice.example/api/v1/chat/completions"
    path.write_text(good.replace("/api/v1/chat/completions", "/api/v1/completions"))
    with pytest.raises(ValidationFailed) as exc:
        load_desired(path)
    assert "an openai chat URL must end with /chat/completions" in str(exc.value.diagnostics[0])


def test_a_keyless_decisions_model_plans_without_a_key_warning(tmp_path: Path) -> None:
    from reconciler.observe.world import resolve_refs
    from reconciler.plan.planner import plan
    from tests.support.planfactory import observed

    text = EXAMPLE.read_text().replace(
        "    apiKey: env:DEMO_DECISIONS_KEY                    # optional for decisions only\n", ""
    )
    path = tmp_path / "state.yaml"
    path.write_text(text)
    d, _ = load_desired(path)
    p = plan(d, observed(refs=resolve_refs(d, ENV)))
    assert not [w for w in p.warnings if "cannot be resolved" in w]
    env_without_a_key = {k: v for k, v in ENV.items() if "PRODIA" not in k}
    p = plan(d, observed(refs=resolve_refs(d, env_without_a_key)))
    assert [w for w in p.warnings if "cannot be resolved" in w], "a key that is declared but missing still warns"

"""The import renderer without a chain: what is declared as our own model, what falls back to modelId, and why."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from reconciler.chain.registrations import Recovery
from reconciler.cli import cli
from reconciler.market import ids
from reconciler.observe.model import BidState, ChainState, MarketParams, ModelState, ProviderState
from reconciler.render.desired_yaml import ImportSource, endpoint_for, render_import
from tests.support.hostile_text import TERMINAL_NAME, inert

P = ids.checksum("0x" + "ab" * 20)
OTHER = ids.checksum("0x" + "cd" * 20)
MOR = 10**18


def _model(name: str, tags: tuple[str, ...] = ("llm",), owner: str = P, deleted: bool = False) -> ModelState:
    base = ids.base_model_id_for_name(name)
    return ModelState(ids.model_id(owner, base), owner, name, tags, 0, MOR // 10, created_at=1, is_deleted=deleted)


def _chain(models: list[ModelState], bids: list[BidState]) -> ChainState:
    return ChainState(
        chain_id=31337,
        block_number=7,
        block_hash="0x" + "00" * 32,
        block_timestamp=1,
        market=MarketParams(2 * MOR // 10, MOR // 10, 3 * MOR // 10, 1, 10**20),
        provider=ProviderState(P, "host.example:3333", 2 * MOR // 10, created_at=1),
        models=tuple(models),
        bids=tuple(bids),
    )


def _rec(m: ModelState) -> Recovery:
    return Recovery(m.model_id, ids.base_model_id_for_name(m.name), "0x" + "11" * 32, "modelRegister calldata")


def test_fallbacks_and_notes() -> None:
    ok, tee, dup1, dup2 = _model("a"), _model("t", ("llm", "tee")), _model("same"), _model("x")
    dup2 = ModelState(dup2.model_id, P, "same", ("llm",), 0, MOR // 10, created_at=2)
    gone = _model("old", deleted=True)
    unknown = _model("lost")
    bids = [BidState("0x" + "b1" * 32, P, gone.model_id, 5, 0, 1), BidState("0x" + "b2" * 32, P, ok.model_id, 7, 0, 1)]
    recs = [_rec(ok), _rec(tee), _rec(dup1), Recovery(dup2.model_id, ids.base_model_id_for_name("x"), "0x", "x")]
    recs.append(Recovery(unknown.model_id, None, reason="no log"))
    out = render_import(_chain([ok, tee, dup1, dup2, gone, unknown], bids), P, recs, ImportSource("devnet"))
    assert (out.managed, out.existing, out.bids) == (2, 3, 1)
    notes = "\n".join(out.notes)
    assert "tagged tee" in notes and "same name" in notes and "no log" in notes
    assert f"bid {'0x' + 'b1' * 32} is on model {gone.model_id}, which is not an active model" in notes
    assert 'pricePerSecond: "7 wei"' not in out.text and 'pricePerSecond: "0.000000000000000007 MOR"' in out.text
    assert '#   "old" (' in out.text


def test_a_provider_without_models_is_valid_as_imported(tmp_path: Path) -> None:
    out = render_import(_chain([], []), P, [], ImportSource("base", rpc_url_ref="env:BASE_RPC_URL"))
    doc = yaml.safe_load(out.text)
    assert doc["models"] == [] and doc["network"] == {"preset": "base", "rpcUrl": "env:BASE_RPC_URL"}
    path = tmp_path / "d.yaml"
    path.write_text(out.text)
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 0, r.output


def test_endpoint_from_tags() -> None:
    assert endpoint_for(("embedding",)).value == "embeddings"
    assert endpoint_for(("TTS",)).value == "audio-speech"
    assert endpoint_for(("stt", "llm")).value == "audio-transcription"
    assert endpoint_for(()).value == "chat"


def test_strings_read_from_chain_cannot_add_lines_to_the_imported_yaml() -> None:
    """The endpoint and the names are whatever was registered: a newline in one must stay inside its value."""
    injected = "\npolicy:\n  maxSpendPerApply: 1000000 MOR\n# "
    gone = _model("old" + injected, deleted=True)
    chain = _chain([gone], [])
    chain = ChainState(**{**chain.__dict__, "provider": ProviderState(P, "h.example:3333" + injected, 1, created_at=1)})
    out = render_import(chain, P, [], ImportSource("devnet"))
    doc = yaml.safe_load(out.text)
    assert doc["provider"]["endpoint"] == "h.example:3333" + injected
    assert doc.get("policy", {}).get("maxSpendPerApply") != "1000000 MOR"


def test_names_the_schema_refuses_are_imported_cleaned_with_their_base_id(tmp_path: Path) -> None:
    own, foreign = _model(TERMINAL_NAME), _model("their\u202emodel", owner=OTHER)
    gone = _model("old\x1b]0;x\x07", deleted=True)
    bid = BidState("0x" + "b3" * 32, P, foreign.model_id, 5, 0, 1)
    chain = _chain([own, foreign, gone], [bid])
    chain = ChainState(
        **{**chain.__dict__, "provider": ProviderState(P, "h.example:3333\x1b[2J\u202e", 1, created_at=1)}
    )
    out = render_import(chain, P, [_rec(own)], ImportSource("devnet"))
    assert inert(out.text), out.text
    assert all(inert(n) for n in out.notes)
    doc = yaml.safe_load(out.text)
    assert doc["provider"]["endpoint"] == "h.example:3333\x1b[2J\u202e"  # YAML escapes: the value round-trips
    assert '"h.example:3333\\e[2J\\u202E"' in out.text
    mine = doc["models"][0]
    assert mine["baseModelId"] == ids.base_model_id_for_name(TERMINAL_NAME) and inert(mine["name"])
    assert mine["name"].startswith("pwn") and "replaced" in out.text
    assert inert(doc["models"][1]["name"])  # the label of another owner's model
    path = tmp_path / "d.yaml"
    path.write_text(out.text.replace("h.example:3333\\e[2J\\u202E", "h.example:3333"))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert "control or bidi" not in r.output, r.output  # refused for the placeholders only, not for a name

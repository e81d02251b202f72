"""Issue 30, row 5, without a chain: the fleet layout `reconcile import` writes for several providers. The model
every provider registered alike is one shared definition (each provider's other price an override), a model only
one provider has stays in its folder, the upstream placeholders are written once; filled in, each member of the
fleet loads as the very desired state its single import says (so planning the fleet is as much a no-op as
planning each import; the devnet round trip is in tests/commands/test_fleet_devnet.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from reconciler.desired.loader import load_desired
from reconciler.market import ids
from reconciler.observe.model import BidState, ChainState, MarketParams, ModelState, ProviderState
from reconciler.render.desired_yaml import ImportSource, render_import
from tests.commands.test_import_state_devnet import fill_in
from tests.render.test_desired_yaml import _rec

MOR = 10**18
ADDRESSES = [ids.checksum("0x" + h * 20) for h in ("a1", "b2", "c3")]


def _chain(provider: str, models: list[tuple[str, tuple[str, ...], int]]) -> tuple[ChainState, list[ModelState]]:
    states = [
        ModelState(ids.model_id(provider, ids.base_model_id_for_name(n)), provider, n, tags, 0, MOR // 10, created_at=1)
        for n, tags, _price in models
    ]
    bids = [
        BidState("0x" + f"{i + 1:02x}" * 32, provider, m.model_id, price, 0, 1)
        for i, (m, (_n, _t, price)) in enumerate(zip(states, models, strict=True))
    ]
    chain = ChainState(
        chain_id=31337,
        block_number=7,
        block_hash="0x" + "00" * 32,
        block_timestamp=1,
        market=MarketParams(2 * MOR // 10, MOR // 10, 3 * MOR // 10, 1, 10**20),
        provider=ProviderState(provider, f"{provider[2:8].lower()}.example:3333", 2 * MOR // 10, created_at=1),
        models=tuple(states),
        bids=tuple(bids),
    )
    return chain, states


def _imports() -> list[tuple[str, str]]:
    prices = (6 * 10**15, 6 * 10**15, 7 * 10**15)
    out = []
    for i, (address, price) in enumerate(zip(ADDRESSES, prices, strict=True)):
        models = [("demo-chat", ("llm",), price)]
        if i == 1:
            models.append(("solo-embed", ("embedding",), 10**16))
        chain, states = _chain(address, models)
        imported = render_import(chain, address, [_rec(m) for m in states], ImportSource("devnet"))
        out.append((f"provider-{i + 1}", imported.text))
    return out


def test_the_fleet_layout_factors_out_what_the_providers_share_and_loads_as_each_import(tmp_path: Path) -> None:
    from reconciler.desired.fleet import load_fleet
    from reconciler.render.desired_yaml import Imported
    from reconciler.render.fleet_import import ImportedMember, render_fleet_import

    singles = _imports()
    out = render_fleet_import([ImportedMember(name, Imported(text)) for name, text in singles])
    assert list(out.files) == [
        "fleet.yaml",
        "shared.yaml",
        "provider-1/provider.yaml",
        "provider-2/provider.yaml",
        "provider-3/provider.yaml",
    ]
    assert yaml.safe_load(out.files["fleet.yaml"]) == {"providers": [{"name": f"provider-{i}"} for i in (1, 2, 3)]}
    assert out.shared_models == ("demo-chat",)
    shared = out.files["shared.yaml"]
    assert shared.count("upstream-1:") == 1 and "modelDefinitions:" in shared
    assert yaml.safe_load(shared)["modelDefinitions"]["demo-chat"]["bid"] == {"pricePerSecond": "0.006 MOR"}
    p1, p2, p3 = (yaml.safe_load(out.files[f"provider-{i}/provider.yaml"]) for i in (1, 2, 3))
    assert p1["models"] == [{"use": "demo-chat"}]
    assert p2["models"][0] == {"use": "demo-chat"} and p2["models"][1]["name"] == "solo-embed"
    assert p3["models"] == [{"use": "demo-chat", "bid": {"pricePerSecond": "0.007 MOR"}}]  # its own price
    assert all("upstreams" not in p for p in (p1, p2, p3))

    root = tmp_path / "fleet"
    for rel, text in out.files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(fill_in(text, Path("models-config.json")))
    env = {"UPSTREAM_1_API_KEY": "k", "PROVIDER_PRIVATE_KEY": "0x" + "11" * 32}
    fleet = load_fleet(root, env)
    for (name, text), member in zip(singles, fleet.members, strict=True):
        single = tmp_path / f"{name}.yaml"
        single.write_text(fill_in(text, Path("models-config.json")))
        alone, _ = load_desired(single, env)
        assert member.name == name
        for part in ("provider", "network", "models", "policy", "signer"):
            assert _plain(getattr(member.desired, part)) == _plain(getattr(alone, part)), (name, part)


def _plain(value: object) -> object:
    """A loaded value without where it was written (the fleet's files are not the single import's)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "location"}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value

"""A fleet's chain reading (issue 30): several providers on one network share the reader's rounds, so the round
trips do not grow with the number of providers and, through an endpoint capping its batches, the HTTP requests
grow only as the calls divided by the cap; one network's RPC failing fails that network's providers only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.chain.networks import resolve_network
from reconciler.chain.reader import ChainReader
from reconciler.desired.loader import load_desired
from reconciler.desired.model import Desired
from reconciler.devnet import unlocked
from reconciler.market import ids
from tests.support.ports import free_port
from tests.support.rpcsim import EndpointSimulator, Limits

pytestmark = pytest.mark.devnet

MOR = 10**18
PROVIDERS = (2, 3, 4, 5)  # devnet accounts, each a provider with two models and their bids


def _yaml(provider: str, fwd: Path, rpc: str = "env:SIM_URL") -> str:
    models = "".join(
        f'  - name: fleet-{i}\n    upstream: u\n    upstreamModel: m{i}\n    stake: "0.1 MOR"\n'
        f'    bid:\n      pricePerSecond: "0.006 MOR"\n'
        for i in range(2)
    )
    return (
        f'network:\n  preset: devnet\n  rpcUrl: {rpc}\nsigner:\n  address: "{provider}"\n'
        f'  privateKey: env:K\nprovider:\n  address: "{provider}"\n  endpoint: 127.0.0.1:3333\n  stake: "0.2 MOR"\n'
        "upstreams:\n  u:\n    baseUrl: http://127.0.0.1:9/v1\n    apiKey: env:KEY\n    resaleAllowed: true\n"
        f'models:\n{models}proxy:\n  modelsConfigPath: {fwd}\npolicy:\n  maxSpendPerApply: "1000 MOR"\n'
    )


def _register(w3: Web3, net: dict[str, Any], provider: str) -> None:
    market = w3.eth.contract(address=net["diamond"], abi=load_artifact("Marketplace").abi)
    mor = w3.eth.contract(address=net["mor"], abi=load_artifact("MorToken").abi)
    unlocked.send(w3, mor.functions.approve(net["diamond"], 1000 * MOR), provider)
    unlocked.send(w3, market.functions.providerRegister(provider, 2 * MOR // 10, "127.0.0.1:3333"), provider)
    for i in range(2):
        base = ids.base_model_id_for_name(f"fleet-{i}")
        fn = market.functions.modelRegister(
            provider, bytes.fromhex(base[2:]), b"\0" * 32, 0, MOR // 10, f"fleet-{i}", []
        )
        unlocked.send(w3, fn, provider)
        mid = bytes.fromhex(ids.model_id(provider, base)[2:])
        unlocked.send(w3, market.functions.postModelBid(provider, mid, 6 * 10**15), provider)


def _desired(net: dict[str, Any], tmp: Path, k: int, rpc: str = "env:SIM_URL") -> Desired:
    path = tmp / f"p{k}.yaml"
    path.write_text(_yaml(net["accounts"][k]["address"], tmp / f"fwd-{k}.json", rpc))
    return load_desired(path)[0]


@pytest.fixture(scope="module")
def registered(net: dict[str, Any]) -> dict[str, Any]:
    """The devnet with PROVIDERS registered, once for the module's tests that read them."""
    w3 = Web3(Web3.HTTPProvider(net["rpcUrl"]))
    for k in PROVIDERS:
        _register(w3, net, net["accounts"][k]["address"])
    return net


def test_providers_on_one_network_share_the_rounds_and_batches_grow_only_with_the_calls(
    registered: dict[str, Any], tmp_path: Path
) -> None:
    net = registered
    desireds = [_desired(net, tmp_path, k) for k in PROVIDERS]

    for cap in (None, 10):
        with EndpointSimulator(net["rpcUrl"], Limits(max_batch=cap)) as sim:
            env = {"RECONCILE_DEVNET_DIR": net["dir"], "SIM_URL": f"{sim.url}/cap-{cap}"}
            network = resolve_network(desireds[0].network, env)
            ChainReader.connect(network, state_dir=tmp_path / "index").observe(desireds[0])  # learns the registry
            figures = {}
            for n in (1, len(PROVIDERS)):
                sim.reset_counts()
                reader = ChainReader.connect(network, state_dir=tmp_path / "index")
                states = reader.observe_many(desireds[:n])
                counts = sim.reset_counts()
                figures[n] = (reader.round_trips, counts.http_requests, counts.calls)
                for d, state in zip(desireds[:n], states, strict=True):
                    assert not isinstance(state, Exception), state
                    assert state.provider is not None and state.provider.address == d.provider.address
                    mine = {m.model_id for m in d.models}
                    assert {b.model_id for b in state.bids} == mine  # its own bids, nobody else's
                    assert {m.model_id for m in state.models} == mine
                alone = ChainReader.connect(network, state_dir=tmp_path / "index").observe(desireds[n - 1])
                assert alone.bids == states[-1].bids and alone.models == states[-1].models  # the same reading
            (trips_1, http_1, calls_1), (trips_n, http_n, calls_n) = figures[1], figures[len(PROVIDERS)]
            assert trips_n == trips_1, figures  # round trips constant in the number of providers
            assert calls_n > calls_1
            if cap is None:
                assert http_n == http_1, figures  # one HTTP request per round on anvil
            else:
                assert http_n <= calls_n // cap + trips_n, figures  # only as the calls divided by the cap
                assert http_n < len(PROVIDERS) * http_1, figures


def test_one_network_failing_fails_its_providers_and_the_others_are_still_planned(
    net: dict[str, Any], tmp_path: Path
) -> None:
    from reconciler.pipeline import plan_fleet

    env = {"RECONCILE_DEVNET_DIR": net["dir"], "SIM_URL": net["rpcUrl"], "DEAD_RPC": f"http://127.0.0.1:{free_port()}"}
    members = [
        ("alpha", _desired(net, tmp_path, 2)),
        ("beta", _desired(net, tmp_path, 6, rpc="env:DEAD_RPC")),
        ("gamma", _desired(net, tmp_path, 7)),
    ]
    fleet = plan_fleet(members, env, tmp_path / "index")
    assert [m.name for m in fleet.members] == ["alpha", "beta", "gamma"]
    alpha, beta, gamma = fleet.members
    assert alpha.plan is not None and gamma.plan is not None and alpha.error is None and gamma.error is None
    assert gamma.plan.pending  # a fresh provider: everything to create
    assert beta.plan is None and beta.error is not None and "env:DEAD_RPC" in beta.error
    assert "127.0.0.1" not in beta.error  # named by its reference, never its URL
    assert fleet.failed == (beta,) and fleet.has_errors


def test_the_registry_listed_in_pages_once_for_all_while_the_others_wait(
    net: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first plan on a marketplace of more models than a page (Base has hundreds): the first reading lists the
    registry's ids page by page, the others wait without round trips of their own, and every provider still
    finds its own undeclared models among the ids none had seen."""
    monkeypatch.setattr("reconciler.chain.reader.MODEL_PAGE", 7)
    w3 = Web3(Web3.HTTPProvider(net["rpcUrl"]))
    fresh = [net["accounts"][k]["address"] for k in (8, 9)]
    for provider in fresh:
        _register(w3, net, provider)
    env = {"RECONCILE_DEVNET_DIR": net["dir"], "SIM_URL": net["rpcUrl"]}
    # each declares no model: its two registered ones are undeclared, found only through the registry's list
    desireds = []
    for k, provider in zip((8, 9), fresh, strict=True):
        path = tmp_path / f"bare-{k}.yaml"
        text = _yaml(provider, tmp_path / f"fwd-{k}.json").split("models:\n")[0] + "models: []\n"
        path.write_text(text + 'policy:\n  maxSpendPerApply: "1 MOR"\n')
        desireds.append(load_desired(path)[0])
    network = resolve_network(desireds[0].network, env)
    alone = ChainReader.connect(network, state_dir=tmp_path / "alone")
    one = alone.observe(desireds[1])
    together = ChainReader.connect(network, state_dir=tmp_path / "together")
    states = together.observe_many(desireds)
    assert together.round_trips == alone.round_trips
    for provider, state in zip(fresh, states, strict=True):
        assert not isinstance(state, Exception), state
        assert len(state.models) == 2 and {m.owner for m in state.models} == {provider}
    assert not isinstance(states[1], Exception) and states[1].models == one.models and states[1].bids == one.bids


def _fleet(net: dict[str, Any], root: Path, ks: tuple[int, ...]) -> Path:
    """A fleet folder of the providers `ks` (the same files as `_yaml`, its upstream and policy shared)."""
    root.mkdir()
    (root / "fleet.yaml").write_text("providers:\n" + "".join(f"  - name: p{k}\n" for k in ks))
    shared = "upstreams:\n  u:\n    baseUrl: http://127.0.0.1:9/v1\n    apiKey: env:KEY\n    resaleAllowed: true\n"
    (root / "shared.yaml").write_text(shared + 'policy:\n  maxSpendPerApply: "1000 MOR"\n')
    for k in ks:
        (root / f"p{k}").mkdir()
        text = _yaml(net["accounts"][k]["address"], root / f"fwd-{k}.json")
        own = text.split("upstreams:\n")[0] + "models:\n" + text.split("models:\n")[1].split("policy:\n")[0]
        (root / f"p{k}" / "provider.yaml").write_text(own)
    return root


def test_status_on_a_fleet_reads_the_members_of_one_network_together(
    registered: dict[str, Any], tmp_path: Path
) -> None:
    """`reconcile status` on a fleet shares the reading rounds as `plan` does: its HTTP requests on anvil do not
    grow with the number of members, and each row is still its own provider's."""
    from reconciler.status.report import fleet_status_output

    net = registered
    one = _fleet(net, tmp_path / "one", PROVIDERS[:1])
    four = _fleet(net, tmp_path / "four", PROVIDERS)
    with EndpointSimulator(net["rpcUrl"]) as sim:
        env = {"RECONCILE_DEVNET_DIR": net["dir"], "SIM_URL": sim.url, "KEY": "k"}
        figures = {}
        for n, root in ((1, one), (len(PROVIDERS), four)):
            sim.reset_counts()
            text, all_read = fleet_status_output(root, "json", (), env)
            figures[n] = sim.reset_counts().http_requests
            assert all_read, text
            rows = json.loads(text)["fleet"]
            assert [r["provider"] for r in rows] == [f"p{k}" for k in PROVIDERS[:n]]
            for k, row in zip(PROVIDERS, rows, strict=False):
                assert row["address"] == net["accounts"][k]["address"] and row["registered"], row
                assert row["models"] == 2 and row["bids"] == 2 and row["errors"] == [], row
    assert figures[len(PROVIDERS)] == figures[1], figures  # one HTTP request per round, however many members

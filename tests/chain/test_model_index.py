"""The registry's model index: extended from where it stopped, dropped when it does not match the chain, saved
only when it learned something; and on a devnet, a stale index from another chain never hides a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.chain.model_index import ModelIndex, index_path
from reconciler.chain.networks import resolve_network
from reconciler.chain.reader import ChainReader
from reconciler.desired.model import Desired, NetworkSpec, ProviderSpec, SignerSpec
from reconciler.devnet import unlocked
from reconciler.market import ids

MOR = 10**18
A, B, C, D = ("0x" + c * 64 for c in "abcd")


def test_extend_continues_from_the_last_known_id_or_starts_over() -> None:
    idx = ModelIndex()
    assert idx.next_offset() == 0 and idx.extend(0, [A, B], 2) and idx.ids == [A, B]
    assert idx.next_offset() == 1 and idx.extend(1, [B, C, D], 4) and idx.ids == [A, B, C, D]
    assert not idx.extend(3, [A], 4) and idx.ids == []  # the last known id moved: read again from 0
    idx = ModelIndex([A, B])
    assert not idx.extend(1, [], 1) and idx.ids == []  # the chain has fewer ids than we know
    idx = ModelIndex([A])
    assert idx.extend(0, [C, D], 2) and idx.ids == [C, D]  # read from 0 anyway: taken as the new list


def test_saved_only_when_something_was_learned_and_a_broken_file_is_an_empty_index(tmp_path: Path) -> None:
    path = index_path(tmp_path, 31337, "0x" + "Ab" * 20)
    assert path.parent.name == f"31337-0x{'ab' * 20}"
    idx = ModelIndex.load(path)
    idx.extend(0, [A, B], 2)
    idx.owners[A] = "0x" + "11" * 20
    idx.save()
    again = ModelIndex.load(path)
    assert again.ids == [A, B] and again.owners == {A: "0x" + "11" * 20} and again.unknown() == [B]
    path.write_text("{}")
    again.save()  # nothing new since it was loaded: the file is left as it is
    assert path.read_text() == "{}"
    assert ModelIndex.load(path).ids == []
    assert json.loads(path.read_text()) == {}


def test_a_stale_index_from_another_chain_never_hides_an_undeclared_model(net: dict[str, Any], tmp_path: Path) -> None:
    w3 = Web3(Web3.HTTPProvider(net["rpcUrl"]))
    owner = net["accounts"][7]["address"]
    market = w3.eth.contract(address=net["diamond"], abi=load_artifact("Marketplace").abi)
    mor = w3.eth.contract(address=net["mor"], abi=load_artifact("MorToken").abi)
    unlocked.send(w3, mor.functions.approve(net["diamond"], MOR), owner)
    base = ids.base_model_id_for_name("index-test")
    fn = market.functions.modelRegister(owner, bytes.fromhex(base[2:]), b"\0" * 32, 0, MOR // 10, "index-test", [])
    unlocked.send(w3, fn, owner)
    mid = ids.model_id(owner, base)

    spec = NetworkSpec(preset="devnet", chain_id=None, diamond=None, mor=None, rpc_url=None, devnet_dir=net["dir"])
    network = resolve_network(spec)
    total = market.functions.getModelIds(0, 0).call()[1]
    stale = index_path(tmp_path, network.chain_id, network.diamond)
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"ids": [A] * total, "owners": {A: owner}}))  # as long as this chain's list
    probe = Desired(network=spec, signer=SignerSpec(address=owner), provider=ProviderSpec(owner, "", 0))
    reader = ChainReader.connect(network, state_dir=tmp_path)
    chain = reader.observe(probe)
    assert mid in {m.model_id for m in chain.models}
    saved = json.loads(stale.read_text())
    assert A not in saved["ids"] and saved["owners"][mid] == owner and len(saved["ids"]) == total

    trips = reader.round_trips
    again = ChainReader.connect(network, state_dir=tmp_path)
    assert mid in {m.model_id for m in again.observe(probe).models}
    assert again.round_trips < trips  # known now: no re-read, no round for the found model's stats

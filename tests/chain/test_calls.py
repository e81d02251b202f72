"""The reconciler's writes, encoded from the ABI and sent through the journaled sender, on real contracts."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.chain.calls import ChainCalls
from reconciler.chain.journal import Journal
from reconciler.chain.sender import TxReverted, TxSender
from reconciler.devnet.local import Deployment, dev_accounts

MOR = 10**18
BASE = "0x" + "ab" * 32


def test_register_provider_model_bid_then_tear_down(w3: Web3, deployed: Deployment, tmp_path: Path) -> None:
    key = dev_accounts()[1]
    calls = ChainCalls(deployed.diamond, deployed.mor)
    s = TxSender(w3, Account.from_key(key.private_key), Journal(tmp_path / "j.jsonl"), "p", decoder=calls.decoder)
    market = w3.eth.contract(address=deployed.diamond, abi=load_artifact("Marketplace").abi)
    me = key.address

    s.wait([s.send(calls.approve("approve", 2 * MOR))])
    s.wait([s.send(calls.provider_register("prov", me, MOR // 5, "host.example:3333", "provider.register"))])
    s.wait([s.send(calls.model_register("model", me, BASE, "", 0, MOR // 10, "m", ["llm"], "model.register"))])
    model_id = market.functions.getModelId(me, bytes.fromhex(BASE[2:])).call()
    # two bids pipelined with consecutive nonces: the second replaces the first on chain
    first = s.send(calls.bid_post("bid1", me, "0x" + model_id.hex(), 10**16))
    second = s.send(calls.bid_post("bid2", me, "0x" + model_id.hex(), 2 * 10**16))
    s.wait([first, second])
    bids, total = market.functions.getProviderActiveBids(me, 0, 10).call()
    assert total == 1 and market.functions.getBid(bids[0]).call()[2] == 2 * 10**16

    s.wait([s.send(calls.bid_delete("del", "0x" + bids[0].hex()))])
    s.wait([s.send(calls.model_deregister("mdel", "0x" + model_id.hex()))])
    s.wait([s.send(calls.provider_deregister("pdel", me))])
    assert not market.functions.getIsProviderActive(me).call()


def test_reverts_are_refused_before_sending_and_said_in_words(w3: Web3, deployed: Deployment, tmp_path: Path) -> None:
    key = dev_accounts()[2]
    calls = ChainCalls(deployed.diamond, deployed.mor)
    s = TxSender(w3, Account.from_key(key.private_key), Journal(tmp_path / "j.jsonl"), "p", decoder=calls.decoder)
    with pytest.raises(
        TxReverted, match=r"ERC20InsufficientAllowance: MOR allowance of 0x\w+ is 0 MOR, needs 0\.1 MOR"
    ):
        s.send(calls.provider_register("prov", key.address, MOR // 10, "h:1", "provider.register"))
    s.wait([s.send(calls.approve("approve", MOR))])
    with pytest.raises(TxReverted, match=r"ProviderStakeTooLow: stake 0\.1 MOR below minimum 0\.2 MOR"):
        s.send(calls.provider_register("prov", key.address, MOR // 10, "h:1", "provider.register"))
    with pytest.raises(TxReverted, match="InsufficientRightsForOperation"):
        s.send(calls.provider_register("prov", dev_accounts()[3].address, MOR, "h:1", "provider.register"))
    assert w3.eth.get_transaction_count(key.address) == 1  # only the approve left this machine
    assert Journal(tmp_path / "j.jsonl").open_transactions() == []

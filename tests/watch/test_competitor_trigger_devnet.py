"""The watcher's chain trigger sees competitors' bids on our models (issue 31): another provider posting or
deleting a bid on a model of the desired state wakes a run (so a competitor's move can lead to a reprice), while
its bids on other models do not. A real anvil, the real poller thread."""

from __future__ import annotations

import queue

from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.devnet import unlocked
from reconciler.devnet.anvil import Anvil
from reconciler.devnet.local import Deployment, dev_accounts
from reconciler.market.ids import model_id
from reconciler.watch.triggers import ChainTarget, Poller, Trigger
from tests.support.market_scene import market_contract, register_and_bid

MOR = 10**18


def _register_model(w3: Web3, diamond: str, mor: str, owner: str, base: bytes) -> bytes:
    market = market_contract(w3, diamond)
    token = w3.eth.contract(address=mor, abi=load_artifact("MorToken").abi)
    unlocked.send(w3, token.functions.approve(market.address, MOR // 10), owner)
    unlocked.send(w3, market.functions.modelRegister(owner, base, b"\x00" * 32, 0, MOR // 10, "m", ["llm"]), owner)
    return bytes.fromhex(model_id(owner, "0x" + base.hex())[2:])


def test_competitor_bids_on_our_models_trigger_a_run(anvil: Anvil, w3: Web3, deployed: Deployment) -> None:
    accounts = dev_accounts()
    ours, rival, owner = accounts[1].address, accounts[3].address, accounts[2].address
    diamond = deployed.diamond
    our_model = _register_model(w3, diamond, deployed.mor, owner, b"\x01" * 32)
    other_model = _register_model(w3, diamond, deployed.mor, owner, b"\x02" * 32)
    register_and_bid(w3, diamond, ours, 2 * MOR // 10, our_model, 6 * 10**15)
    rival_bid = register_and_bid(w3, diamond, rival, 2 * MOR // 10, other_model, 6 * 10**15)
    market = market_contract(w3, diamond)
    mor = w3.eth.contract(address=deployed.mor, abi=load_artifact("MorToken").abi)
    unlocked.send(w3, mor.functions.approve(market.address, 10 * MOR), rival)

    target = ChainTarget(((anvil.rpc_url, "anvil"),), diamond, ours, ours, model_ids=("0x" + our_model.hex(),))
    q: queue.Queue[Trigger] = queue.Queue()
    poller = Poller(q, poll=0.05, interval=3600).start()
    try:
        poller.rebase(target, int(w3.eth.block_number), w3.eth.get_transaction_count(ours, "pending"), None)
        unlocked.send(w3, market.functions.deleteModelBid(rival_bid), rival)  # another model: no run
        fn = market.functions.postModelBid(rival, our_model, 5 * 10**15)
        posted = bytes(fn.call({"from": rival}))
        unlocked.send(w3, fn, rival)  # our model: a run
        got = q.get(timeout=20)
        assert got.kind == "chain" and "1 competitor bid event(s) on our models" in got.detail, got
        unlocked.send(w3, market.functions.deleteModelBid(posted), rival)
        got = q.get(timeout=20)
        assert got.kind == "chain" and "1 competitor bid event(s) on our models" in got.detail, got
    finally:
        poller.stop()
    assert q.empty(), list(q.queue)

"""Why a transaction reverted on chain when another transaction of its own block caused it (issue 27).

The case: a hot key's `bid.post` mined in the same block as, and after, the provider wallet's revoke of its
`marketplace` right. Replayed at the block before, the call succeeds; the sender must still say why it reverted:
traced (`debug_traceTransaction`) where the endpoint offers it, exact; behind an endpoint without `debug_`
methods (a loopback JSON-RPC front for anvil that refuses them), replayed at the block before, then on the mined
block, where the reason is only "probable" (that block's later transactions are in it); and when nothing tells,
"reason unavailable" with what was tried. anvil mines the transactions of one block by their tip, highest first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from reconciler.apply.run import ApplyOptions, apply_desired
from reconciler.chain.artifacts import load_artifact
from reconciler.chain.calls import ChainCalls
from reconciler.chain.journal import Journal
from reconciler.chain.rpc import connect_all
from reconciler.chain.sender import TxReverted, TxSender
from reconciler.desired.loader import load_desired
from reconciler.devnet import unlocked
from tests.support.apply_helpers import EXAMPLE
from tests.support.rpcsim import EndpointSimulator, Limits

MOR = 10**18
GWEI = 10**9
EXAMPLE_PROVIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
RIGHTS = ("provider", "model", "marketplace")
NO_DEBUG = Limits(refused_methods=("debug_",))


def _w3(net: dict[str, Any]) -> Web3:
    return Web3(Web3.HTTPProvider(net["rpcUrl"]))


def _rpc(net: dict[str, Any], method: str, *params: Any) -> Any:
    return _w3(net).provider.make_request(method, list(params))  # type: ignore[arg-type]


def _registry(net: dict[str, Any]) -> Any:
    return _w3(net).eth.contract(address=net["delegateRegistry"], abi=load_artifact("DelegateRegistry").abi)


def _right(name: str) -> bytes:
    return bytes(Web3.keccak(text=f"delegation.rules.{name}"))


@pytest.fixture
def no_debug(net: dict[str, Any]) -> Iterator[EndpointSimulator]:
    """The devnet behind an endpoint that offers no `debug_` method (as many hosted ones do)."""
    with EndpointSimulator(net["rpcUrl"], NO_DEBUG) as sim:
        yield sim


def _delegated(
    net: dict[str, Any], work: Path, provider: int, hot: int, rpc: str | None = None
) -> tuple[Path, dict[str, str]]:
    """The devnet example in delegate mode: provider wallet `provider` approves MOR and grants the hot key `hot`
    its rights; the desired state reads the chain through `rpc` when given."""
    cold, key = net["accounts"][provider]["address"], net["accounts"][hot]
    w3 = _w3(net)
    mor = w3.eth.contract(address=net["mor"], abi=load_artifact("MorToken").abi)
    unlocked.send(w3, mor.functions.approve(net["diamond"], 100 * MOR), cold)
    for r in RIGHTS:
        unlocked.send(
            w3, _registry(net).functions.delegateContract(key["address"], net["diamond"], _right(r), True), cold
        )
    text = EXAMPLE.read_text().replace("../../.demo/forwarder-models.json", str(work / "fwd.json"))
    text = text.replace(f'address: "{EXAMPLE_PROVIDER}"   # same as the signer', f'address: "{cold}"   # delegating')
    text = text.replace(f'address: "{EXAMPLE_PROVIDER}"', f'address: "{key["address"]}"')
    if rpc is not None:
        text = text.replace("  preset: devnet ", "  rpcUrls: [env:RPC_A]\n  preset: devnet ")
    path = work / "delegate.yaml"
    path.write_text(text)
    env = {"RECONCILE_DEVNET_DIR": net["dir"], "DEMO_UPSTREAM_KEY": "k", "DEVNET_PROVIDER_KEY": key["privateKey"]}
    if rpc is not None:
        env["RPC_A"] = rpc
    return path, env


def _apply(path: Path, env: dict[str, str], state: Path, progress: Any = lambda _line: None) -> None:
    desired, _ = load_desired(path)
    opts = ApplyOptions(state_dir=state, confirm=lambda _p: True, progress=progress, receipt_timeout=30.0)
    apply_desired(desired, env, opts)


def _registry_tx(net: dict[str, Any], cold: str, hot: str, enable: bool, tip: int) -> str:
    """The provider wallet (un)delegates the hot key's `marketplace` right, with this tip (sent, not mined)."""
    base = int(_w3(net).eth.get_block("latest")["baseFeePerGas"])
    fn = _registry(net).functions.delegateContract(hot, net["diamond"], _right("marketplace"), enable)
    fees = {"maxPriorityFeePerGas": tip, "maxFeePerGas": 4 * base + tip}
    return "0x" + bytes(fn.transact({"from": cold, "gas": 200_000, **fees})).hex()


def _reverted_after_a_revoke(
    net: dict[str, Any], tmp_path: Path, provider: int, hot: int, rpc: str | None, regrant: bool
) -> tuple[str, int]:
    """Apply the example, then a new price for its first model with automining off: when the bid.post is sent,
    the provider wallet revokes the hot key's `marketplace` right with a higher tip (and, with `regrant`, grants
    it again with a lower one), then one block is mined. Returns what apply raised, and the block."""
    cold, key = net["accounts"][provider]["address"], net["accounts"][hot]["address"]
    path, env = _delegated(net, tmp_path, provider, hot, rpc)
    state = tmp_path / "state"
    _apply(path, env, state)
    path.write_text(path.read_text().replace('pricePerSecond: "0.006 MOR"', 'pricePerSecond: "0.007 MOR"'))
    sent: list[str] = []

    def progress(line: str) -> None:
        if not line.startswith("sent "):
            return
        if line.startswith("sent bid.post") and not sent:
            sent.append(_registry_tx(net, cold, key, False, 50 * GWEI))
            if regrant:
                sent.append(_registry_tx(net, cold, key, True, 1))
        _rpc(net, "evm_mine")

    _rpc(net, "evm_setAutomine", False)
    try:
        with pytest.raises(TxReverted) as info:
            _apply(path, env, state, progress)
    finally:
        _rpc(net, "evm_setAutomine", True)
    record = info.value.record
    assert record is not None and record.action == "bid.post"
    w3 = _w3(net)
    post = w3.eth.get_transaction_receipt(record.tx_hash)  # type: ignore[arg-type]
    others = [w3.eth.get_transaction_receipt(h) for h in sent]  # type: ignore[arg-type]
    assert post["status"] == 0 and [r["status"] for r in others] == [1] * len(others)
    assert {r["blockNumber"] for r in others} == {post["blockNumber"]}  # one block: revoke, post (, grant)
    indexes = [others[0]["transactionIndex"], post["transactionIndex"], *(r["transactionIndex"] for r in others[1:])]
    assert indexes == sorted(indexes), indexes
    return str(info.value), int(post["blockNumber"])


def _refused(net: dict[str, Any], provider: int, hot: int) -> str:
    cold, key = net["accounts"][provider]["address"], net["accounts"][hot]["address"]
    return f"InsufficientRightsForOperation: {key} holds no delegated right to act for {cold}"


def test_a_same_block_revert_is_traced_and_said_exactly(net: dict[str, Any], tmp_path: Path) -> None:
    said, _block = _reverted_after_a_revoke(net, tmp_path, 2, 3, rpc=None, regrant=False)
    assert "bid.post" in said and "reverted on chain" in said
    assert _refused(net, 2, 3) in said
    assert "probable" not in said and "unavailable" not in said


def test_the_trace_is_exact_where_no_replay_reverts(net: dict[str, Any], tmp_path: Path) -> None:
    """Revoke, post, grant again in one block: replayed before or after the block the post succeeds; the trace
    still reads the revert the post met."""
    said, _block = _reverted_after_a_revoke(net, tmp_path, 4, 5, rpc=None, regrant=True)
    assert _refused(net, 4, 5) in said
    assert "probable" not in said and "unavailable" not in said


def test_without_a_trace_the_mined_block_gives_a_probable_reason(
    net: dict[str, Any], tmp_path: Path, no_debug: EndpointSimulator
) -> None:
    said, block = _reverted_after_a_revoke(net, tmp_path, 6, 7, rpc=no_debug.url, regrant=False)
    assert f"probable reason (replayed on block {block}" in said
    assert _refused(net, 6, 7) in said and "unavailable" not in said
    assert no_debug.counts.methods["debug_traceTransaction"] == 1  # asked once, refused, not asked again


def test_when_nothing_tells_the_reason_is_unavailable_and_says_what_was_tried(
    net: dict[str, Any], tmp_path: Path, no_debug: EndpointSimulator
) -> None:
    said, block = _reverted_after_a_revoke(net, tmp_path, 8, 9, rpc=no_debug.url, regrant=True)
    assert "reason unavailable (tried: " in said
    assert "debug_traceTransaction: not offered by the endpoint" in said
    assert f"replay at block {block - 1}: no revert" in said and f"replay on block {block}: no revert" in said
    assert "InsufficientRights" not in said


def _sender(w3: Web3, net: dict[str, Any], index: int, tmp_path: Path) -> TxSender:
    calls = ChainCalls(net["diamond"], net["mor"])
    account = Account.from_key(net["accounts"][index]["privateKey"])
    journal = Journal(tmp_path / f"journal-{index}.jsonl")
    return TxSender(w3, account, journal, "t", decoder=calls.decoder, poll_interval=0.05)


def test_without_a_trace_a_revert_the_block_before_shows_is_said_as_it_is(
    net: dict[str, Any], tmp_path: Path, no_debug: EndpointSimulator
) -> None:
    """No same-block cause: the replay at the block before reverts too, and its reason is not labelled."""
    w3 = connect_all([(no_debug.url, "env:RPC_A")])
    s = _sender(w3, net, 0, tmp_path)
    cold = net["accounts"][1]["address"]
    req = ChainCalls(net["diamond"], net["mor"]).provider_register("p", cold, MOR, "h:1", "provider.register")
    with pytest.raises(TxReverted) as info:
        s.wait([s.send(req, gas=300_000)])  # a gas limit given: not estimated, so the revert is on chain
    said = str(info.value)
    assert _refused(net, 1, 0) in said and "probable" not in said


def test_the_trace_says_out_of_gas(net: dict[str, Any], tmp_path: Path) -> None:
    """Out of gas leaves no revert data and replays fine (a call has all the gas): only the trace tells."""
    s = _sender(_w3(net), net, 0, tmp_path)
    req = ChainCalls(net["diamond"], net["mor"]).approve("approve", MOR)
    with pytest.raises(TxReverted) as info:
        s.wait([s.send(req, gas=24_000)])  # a little over the intrinsic cost: none left to run
    assert "out of gas" in str(info.value) and "unavailable" not in str(info.value)

"""Faults a real chain brings (issue 16), on one devnet behind two endpoint simulators: an endpoint killed in the
middle of an apply, endpoints of two chains, a reorg that takes a mined bid post away, a transaction dropped
from the mempool, a foreign transaction taking the signer's nonce, a lagging endpoint, confirmations."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from reconciler.apply.run import ApplyOptions, apply_desired
from reconciler.chain.journal import Journal
from reconciler.chain.pool import ChainMismatch, EndpointPool
from reconciler.chain.rpc import connect_all
from reconciler.chain.sender import TxRequest, TxSender, WriterConflict
from reconciler.desired.loader import load_desired
from reconciler.devnet import local as devnet
from reconciler.devnet.anvil import Anvil
from tests.support.faults_helpers import (
    Chain,
    apply_until_converged,
    desired_yaml,
    journal_disagreements,
    journal_of,
    price,
    two_endpoints,
)
from tests.support.ports import free_port
from tests.support.rpcsim import EndpointSimulator, Limits

pytestmark = pytest.mark.devnet


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    d = tmp_path_factory.mktemp("devnet-faults")
    try:
        info, _ = devnet.up(d, port=free_port())
        yield Chain(info, d)
    finally:
        devnet.down(d)


def test_two_endpoints_on_different_chains_are_refused_before_anything_is_sent(chain: Chain, tmp_path: Path) -> None:
    eps = two_endpoints(chain, b=Limits(chain_id=8453))
    try:
        yaml = desired_yaml(tmp_path, price(Fraction(6, 1000), 0))
        desired, _ = load_desired(yaml)
        nonce = chain.w3.eth.get_transaction_count(chain.provider)
        with pytest.raises(ChainMismatch, match="not one chain") as exc:
            apply_desired(desired, eps.env(), ApplyOptions(state_dir=tmp_path / "state", confirm=lambda _p: True))
        assert "env:RPC_A on chain 31337" in str(exc.value) and "env:RPC_B on chain 8453" in str(exc.value)
        assert "not-a-real-key" not in str(exc.value)
        for sim in (eps.a, eps.b):  # nothing read past the chain ids, nothing sent
            assert set(sim.counts.methods) == {"eth_chainId"}, sim.counts.methods
        assert chain.w3.eth.get_transaction_count(chain.provider) == nonce
    finally:
        eps.stop()


def test_first_endpoint_killed_mid_apply_finishes_through_the_second(chain: Chain, tmp_path: Path) -> None:
    eps = two_endpoints(chain)
    start = chain.w3.eth.block_number + 1
    before = chain.mor_balance()
    killed = threading.Event()

    def progress(line: str) -> None:
        if line.startswith("sent ") and not killed.is_set():
            killed.set()
            eps.a.stop()  # the first endpoint dies with a transaction in flight

    try:
        yaml = desired_yaml(tmp_path, price(Fraction(6, 1000), 1))
        run = apply_until_converged(yaml, eps.env(), tmp_path / "state", progress=progress)
        assert killed.is_set() and run.attempts == 1, run.errors
        posts = chain.bid_posts(start)
        assert len(posts) == run.bid_posts_planned > 0  # no duplicate post
        assert before - chain.mor_balance() == run.mor_planned
        assert journal_disagreements(chain, journal_of(yaml, eps.env(), tmp_path / "state")) == []
        assert eps.b.counts.methods["eth_sendRawTransaction"] > 0
    finally:
        eps.stop()


def test_a_reorg_removing_a_mined_bid_post_is_posted_exactly_once_by_the_next_apply(
    chain: Chain, tmp_path: Path
) -> None:
    eps = two_endpoints(chain)
    try:
        state = tmp_path / "state"
        # the provider, its models and their bids in place at another price first, so the apply below posts only
        # the first model's bid whether or not an earlier test of this module's devnet registered them
        apply_until_converged(desired_yaml(tmp_path, price(Fraction(6, 1000), 4)), eps.env(), state)
        yaml = desired_yaml(tmp_path, price(Fraction(6, 1000), 2))
        start = chain.w3.eth.block_number + 1
        first = apply_until_converged(yaml, eps.env(), state)
        assert first.bid_posts_planned == 1
        post = chain.bid_posts(start)[-1]
        depth = chain.w3.eth.block_number - post["blockNumber"] + 1
        chain.rpc("anvil_rollback", depth)  # the block holding the bid post is gone
        assert chain.bid_posts(start) == []
        lines: list[str] = []
        again = apply_until_converged(yaml, eps.env(), state, progress=lines.append)
        assert any("left the chain" in line for line in lines), lines
        assert len(chain.bid_posts(start)) == 1  # exactly once: the same bytes, re-sent
        assert again.result is not None and again.result.final is not None and not again.result.final.pending
        assert journal_disagreements(chain, journal_of(yaml, eps.env(), state)) == []
    finally:
        eps.stop()


def _sender(chain: Chain, index: int, tmp_path: Path, **kw: object) -> tuple[TxSender, Journal]:
    account = Account.from_key(chain.info["accounts"][index]["privateKey"])
    journal = Journal(tmp_path / f"journal-{index}.jsonl")
    w3 = connect_all([(chain.info["rpcUrl"], "devnet")])
    return TxSender(w3, account, journal, plan_id="t", poll_interval=0.05, **kw), journal  # type: ignore[arg-type]


def _transfer(sender: TxSender, note: str) -> TxRequest:
    return TxRequest(action_id=f"test.transfer:{note}", action="test.transfer", to=sender.account.address, data="0x")


def test_a_dropped_transaction_is_rebroadcast_then_mined_once(chain: Chain, tmp_path: Path) -> None:
    sender, journal = _sender(chain, 3, tmp_path)
    nonce = sender.pending_nonce()
    chain.rpc("evm_setAutomine", False)
    try:
        rec = sender.send(_transfer(sender, "drop"))
        chain.rpc("anvil_dropTransaction", rec.tx_hash)  # the mempool lost it
    finally:
        chain.rpc("evm_setAutomine", True)
    lines: list[str] = []
    sender.progress = lines.append
    [done] = sender.wait([rec], timeout=20)
    assert done.tx_hash == rec.tx_hash and done.status == "mined"
    assert any("re-broadcast" in line for line in lines), lines
    assert sender.latest_nonce() == nonce + 1  # one transaction, mined once
    assert [t.status for t in journal.transactions()] == ["mined"]


def test_a_transaction_still_dropped_after_the_timeout_is_replaced_through_speed_up(
    chain: Chain, tmp_path: Path
) -> None:
    sender, journal = _sender(chain, 5, tmp_path, drop_timeout=0.0)
    chain.rpc("evm_setAutomine", False)
    try:
        rec = sender.send(_transfer(sender, "replace"))
        chain.rpc("anvil_dropTransaction", rec.tx_hash)
    finally:
        chain.rpc("evm_setAutomine", True)
    [done] = sender.wait([rec], timeout=20)
    assert done.replaces == rec.tx_hash and done.nonce == rec.nonce and done.status == "mined"
    statuses = {t.tx_hash: t.status for t in journal.transactions()}
    assert statuses == {rec.tx_hash: "replaced", done.tx_hash: "mined"}


def test_a_foreign_transaction_taking_the_nonce_stops_with_the_one_writer_message(chain: Chain, tmp_path: Path) -> None:
    sender, _journal = _sender(chain, 4, tmp_path)
    chain.rpc("evm_setAutomine", False)
    try:
        rec = sender.send(_transfer(sender, "ours"))
        chain.rpc("anvil_dropTransaction", rec.tx_hash)
        # another writer with the same key takes the nonce
        other = sender.account.sign_transaction(
            {
                "chainId": sender.chain_id,
                "nonce": rec.nonce,
                "to": sender.account.address,
                "value": 1,
                "gas": 21000,
                "gasPrice": 10 * 10**9,
            }
        )
        chain.w3.eth.send_raw_transaction(other.raw_transaction)
    finally:
        chain.rpc("evm_setAutomine", True)
    chain.rpc("evm_mine")
    with pytest.raises(WriterConflict, match="another writer uses the key"):
        sender.wait([rec], timeout=20)


def _mined_receipt(sender: TxSender, tx_hash: str, timeout: float = 20.0) -> Any:
    """Anvil's automine answers eth_sendRawTransaction before the block is sealed: the receipt may lag a moment."""
    deadline = time.monotonic() + timeout
    while (rcpt := sender.receipt(tx_hash)) is None:
        assert time.monotonic() < deadline, f"{tx_hash} not mined within {timeout} s"
        time.sleep(0.02)
    return rcpt


def test_a_receipt_counts_after_the_confirmations(chain: Chain, tmp_path: Path) -> None:
    sender, _journal = _sender(chain, 6, tmp_path, confirmations=2)
    rec = sender.send(_transfer(sender, "confirm"))
    rcpt = _mined_receipt(sender, rec.tx_hash)
    assert not sender.counted(rcpt)
    chain.rpc("anvil_mine", 2)
    assert sender.counted(rcpt)
    [done] = sender.wait([rec], timeout=20)
    assert done.block == rcpt["blockNumber"]


def test_an_endpoint_lagging_the_best_head_is_not_read(chain: Chain) -> None:
    chain.rpc("anvil_mine", 10)
    with Anvil(port=free_port()) as behind:  # the same chain id, ten and more blocks behind
        w3 = connect_all([(behind.rpc_url, "env:BEHIND"), (chain.info["rpcUrl"], "env:AHEAD")])
        pool = w3.provider
        assert isinstance(pool, EndpointPool)
        assert w3.eth.block_number == chain.w3.eth.block_number  # read from the endpoint ahead
        assert [h.lagging for h in pool.health] == [True, False]
        assert "env:BEHIND: lagging" in pool.health[0].describe()


def test_a_killed_endpoint_shows_down_by_its_label(chain: Chain) -> None:
    sim = EndpointSimulator(chain.info["rpcUrl"]).start()
    sim.stop()
    w3 = connect_all([(f"{sim.url}/v3/secret-key", "env:RPC_A"), (chain.info["rpcUrl"], "env:RPC_B")])
    assert w3.eth.chain_id == 31337
    pool = w3.provider
    assert isinstance(pool, EndpointPool)
    assert [h.up for h in pool.health] == [False, True]
    text = pool.health[0].describe()
    assert text.startswith("env:RPC_A: down") and "secret-key" not in text and "127.0.0.1" not in text
    assert Web3.is_checksum_address(chain.provider)


def test_status_and_the_watchers_metrics_show_each_endpoint_by_label(chain: Chain, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from reconciler.cli import cli
    from reconciler.watch.metrics import WatchMetrics

    eps = two_endpoints(chain)
    try:
        yaml = desired_yaml(tmp_path, price(Fraction(6, 1000), 3))
        eps.a.stop()
        out = CliRunner().invoke(cli, ["status", str(yaml), "--format", "json"], env=eps.env())
        assert out.exit_code == 0, out.output
        rows = json.loads(out.output)["endpoints"]
        assert [(r["endpoint"], r["state"]) for r in rows] == [("env:RPC_A", "down"), ("env:RPC_B", "up")]
        text = CliRunner().invoke(cli, ["status", str(yaml)], env=eps.env()).output
        assert "RPC endpoints: env:RPC_A down" in text and "env:RPC_B up at block" in text
        assert "not-a-real-key" not in text + out.output and f"{eps.a.port}" not in text + out.output
        metrics = WatchMetrics()
        metrics.endpoints_seen({r["endpoint"]: int(r["state"] == "up") for r in rows})
        page = metrics.render()
        assert 'reconcile_watch_rpc_endpoint_up{endpoint="env:RPC_A"} 0' in page
        assert 'reconcile_watch_rpc_endpoint_up{endpoint="env:RPC_B"} 1' in page
    finally:
        eps.stop()


def test_the_watchers_chain_trigger_reads_through_the_pool_in_windows_the_endpoint_allows(
    chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import queue

    from reconciler.watch import triggers
    from reconciler.watch.triggers import ChainTarget, Poller, Trigger

    eps = two_endpoints(chain, b=Limits(max_log_range=3))
    try:
        yaml = desired_yaml(tmp_path, price(Fraction(6, 1000), 5))
        since = chain.w3.eth.block_number - 10  # wider than the 3 blocks the second endpoint allows
        run = apply_until_converged(yaml, eps.env(), tmp_path / "state")
        assert run.bid_posts_planned >= 1
        eps.a.stop()  # the first endpoint is down: the poller reads through the second
        env = eps.env()
        target = ChainTarget(
            ((env["RPC_A"], "env:RPC_A"), (env["RPC_B"], "env:RPC_B")),
            chain.info["diamond"],
            chain.provider,
            chain.provider,
        )
        nonce = chain.w3.eth.get_transaction_count(chain.provider, "pending")
        for last_seen, mine, said in (
            (since, 0, "event(s) up to block"),  # the last poll saw the chain before the apply
            (chain.w3.eth.block_number, 4, "blocks since the last poll"),  # a long pause: no scan
        ):
            if mine:
                monkeypatch.setattr(triggers, "WIDE_GAP", mine - 1)  # anvil mines some 200 blocks a second
                chain.rpc("anvil_mine", mine)
            eps.b.reset_counts()
            q: queue.Queue[Trigger] = queue.Queue()
            poller = Poller(q, poll=0.05, interval=3600).start()
            try:
                poller.rebase(target, last_seen, nonce, None)
                got = q.get(timeout=20)
            finally:
                poller.stop()
            assert got.kind == "chain" and said in got.detail, got
            logs = eps.b.counts.methods["eth_getLogs"]
            assert (logs > 1 and eps.b.counts.refused_log_ranges > 0) if mine == 0 else logs == 0, eps.b.counts
    finally:
        eps.stop()

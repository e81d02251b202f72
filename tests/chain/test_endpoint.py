"""The endpoint client against a simulated hosted endpoint (tests/support/rpcsim.py) in front of a real anvil."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from web3 import Web3

from reconciler.chain.endpoint import EndpointProvider, RpcError, is_rate_limit, limit_in, retry_after
from reconciler.chain.rpc import Batch
from reconciler.devnet.anvil import Anvil, free_port
from reconciler.devnet.local import deploy_contracts, dev_accounts
from tests.support.rpcsim import EndpointSimulator, Limits

SECRET = "k3y-that-must-never-print"
HIGH = 1_000_000


def _no_sleep(_seconds: float) -> None:
    return None


def client(sim: EndpointSimulator, timeout: float = 30.0) -> Web3:
    """A fresh client (fresh learned limits: the URL differs per simulator) that does not really sleep."""
    return Web3(EndpointProvider(f"{sim.url}/v2/{SECRET}", "env:TEST_RPC", timeout, sleep=_no_sleep))


def provider(w3: Web3) -> EndpointProvider:
    p = w3.provider
    assert isinstance(p, EndpointProvider)
    return p


@pytest.fixture(scope="module")
def high_chain() -> Iterator[dict[str, Any]]:
    """anvil standing at block HIGH with the contracts deployed (their deployment logs sit just above HIGH)."""
    with Anvil(start_block=HIGH) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        accounts = dev_accounts()
        dep = deploy_contracts(w3, accounts[0].address, mint_to=[a.address for a in accounts])
        yield {"url": node.rpc_url, "w3": w3, "mor": dep.mor}


@pytest.fixture
def sim(high_chain: dict[str, Any]) -> Iterator[EndpointSimulator]:
    with EndpointSimulator(high_chain["url"]) as s:
        yield s


def test_parsing_of_limits_and_waits() -> None:
    assert limit_in("batch too large: max 100 requests") == 100
    assert limit_in("You can make eth_getLogs requests with up to a 2,000 block range") == 2000
    assert limit_in("query returned more than 10000 results") is None
    assert limit_in("You can make eth_getLogs requests with up to a 2K block range") == 2000
    assert limit_in("eth_getLogs is limited to a 10,000 range") == 10_000
    assert retry_after("0.25") == 0.25 and retry_after("2") == 2.0 and retry_after(None) is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert is_rate_limit({"code": 429, "message": "x"})
    assert is_rate_limit({"code": -32005, "message": "Your app has exceeded its compute units per second capacity"})
    assert not is_rate_limit({"code": -32005, "message": "query returned more than 10000 results"})
    assert not is_rate_limit({"code": 3, "message": "execution reverted: rate limit exceeded"})  # the contract's


@pytest.mark.parametrize("refusal", ["error-object", "http-413"])
def test_a_batch_too_large_is_split_and_the_size_that_worked_is_kept(sim: EndpointSimulator, refusal: str) -> None:
    sim.set_limits(Limits(max_batch=10, batch_refusal=refusal))
    w3 = client(sim)
    b = Batch(w3)
    for _ in range(35):
        b.add("eth_chainId", [], lambda r: int(r, 16))
    assert b.run() == [31337] * 35
    assert sim.counts.refused_batches == 1 and provider(w3).learned.batch == 10
    assert sim.counts.http_requests == 1 + 4
    before = sim.reset_counts()
    assert before.calls == 35 + 35
    for _ in range(35):
        b.add("eth_chainId", [])
    b.run()
    assert sim.counts.refused_batches == 0 and sim.counts.http_requests == 4  # remembered


def test_log_ranges_shrink_to_the_cap_and_the_result_matches_the_node(
    sim: EndpointSimulator, high_chain: dict[str, Any]
) -> None:
    w3_direct: Web3 = high_chain["w3"]
    head = w3_direct.eth.block_number
    query = {"address": high_chain["mor"]}
    want = w3_direct.eth.get_logs({**query, "fromBlock": head - 9_999, "toBlock": head})  # type: ignore[typeddict-item]
    assert len(want) >= 10  # the mints
    sim.set_limits(Limits(max_log_range=2_000))
    w3 = client(sim)
    b = Batch(w3)
    b.logs(query, head - 9_999, head)
    got = b.run()[0]
    assert [g["transactionHash"] for g in got] == ["0x" + bytes(w["transactionHash"]).hex() for w in want]
    assert provider(w3).learned.log_range == 2_000 and sim.counts.refused_log_ranges == 1
    sim.reset_counts()
    b.logs(query, head - 9_999, head)
    b.run()
    assert sim.counts.refused_log_ranges == 0 and sim.counts.methods["eth_getLogs"] == 5

    sim.set_limits(Limits(max_log_results=3))  # a result cap: bisect until every window answers
    b.logs(query, head - 9_999, head)
    got = b.run()[0]
    assert len(got) == len(want) and sim.counts.refused_log_ranges == 0


def test_429_waits_and_retries_then_every_call_is_answered(sim: EndpointSimulator) -> None:
    sim.set_limits(Limits(rate=20, burst=2))
    w3 = Web3(EndpointProvider(sim.url, "env:TEST_RPC"))  # real waits: Retry-After is sub-second here
    for _ in range(8):
        assert w3.eth.chain_id == 31337
    assert sim.counts.rate_limited > 0 and provider(w3).stats.rate_limited == sim.counts.rate_limited


def test_502s_and_cut_connections_retry_reads(sim: EndpointSimulator) -> None:
    sim.set_limits(Limits(fail_rate=0.4, fail_kinds=("502", "cut", "504"), seed=3))
    w3 = client(sim)
    for _ in range(20):
        b = Batch(w3)
        b.add("eth_blockNumber", [], lambda r: int(r, 16))
        b.add("eth_chainId", [], lambda r: int(r, 16))
        assert b.run()[1] == 31337
        assert w3.eth.chain_id == 31337
    assert sim.counts.failed > 5 and provider(w3).stats.retries == sim.counts.failed


def test_a_stalled_request_times_out_and_is_retried_once_saying_so(
    sim: EndpointSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Each timeout costs the whole timeout: one retry (not five), said as it starts, so a hung endpoint fails in
    two timeouts and a person sees why the command waits."""
    sim.set_limits(Limits(fail_rate=1.0, fail_kinds=("stall",), stall_seconds=1.0))
    w3 = client(sim, timeout=0.2)
    with caplog.at_level("WARNING", logger="reconciler.chain.endpoint"), pytest.raises(RpcError) as exc:
        w3.eth.chain_id  # noqa: B018
    assert "timed out" in str(exc.value) and "env:TEST_RPC" in str(exc.value)
    assert sim.counts.http_requests == 2
    said = [r.getMessage() for r in caplog.records]
    assert said == ["env:TEST_RPC: no answer to eth_chainId within 0.2 s; trying again (1 of 1)"], said
    assert all(SECRET not in x and str(sim.port) not in x for x in said)


def test_a_pool_leaves_a_hung_endpoint_after_a_short_chain_id_wait(
    sim: EndpointSimulator, high_chain: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.chain import pool
    from reconciler.chain.rpc import connect_all

    monkeypatch.setattr(pool, "CHAIN_ID_TIMEOUT", 0.2)  # 10 s in use; the reads keep their 5 s here
    sim.set_limits(Limits(fail_rate=1.0, fail_kinds=("stall",), stall_seconds=3.0))
    w3 = connect_all([(f"{sim.url}/v2/{SECRET}", "env:HUNG"), (high_chain["url"], "env:GOOD")], timeout=5.0)
    assert w3.eth.block_number >= HIGH  # read from the second endpoint
    assert sim.counts.http_requests == 2  # the chain id, tried twice within 0.2 s each, then left
    text = w3.provider.health[0].describe()  # type: ignore[attr-defined]
    assert text.startswith("env:HUNG: down") and SECRET not in text


def test_a_transaction_is_never_resent_after_a_502_or_a_cut_but_is_after_a_429(
    sim: EndpointSimulator, high_chain: dict[str, Any]
) -> None:
    acct = dev_accounts()[5]
    direct: Web3 = high_chain["w3"]

    def signed(nonce: int) -> str:
        tx = {"chainId": 31337, "nonce": nonce, "to": acct.address, "value": 1, "gas": 21_000, "gasPrice": 10**10}
        return "0x" + bytes(direct.eth.account.sign_transaction(tx, acct.private_key).raw_transaction).hex()

    nonce = direct.eth.get_transaction_count(acct.address)
    for kind in ("502", "cut"):
        sim.set_limits(Limits(fail_rate=1.0, fail_kinds=(kind,)))
        sim.reset_counts()
        with pytest.raises(RpcError) as exc:
            client(sim).eth.send_raw_transaction(signed(nonce))
        assert "not retried" in str(exc.value) and SECRET not in str(exc.value)
        assert sim.counts.http_requests == 1
    sim.set_limits(Limits(rate=1, burst=1))
    w3 = Web3(EndpointProvider(sim.url, "env:TEST_RPC"))
    w3.eth.chain_id  # noqa: B018  (takes the only token: the send is refused with 429 first)
    sim.reset_counts()
    tx_hash = w3.eth.send_raw_transaction(signed(nonce))
    assert sim.counts.rate_limited >= 1 and sim.counts.methods["eth_sendRawTransaction"] >= 2
    assert direct.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
    assert direct.eth.get_transaction_count(acct.address) == nonce + 1


def test_errors_name_the_label_never_the_url() -> None:
    port = free_port()  # nothing listens here
    w3 = Web3(EndpointProvider(f"http://127.0.0.1:{port}/v2/{SECRET}", "env:TEST_RPC", 1.0, sleep=_no_sleep))
    with pytest.raises(RpcError) as exc:
        w3.eth.block_number  # noqa: B018
    text = str(exc.value) + repr(w3.provider)
    assert SECRET not in text and str(port) not in text and "env:TEST_RPC" in text
    b = Batch(w3)
    b.add("eth_chainId", [])
    with pytest.raises(RpcError) as exc:
        b.run()
    assert SECRET not in str(exc.value) and "env:TEST_RPC" in str(exc.value)

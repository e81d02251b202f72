"""`reconcile apply` on a real devnet: converge, one repost per price change, crash safety, stale plans,
and refusals that stop before any transaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from web3 import Web3

from reconciler.desired.schema import load_schema
from reconciler.devnet import local as devnet
from reconciler.devnet.anvil import free_port
from tests.support.apply_helpers import MOR, DevnetCase, example_in


@pytest.fixture
def case(tmp_path: Path) -> Iterator[DevnetCase]:
    d = tmp_path / "devnet"
    work = tmp_path / "work"
    work.mkdir()
    try:
        info, _ = devnet.up(d, port=free_port())
        yield DevnetCase(info=info, dir=d, work=work, yaml=example_in(work), state=tmp_path / "state")
    finally:
        devnet.down(d)


def apply(case: DevnetCase, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return case.reconcile(
        "apply", str(case.yaml), "--auto-approve", "--state-dir", str(case.state), *extra, extra_env=env
    )


def plan_exit(case: DevnetCase) -> int:
    return case.reconcile("plan", str(case.yaml), "--detailed-exitcode").returncode


def test_apply_from_nothing_converges_and_a_price_change_posts_exactly_one_bid(case: DevnetCase) -> None:
    start = case.mor_balance()
    r = apply(case)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "converged" in r.stdout and "6 transaction(s) sent" in r.stdout
    assert "fees 0.6 MOR, stake 0.4 MOR" in r.stdout
    assert plan_exit(case) == 0
    assert start - case.mor_balance() == 10 * MOR // 10  # 2 bid fees + 0.2 + 2 x 0.1 stake, nothing more

    written = case.work / "forwarder-models.json"
    assert written.stat().st_mode & 0o777 == 0o600
    doc = json.loads(written.read_text())
    jsonschema.validate(doc, load_schema("models-config.schema.json"))
    assert {m["apiKey"] for m in doc["models"]} == {"demo-upstream-key"}
    assert "demo-upstream-key" not in r.stdout + r.stderr

    market = case.market()
    old_bid = market.functions.getProviderActiveBids(case.provider, 0, 1).call()[0][0]
    posts_before = len(case.bid_posts())
    before = case.mor_balance()
    case.edit('pricePerSecond: "0.006 MOR"', 'pricePerSecond: "0.007 MOR"')
    r = apply(case)
    assert r.returncode == 0, r.stdout + r.stderr
    posts = case.bid_posts()
    assert len(posts) == posts_before + 1
    assert before - case.mor_balance() == 3 * MOR // 10  # exactly one bid fee
    assert not market.functions.isBidActive(old_bid).call()
    assert plan_exit(case) == 0

    r = apply(case)  # nothing left to do
    assert r.returncode == 0 and "nothing to do" in r.stdout
    assert len(case.bid_posts()) == posts_before + 1


@pytest.mark.parametrize(
    "crash_at",
    ["before-send:1", "after-send:2", "after-receipt:1", "before-send:5", "after-send:5", "after-receipt:3"],
)
def test_killed_apply_resumes_without_double_posts_or_extra_fees(case: DevnetCase, crash_at: str) -> None:
    start = case.mor_balance()
    killed = apply(case, env={"RECONCILE_TEST_CRASH_AT": crash_at})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    r = apply(case)
    assert r.returncode == 0, r.stdout + r.stderr
    assert plan_exit(case) == 0
    assert len(case.bid_posts()) == 2  # one per model, never a second post
    assert start - case.mor_balance() == MOR  # fees 0.6 + stake 0.4, charged once


def test_saved_plan_applies_unchanged_and_is_refused_when_stale(case: DevnetCase, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    r = case.reconcile("plan", str(case.yaml), "--out", str(saved))
    assert r.returncode == 0, r.stderr
    r = case.reconcile("apply", "--plan", str(saved), "--auto-approve", "--state-dir", str(case.state))
    assert r.returncode == 0, r.stdout + r.stderr

    case.edit('pricePerSecond: "0.006 MOR"', 'pricePerSecond: "0.008 MOR"')
    r = case.reconcile("plan", str(case.yaml), "--out", str(saved))
    # someone changes the chain behind the saved plan: the provider deletes its chat bid by hand
    w3 = case.w3
    acct = w3.eth.account.from_key(case.key(1))
    market = case.market()
    bids, _ = market.functions.getProviderActiveBids(case.provider, 0, 10).call()
    tx = market.functions.deleteModelBid(bids[0]).build_transaction(
        {"from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address)}
    )
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction))
    posts = len(case.bid_posts())
    r = case.reconcile("apply", "--plan", str(saved), "--auto-approve", "--state-dir", str(case.state))
    assert r.returncode == 1
    assert "stale plan" in r.stderr
    assert len(case.bid_posts()) == posts


def test_saved_plan_for_another_chain_is_refused(case: DevnetCase, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert case.reconcile("plan", str(case.yaml), "--out", str(saved)).returncode == 0
    data = json.loads(saved.read_text())
    data["network"]["chainId"] = 8453
    saved.write_text(json.dumps(data))
    r = case.reconcile("apply", "--plan", str(saved), "--auto-approve", "--state-dir", str(case.state))
    assert r.returncode == 1 and "saved plan is for chain 8453" in r.stderr


def nonce(case: DevnetCase, index: int) -> int:
    return int(case.w3.eth.get_transaction_count(case.info["accounts"][index]["address"]))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('maxSpendPerApply: "2 MOR"', 'maxSpendPerApply: "0.5 MOR"', "more than policy.maxSpendPerApply"),
        ('stake: "0.2 MOR"  ', 'stake: "20000 MOR"  ', "the provider wallet holds"),
    ],
    ids=["budget", "balance"],
)
def test_refusals_stop_before_any_transaction(case: DevnetCase, old: str, new: str, message: str) -> None:
    case.edit(old, new)
    r = apply(case)
    assert r.returncode == 1
    assert "refusing to apply; nothing was sent" in r.stderr and message in r.stderr
    assert nonce(case, 1) == 0


def test_delegate_without_rights_or_allowance_stops_before_any_transaction(case: DevnetCase) -> None:
    delegate = case.info["accounts"][2]["address"]
    case.edit(
        'address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"\n  privateKey',
        f'address: "{delegate}"\n  privateKey',
    )
    r = apply(case, env={"DEVNET_PROVIDER_KEY": case.key(2)})
    assert r.returncode == 1
    assert "nothing was sent" in r.stderr
    assert "delegation" in r.stderr.lower() and "reconcile approve" in r.stderr
    assert nonce(case, 2) == 0 and nonce(case, 1) == 0


def test_wrong_key_for_the_signer_address_is_refused(case: DevnetCase) -> None:
    r = apply(case, env={"DEVNET_PROVIDER_KEY": case.key(3)})
    assert r.returncode == 1 and "refusing to act" in r.stderr
    assert case.key(3)[4:20] not in r.stderr + r.stdout


def test_no_terminal_without_auto_approve_is_refused(case: DevnetCase) -> None:
    r = case.reconcile("apply", str(case.yaml), "--state-dir", str(case.state))
    assert r.returncode == 1 and "--yes" in r.stderr
    assert nonce(case, 1) == 0


def test_a_live_lock_holder_blocks_a_second_apply(case: DevnetCase) -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = case.state / f"31337-{case.provider.lower()}" / "apply.lock"
        lock.parent.mkdir(parents=True)
        started = time.time()  # as an apply writes it: after its process started (an older lock is a reused pid's)
        lock.write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename, "startedAt": started}))
        r = apply(case)
        assert r.returncode == 1 and "another apply is running" in r.stderr
        holder.kill()
        holder.wait()
        r = apply(case)  # the holder is gone: its lock is taken over
        assert r.returncode == 0, r.stderr
        assert "took over the lock" in r.stderr
    finally:
        holder.kill()
        holder.wait()


def test_journal_records_every_transaction(case: DevnetCase) -> None:
    assert apply(case).returncode == 0
    lines = (case.state / f"31337-{case.provider.lower()}" / "journal.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    signed = [r for r in records if r["status"] == "signed"]
    mined = [r for r in records if r["status"] == "mined"]
    assert len(signed) == len(mined) == 6
    assert {r["tx_hash"] for r in signed} == {r["tx_hash"] for r in mined}
    assert all(Web3.keccak(hexstr=r["raw"]).hex().removeprefix("0x") == r["tx_hash"].removeprefix("0x") for r in signed)
    assert len({r["plan_id"] for r in signed}) == 1


def test_independent_writes_are_pipelined_into_one_block(case: DevnetCase) -> None:
    # mine a block every second, like a real chain: only pipelined transactions can share a block
    case.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    case.w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]
    r = apply(case)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = (case.state / f"31337-{case.provider.lower()}" / "journal.jsonl").read_text().splitlines()
    mined = [json.loads(line) for line in lines if json.loads(line)["status"] == "mined"]
    blocks = {kind: {m["block"] for m in mined if m["action"] == kind} for kind in ("model.register", "bid.post")}
    assert len(blocks["model.register"]) == 1  # both models in one block
    assert len(blocks["bid.post"]) == 1  # both bids in one block
    assert min(blocks["bid.post"]) > max(blocks["model.register"])  # bids only after their models

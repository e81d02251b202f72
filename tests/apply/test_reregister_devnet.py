"""Money moved is the plan's (issue 27): a provider that earned in its current period and was deregistered keeps
`stake - refund = limitPeriodEarned` as its stake; registering it again sends only the top-up the plan shows,
in both signing modes (the provider's own key, and a delegate hot key with the provider wallet's allowance).
The wallet's MOR delta of every apply here is checked against apply's printed figures by the autouse fixture
in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.devnet import buyer as sessions_devnet
from reconciler.devnet import local as devnet
from reconciler.devnet import unlocked
from reconciler.pipeline import make_plan
from reconciler.plan.model import ActionKind
from tests.support.apply_helpers import MOR, DevnetCase, example_in
from tests.support.ports import free_port

pytestmark = pytest.mark.devnet

BUYER, HOT = 5, 6
STAKE = 3 * MOR  # declared; a five-minute session at 0.006 MOR/s earns 1.8 MOR of it
TEARDOWN = [
    ("provider:\n", "provider:\n  absent: true\n"),
    ("    upstreamModel: llama-3.3-70b\n", "    upstreamModel: llama-3.3-70b\n    absent: true\n"),
    ("    upstreamModel: text-embedding-3-small\n", "    upstreamModel: text-embedding-3-small\n    absent: true\n"),
    ("policy:\n", "policy:\n  allowEmpty: true\n"),
]


@pytest.fixture
def case(tmp_path: Path) -> Iterator[DevnetCase]:
    d = tmp_path / "devnet"
    work = tmp_path / "work"
    work.mkdir()
    try:
        info, _ = devnet.up(d, port=free_port())
        case = DevnetCase(info=info, dir=d, work=work, yaml=example_in(work), state=tmp_path / "state")
        case.edit('  stake: "0.2 MOR"  ', '  stake: "3 MOR"    ')
        case.edit('maxSpendPerApply: "2 MOR"', 'maxSpendPerApply: "10 MOR"')
        yield case
    finally:
        devnet.down(d)


def _as_delegate(case: DevnetCase) -> dict[str, str]:
    """Sign with a hot key holding the provider's rights; the provider wallet approves (`reconcile approve`)."""
    hot = case.info["accounts"][HOT]
    case.edit(
        '  address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"\n  privateKey',
        f'  address: "{hot["address"]}"\n  privateKey',
    )
    case.edit("privateKey: env:DEVNET_PROVIDER_KEY", "privateKey: env:HOT_KEY")
    registry = case.w3.eth.contract(address=case.info["delegateRegistry"], abi=load_artifact("DelegateRegistry").abi)
    for right in ("provider", "model", "marketplace"):
        rights = Web3.keccak(text=f"delegation.rules.{right}")
        fn = registry.functions.delegateContract(hot["address"], case.info["diamond"], rights, True)
        unlocked.send(case.w3, fn, case.provider)
    return {"HOT_KEY": hot["privateKey"], "COLD": case.key(1)}


def _apply(case: DevnetCase, env: dict[str, str], delegate: bool) -> str:
    if delegate:  # the provider wallet approves exactly what the plan spends, as an operator would
        r = case.reconcile(
            "approve", str(case.yaml), "--yes", "--key-ref", "env:COLD", "--state-dir", str(case.state), extra_env=env
        )
        assert r.returncode == 0, r.stdout + r.stderr
    r = case.reconcile("apply", str(case.yaml), "--auto-approve", "--state-dir", str(case.state), extra_env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _provider(case: DevnetCase) -> tuple[int, int, bool]:
    """(stake, limitPeriodEarned, isDeleted) on chain."""
    p = case.market().functions.getProvider(case.provider).call()
    return int(p[1]), int(p[4]), bool(p[5])


@pytest.mark.parametrize("mode", ["provider", "delegate"])
def test_reregistering_after_earning_sends_only_the_planned_top_up(case: DevnetCase, mode: str) -> None:
    delegate = mode == "delegate"
    env = _as_delegate(case) if delegate else {}
    declared = case.yaml.read_text()
    _apply(case, env, delegate)
    assert _provider(case) == (STAKE, 0, False)

    # a buyer's five-minute session on the chat bid ends and is closed: the provider earns in its period
    market, w3 = case.market(), case.w3
    bids, _ = market.functions.getProviderActiveBids(case.provider, 0, 10).call()
    chat = next(b for b in bids if market.functions.getBid(b).call()[2] == 6 * MOR // 1000)
    buyer = case.info["accounts"][BUYER]["address"]
    stake = sessions_devnet.stake_for_duration(w3, case.info["diamond"], chat, 300)
    session = sessions_devnet.open_session(w3, case.info["diamond"], buyer, case.key(1), chat, stake)
    w3.provider.make_request("evm_increaseTime", [session.ends_at - session.opened_at + 1])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    sessions_devnet.close_session(w3, case.info["diamond"], buyer, session.session_id, case.key(1))
    _, earned, _ = _provider(case)
    assert 0 < earned < STAKE

    # teardown: the deregistration refunds the stake less what was earned, which stays as the provider's stake
    for old, new in TEARDOWN:
        case.edit(old, new)
    _apply(case, env, delegate)
    assert _provider(case) == (earned, earned, True)

    # declared again: the plan tops the stake up to the declared one, and apply sends exactly that
    case.yaml.write_text(declared)
    _, plan = make_plan(case.yaml, case.env(**env))
    register = next(a for a in plan.pending if a.kind is ActionKind.PROVIDER_REGISTER)
    assert register.cost.stake == STAKE - earned
    before = case.mor_balance()
    _apply(case, env, delegate)
    assert _provider(case)[0] == STAKE  # not the declared stake on top of what was kept
    assert before - case.mor_balance() == plan.summary().mor_out

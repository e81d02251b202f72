"""Model registry: id derivation, update in place with added stake, minimums, revive, deregister, pagination."""

from __future__ import annotations

from web3 import Web3

from tests.support.contract_helpers import MOR, Chain

BASE = bytes.fromhex("ab" * 32)
CID = bytes.fromhex("cd" * 32)


def model_id(owner: str, base: bytes) -> bytes:
    return Web3.solidity_keccak(["address", "bytes32"], [owner, base])


def test_model_id_is_keccak_of_owner_and_base_id(chain: Chain) -> None:
    owner = chain.accounts[2]
    expected = model_id(owner, BASE)
    assert expected == Web3.keccak(bytes.fromhex(owner[2:]) + BASE)  # 20 bytes then 32 bytes, packed
    assert bytes(chain.market.functions.getModelId(owner, BASE).call()) == expected
    assert chain.register_model(owner, BASE) == expected


def test_register_pulls_stake_and_records_the_model(chain: Chain) -> None:
    owner, stake = chain.accounts[2], chain.params.model_min_stake
    chain.approve(owner, stake)
    before = chain.balance(owner)
    fn = chain.market.functions.modelRegister(owner, BASE, CID, 7, stake, "llama-3", ["llm", "fast"])
    r = chain.tx(fn, owner)
    mid = model_id(owner, BASE)
    assert r.events == [
        ("Transfer", {"from": owner, "to": chain.market.address, "value": stake}),
        ("ModelRegisteredUpdated", {"owner": owner, "modelId": mid}),
    ]
    assert chain.balance(owner) == before - stake
    got = chain.market.functions.getModel(mid).call()
    assert tuple(got) == (CID, 7, stake, owner, "llama-3", ["llm", "fast"], r.timestamp, False)
    assert chain.market.functions.getIsModelActive(mid).call()
    assert chain.market.functions.getModelIds(0, 10).call() == [[mid], 1]
    assert chain.market.functions.getActiveModelIds(0, 10).call() == [[mid], 1]


def test_reregister_updates_in_place_and_adds_stake(chain: Chain) -> None:
    owner, stake = chain.accounts[2], chain.params.model_min_stake
    mid = chain.register_model(owner, BASE, stake, ["llm"])
    created = chain.market.functions.getModel(mid).call()[6]
    chain.approve(owner, MOR)
    chain.tx(chain.market.functions.modelRegister(owner, BASE, CID, 9, MOR, "renamed", ["embedding"]), owner)
    assert tuple(chain.market.functions.getModel(mid).call()) == (
        CID,
        9,
        stake + MOR,
        owner,
        "renamed",
        ["embedding"],
        created,
        False,
    )
    assert chain.market.functions.getModelIds(0, 10).call() == [[mid], 1]


def test_stake_too_low_reports_the_new_total_and_the_minimum(chain: Chain) -> None:
    owner, lo = chain.accounts[2], chain.params.model_min_stake
    chain.approve(owner, lo)
    reg = chain.market.functions.modelRegister
    assert chain.error(reg(owner, BASE, CID, 0, lo - 1, "m", []), owner) == ("ModelStakeTooLow", (lo - 1, lo))
    chain.register_model(owner, BASE, lo)
    chain.tx(chain.market.functions.modelSetMinStake(5 * lo), chain.owner)
    assert chain.error(reg(owner, BASE, CID, 0, lo, "m", []), owner) == ("ModelStakeTooLow", (2 * lo, 5 * lo))
    # without allowance the token reverts (the stake check passes first)
    chain.approve(owner, 0)
    fn = reg(owner, BASE, CID, 0, 4 * lo, "m", [])
    assert chain.error(fn, owner) == ("ERC20InsufficientAllowance", (chain.market.address, 0, 4 * lo))


def test_deregister_refunds_everything_and_revive_keeps_the_id(chain: Chain) -> None:
    owner, lo = chain.accounts[2], chain.params.model_min_stake
    mid = chain.register_model(owner, BASE, lo + MOR)
    before = chain.balance(owner)
    r = chain.tx(chain.market.functions.modelDeregister(mid), owner)
    assert r.events == [
        ("Transfer", {"from": chain.market.address, "to": owner, "value": lo + MOR}),
        ("ModelDeregistered", {"owner": owner, "modelId": mid}),
    ]
    assert chain.balance(owner) == before + lo + MOR
    got = chain.market.functions.getModel(mid).call()
    assert (got[2], got[7]) == (0, True)
    assert not chain.market.functions.getIsModelActive(mid).call()
    assert chain.market.functions.getActiveModelIds(0, 10).call() == [[], 0]
    assert chain.market.functions.getModelIds(0, 10).call() == [[mid], 1]  # every model ever
    assert chain.error(chain.market.functions.modelDeregister(mid), owner) == ("ModelHasAlreadyDeregistered", ())

    assert chain.register_model(owner, BASE, lo) == mid
    got = chain.market.functions.getModel(mid).call()
    assert (got[2], got[7]) == (lo, False)
    assert chain.market.functions.getActiveModelIds(0, 10).call() == [[mid], 1]
    assert chain.market.functions.getModelIds(0, 10).call() == [[mid], 1]


def test_deregister_refused_while_a_bid_is_active(chain: Chain) -> None:
    owner, p = chain.accounts[2], chain.accounts[1]
    mid = chain.register_model(owner, BASE)
    chain.register_provider(p)
    bid, _ = chain.post_bid(p, mid)
    assert chain.error(chain.market.functions.modelDeregister(mid), owner) == ("ModelHasActiveBids", ())
    chain.tx(chain.market.functions.deleteModelBid(bid), p)
    chain.tx(chain.market.functions.modelDeregister(mid), owner)


def test_unknown_or_foreign_model_is_refused_as_missing_rights(chain: Chain) -> None:
    owner, other = chain.accounts[2], chain.accounts[6]
    unknown = model_id(other, BASE)
    fn = chain.market.functions.modelDeregister(unknown)
    assert chain.error(fn, other) == ("InsufficientRightsForOperation", ("0x" + "00" * 20, other))
    mid = chain.register_model(owner, BASE)
    assert chain.error(chain.market.functions.modelDeregister(mid), other) == (
        "InsufficientRightsForOperation",
        (owner, other),
    )
    reg = chain.market.functions.modelRegister(owner, BASE, CID, 0, 0, "m", [])
    assert chain.error(reg, other) == ("InsufficientRightsForOperation", (owner, other))


def test_model_pagination(chain: Chain) -> None:
    owner = chain.accounts[2]
    ids = [chain.register_model(owner, bytes([i]) * 32) for i in range(1, 5)]
    assert chain.market.functions.getModelIds(1, 2).call() == [ids[1:3], 4]
    assert chain.market.functions.getActiveModelIds(3, 5).call() == [ids[3:], 4]
    assert chain.market.functions.getActiveModelIds(4, 5).call() == [[], 4]
    chain.tx(chain.market.functions.modelDeregister(ids[0]), owner)
    assert chain.market.functions.getModelIds(0, 10).call() == [ids, 4]
    items, total = chain.market.functions.getActiveModelIds(0, 10).call()
    assert (sorted(items), total) == (sorted(ids[1:]), 3)

"""DelegateRegistry: delegate.xyz v2's wallet-wide and per-contract delegations, hashes and checks."""

from __future__ import annotations

from web3 import Web3

from tests.support.contract_helpers import ZERO, Chain

RIGHT_A = Web3.keccak(text="delegation.rules.provider")
RIGHT_B = Web3.keccak(text="delegation.rules.model")
EMPTY = b"\x00" * 32


def v2_hash(kind: int, types: list[str], values: list[object]) -> bytes:
    """delegate.xyz v2: keccak256(abi.encodePacked(...)) shifted left one byte, the type in the last byte."""
    digest = int.from_bytes(Web3.solidity_keccak(types, values), "big")
    return (((digest << 8) | kind) % 2**256).to_bytes(32, "big")


def test_delegate_contract_returns_the_v2_hash_and_emits(chain: Chain) -> None:
    cold, hot, target = chain.accounts[3], chain.accounts[4], chain.market.address
    fn = chain.registry.functions.delegateContract(hot, target, RIGHT_A, True)
    expected = v2_hash(2, ["bytes32", "address", "address", "address"], [RIGHT_A, cold, hot, target])
    assert bytes(fn.call({"from": cold})) == expected
    r = chain.tx(fn, cold)
    assert r.events == [
        ("DelegateContract", {"from": cold, "to": hot, "contract_": target, "rights": RIGHT_A, "enable": True})
    ]


def test_delegate_all_returns_the_v2_hash_and_emits(chain: Chain) -> None:
    cold, hot = chain.accounts[3], chain.accounts[4]
    fn = chain.registry.functions.delegateAll(hot, EMPTY, True)
    assert bytes(fn.call({"from": cold})) == v2_hash(1, ["bytes32", "address", "address"], [EMPTY, cold, hot])
    r = chain.tx(fn, cold)
    assert r.events == [("DelegateAll", {"from": cold, "to": hot, "rights": EMPTY, "enable": True})]


def test_specific_rights_cover_only_themselves_and_only_that_contract(chain: Chain) -> None:
    cold, hot, target, other = chain.accounts[3], chain.accounts[4], chain.market.address, chain.mor.address
    check = chain.registry.functions.checkDelegateForContract
    chain.tx(chain.registry.functions.delegateContract(hot, target, RIGHT_A, True), cold)
    assert check(hot, cold, target, RIGHT_A).call()
    assert not check(hot, cold, target, RIGHT_B).call()
    assert not check(hot, cold, target, EMPTY).call()  # asking for "everything" needs an empty-rights delegation
    assert not check(hot, cold, other, RIGHT_A).call()
    assert not check(cold, hot, target, RIGHT_A).call()  # direction matters
    assert not chain.registry.functions.checkDelegateForAll(hot, cold, RIGHT_A).call()
    chain.tx(chain.registry.functions.delegateContract(hot, target, RIGHT_A, False), cold)
    assert not check(hot, cold, target, RIGHT_A).call()


def test_empty_rights_cover_every_right_and_all_covers_every_contract(chain: Chain) -> None:
    cold, hot, target = chain.accounts[3], chain.accounts[4], chain.market.address
    check = chain.registry.functions.checkDelegateForContract
    chain.tx(chain.registry.functions.delegateContract(hot, target, EMPTY, True), cold)
    assert all(check(hot, cold, target, r).call() for r in (RIGHT_A, RIGHT_B, EMPTY))
    assert not check(hot, cold, chain.mor.address, RIGHT_A).call()

    chain.tx(chain.registry.functions.delegateAll(chain.accounts[5], RIGHT_B, True), cold)
    assert check(chain.accounts[5], cold, chain.mor.address, RIGHT_B).call()
    assert not check(chain.accounts[5], cold, chain.mor.address, RIGHT_A).call()
    assert chain.registry.functions.checkDelegateForAll(chain.accounts[5], cold, RIGHT_B).call()
    chain.tx(chain.registry.functions.delegateAll(chain.accounts[5], RIGHT_B, False), cold)
    assert not check(chain.accounts[5], cold, chain.mor.address, RIGHT_B).call()


def test_the_zero_address_never_delegates(chain: Chain) -> None:
    check = chain.registry.functions.checkDelegateForContract
    assert not check(chain.accounts[4], ZERO, chain.market.address, EMPTY).call()
    assert not chain.registry.functions.checkDelegateForAll(chain.accounts[4], ZERO, EMPTY).call()

"""MorToken: an ERC-20 that reverts with OpenZeppelin v5's custom errors and that only its owner mints."""

from __future__ import annotations

from tests.support.contract_helpers import MOR, ZERO, Chain

MAX = 2**256 - 1


def test_metadata_owner_and_minted_supply(chain: Chain) -> None:
    f = chain.mor.functions
    assert (f.name().call(), f.symbol().call(), f.decimals().call()) == ("Morpheus", "MOR", 18)
    assert f.owner().call() == chain.owner
    assert f.totalSupply().call() == 10 * 10_000 * MOR
    assert chain.balance(chain.accounts[5]) == 10_000 * MOR


def test_mint_is_owner_only_and_refuses_the_zero_address(chain: Chain) -> None:
    a = chain.accounts[3]
    r = chain.tx(chain.mor.functions.mint(a, 7), chain.owner)
    assert r.events == [("Transfer", {"from": ZERO, "to": a, "value": 7})]
    assert chain.balance(a) == 10_000 * MOR + 7
    assert chain.error(chain.mor.functions.mint(a, 1), a) == ("OwnableUnauthorizedAccount", (a,))
    assert chain.error(chain.mor.functions.mint(ZERO, 1), chain.owner) == ("ERC20InvalidReceiver", (ZERO,))


def test_transfer_moves_balance_and_reports_shortfalls(chain: Chain) -> None:
    a, b = chain.accounts[3], chain.accounts[4]
    r = chain.tx(chain.mor.functions.transfer(b, 5 * MOR), a)
    assert r.events == [("Transfer", {"from": a, "to": b, "value": 5 * MOR})]
    assert (chain.balance(a), chain.balance(b)) == (9_995 * MOR, 10_005 * MOR)
    too_much = 20_000 * MOR
    assert chain.error(chain.mor.functions.transfer(b, too_much), a) == (
        "ERC20InsufficientBalance",
        (a, 9_995 * MOR, too_much),
    )
    assert chain.error(chain.mor.functions.transfer(ZERO, 1), a) == ("ERC20InvalidReceiver", (ZERO,))


def test_allowance_is_spent_except_when_it_is_max(chain: Chain) -> None:
    holder, spender, to = chain.accounts[3], chain.accounts[4], chain.accounts[5]
    f = chain.mor.functions
    r = chain.tx(f.approve(spender, 10), holder)
    assert r.events == [("Approval", {"owner": holder, "spender": spender, "value": 10})]
    r = chain.tx(f.transferFrom(holder, to, 4), spender)
    assert r.names() == ["Transfer"]  # OZ v5: spending an allowance emits no Approval
    assert f.allowance(holder, spender).call() == 6
    assert chain.error(f.transferFrom(holder, to, 7), spender) == ("ERC20InsufficientAllowance", (spender, 6, 7))

    chain.tx(f.approve(spender, MAX), holder)
    chain.tx(f.transferFrom(holder, to, 1_000), spender)
    assert f.allowance(holder, spender).call() == MAX


def test_approve_and_transfer_from_refuse_the_zero_address(chain: Chain) -> None:
    a = chain.accounts[3]
    assert chain.error(chain.mor.functions.approve(ZERO, 1), a) == ("ERC20InvalidSpender", (ZERO,))
    # a zero-value pull from 0x0 passes the allowance check and then hits the sender check
    assert chain.error(chain.mor.functions.transferFrom(ZERO, a, 0), a) == ("ERC20InvalidSender", (ZERO,))
    # ERC20InvalidApprover exists for ABI parity; an external call can never approve from 0x0
    assert any(i.get("name") == "ERC20InvalidApprover" for i in chain.mor.abi)


def test_ownership_transfer(chain: Chain) -> None:
    new = chain.accounts[2]
    f = chain.mor.functions
    assert chain.error(f.transferOwnership(ZERO), chain.owner) == ("OwnableInvalidOwner", (ZERO,))
    assert chain.error(f.transferOwnership(new), new) == ("OwnableUnauthorizedAccount", (new,))
    r = chain.tx(f.transferOwnership(new), chain.owner)
    assert r.events == [("OwnershipTransferred", {"previousOwner": chain.owner, "newOwner": new})]
    chain.tx(f.mint(new, 1), new)
    assert chain.error(f.mint(new, 1), chain.owner) == ("OwnableUnauthorizedAccount", (chain.owner,))

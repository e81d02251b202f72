"""Provider registry: stake added on re-register, minimums, revive, deregister order and refunds, pagination."""

from __future__ import annotations

from tests.support.contract_helpers import MOR, ZERO, Chain

YEAR = 365 * 24 * 3600


def test_register_pulls_stake_and_records_the_provider(chain: Chain) -> None:
    p = chain.accounts[1]
    stake = chain.params.provider_min_stake
    before = chain.balance(p)
    r = chain.register_provider(p, stake, "node.example:3333")
    assert r.events == [
        ("Transfer", {"from": p, "to": chain.market.address, "value": stake}),
        ("ProviderRegistered", {"provider": p}),
    ]
    assert chain.balance(p) == before - stake
    assert chain.balance(chain.market.address) == stake
    got = chain.market.functions.getProvider(p).call()
    assert tuple(got) == ("node.example:3333", stake, r.timestamp, r.timestamp + YEAR, 0, False)
    assert chain.market.functions.getIsProviderActive(p).call()
    assert chain.market.functions.getActiveProviders(0, 10).call() == [[p], 1]


def test_reregister_adds_stake_and_overwrites_the_endpoint(chain: Chain) -> None:
    p = chain.accounts[1]
    first = chain.register_provider(p, chain.params.provider_min_stake, "a.example:1")
    chain.register_provider(p, MOR, "b.example:2")
    chain.register_provider(p, 0, "c.example:3")  # zero amount: no transfer, still fine above the minimum
    endpoint, stake, created, *_ = chain.market.functions.getProvider(p).call()
    assert (endpoint, stake, created) == ("c.example:3", chain.params.provider_min_stake + MOR, first.timestamp)
    assert chain.market.functions.getActiveProviders(0, 10).call() == [[p], 1]


def test_stake_too_low_reports_the_new_total_and_the_minimum(chain: Chain) -> None:
    p, lo = chain.accounts[1], chain.params.provider_min_stake
    chain.approve(p, lo)
    reg = chain.market.functions.providerRegister
    assert chain.error(reg(p, lo - 1, "x:1"), p) == ("ProviderStakeTooLow", (lo - 1, lo))
    chain.register_provider(p, lo)
    chain.tx(chain.market.functions.providerSetMinStake(3 * lo), chain.owner)
    chain.approve(p, lo)
    assert chain.error(reg(p, lo, "x:1"), p) == ("ProviderStakeTooLow", (2 * lo, 3 * lo))  # total, not amount


def test_register_without_allowance_reverts_with_the_token_error(chain: Chain) -> None:
    p, stake = chain.accounts[1], chain.params.provider_min_stake
    fn = chain.market.functions.providerRegister(p, stake, "x:1")
    assert chain.error(fn, p) == ("ERC20InsufficientAllowance", (chain.market.address, 0, stake))


def test_deregister_refunds_the_stake_and_revive_starts_from_zero(chain: Chain) -> None:
    p, lo = chain.accounts[1], chain.params.provider_min_stake
    first = chain.register_provider(p, lo + MOR)
    before = chain.balance(p)
    r = chain.tx(chain.market.functions.providerDeregister(p), p)
    assert r.events == [
        ("Transfer", {"from": chain.market.address, "to": p, "value": lo + MOR}),
        ("ProviderDeregistered", {"provider": p}),
    ]
    assert chain.balance(p) == before + lo + MOR
    got = chain.market.functions.getProvider(p).call()
    assert (got[1], got[5]) == (0, True)
    assert not chain.market.functions.getIsProviderActive(p).call()
    assert chain.market.functions.getActiveProviders(0, 10).call() == [[], 0]

    chain.approve(p, lo)
    assert chain.error(chain.market.functions.providerRegister(p, 0, "x:1"), p) == ("ProviderStakeTooLow", (0, lo))
    chain.register_provider(p, lo, "back.example:1")
    endpoint, stake, created, _, _, deleted = chain.market.functions.getProvider(p).call()
    assert (endpoint, stake, created, deleted) == ("back.example:1", lo, first.timestamp, False)
    assert chain.market.functions.getIsProviderActive(p).call()


def test_deregister_checks_in_the_reference_order(chain: Chain) -> None:
    p = chain.accounts[1]
    dereg = chain.market.functions.providerDeregister
    assert chain.error(dereg(p), p) == ("ProviderNotFound", ())
    chain.register_provider(p)
    model = chain.register_model(chain.accounts[2])
    bid, _ = chain.post_bid(p, model)
    assert chain.error(dereg(p), p) == ("ProviderHasActiveBids", ())
    chain.tx(chain.market.functions.deleteModelBid(bid), p)
    chain.tx(dereg(p), p)
    assert chain.error(dereg(p), p) == ("ProviderHasAlreadyDeregistered", ())


def test_deregister_for_someone_else_needs_rights(chain: Chain) -> None:
    p, other = chain.accounts[1], chain.accounts[6]
    chain.register_provider(p)
    fn = chain.market.functions.providerDeregister(p)
    assert chain.error(fn, other) == ("InsufficientRightsForOperation", (p, other))


def test_active_providers_pagination(chain: Chain) -> None:
    ps = chain.accounts[1:5]
    for p in ps:
        chain.register_provider(p)
    page = chain.market.functions.getActiveProviders
    assert page(0, 2).call() == [ps[:2], 4]
    assert page(2, 10).call() == [ps[2:], 4]
    assert page(4, 1).call() == [[], 4]
    assert page(9, 2**256 - 1).call() == [[], 4]
    assert page(1, 2**256 - 1).call() == [ps[1:], 4]
    assert page(0, 0).call() == [[], 4]
    chain.tx(chain.market.functions.providerDeregister(ps[0]), ps[0])
    items, total = page(0, 10).call()
    assert (sorted(items), total) == (sorted(ps[1:]), 3)
    assert ZERO not in items


def test_deregister_after_the_limit_period_still_refunds_the_whole_stake(chain: Chain) -> None:
    p, lo = chain.accounts[1], chain.params.provider_min_stake
    chain.register_provider(p, lo)
    chain.w3.provider.make_request("evm_increaseTime", [YEAR + 1])  # type: ignore[arg-type]
    before = chain.balance(p)
    chain.tx(chain.market.functions.providerDeregister(p), p)
    assert chain.balance(p) == before + lo

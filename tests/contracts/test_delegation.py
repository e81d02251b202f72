"""Delegated calls: a hot key acts for a cold provider only with the matching rights; the cold wallet pays."""

from __future__ import annotations

from web3 import Web3

from tests.support.contract_helpers import MOR, Chain

PROVIDER = Web3.keccak(text="delegation.rules.provider")
MODEL = Web3.keccak(text="delegation.rules.model")
MARKETPLACE = Web3.keccak(text="delegation.rules.marketplace")
SESSION = Web3.keccak(text="delegation.rules.session")
ALL = b"\x00" * 32
BASE = b"\x05" * 32


def grant(chain: Chain, cold: str, hot: str, rights: bytes, enable: bool = True) -> None:
    chain.tx(chain.registry.functions.delegateContract(hot, chain.market.address, rights, enable), cold)


def test_rule_constants_and_registry_views(chain: Chain) -> None:
    f = chain.market.functions
    assert bytes(f.DELEGATION_RULES_PROVIDER().call()) == PROVIDER
    assert bytes(f.DELEGATION_RULES_MODEL().call()) == MODEL
    assert bytes(f.DELEGATION_RULES_MARKETPLACE().call()) == MARKETPLACE
    assert bytes(f.DELEGATION_RULES_SESSION().call()) == SESSION
    assert f.getRegistry().call() == chain.registry.address
    assert f.getToken().call() == chain.mor.address


def test_each_right_unlocks_only_its_own_operations(chain: Chain) -> None:
    cold, hot = chain.accounts[1], chain.accounts[8]
    f = chain.market.functions
    lo = chain.params.min_price_per_second
    chain.approve(cold, 10 * MOR)  # the cold wallet's allowance pays for everything the hot key does
    refused = ("InsufficientRightsForOperation", (cold, hot))

    register = f.providerRegister(cold, chain.params.provider_min_stake, "hot.example:1")
    assert chain.error(register, hot) == refused
    grant(chain, cold, hot, SESSION)  # an unrelated right does not help
    assert chain.error(register, hot) == refused

    grant(chain, cold, hot, PROVIDER)
    assert f.isRightsDelegated(hot, cold, PROVIDER).call()
    assert not f.isRightsDelegated(hot, cold, MODEL).call()
    cold_before, hot_before = chain.balance(cold), chain.balance(hot)
    r = chain.tx(register, hot)
    assert r.events[-1] == ("ProviderRegistered", {"provider": cold})
    assert chain.balance(cold) == cold_before - chain.params.provider_min_stake
    assert chain.balance(hot) == hot_before

    model_reg = f.modelRegister(cold, BASE, b"\x00" * 32, 0, chain.params.model_min_stake, "m", ["llm"])
    assert chain.error(model_reg, hot) == refused
    grant(chain, cold, hot, MODEL)
    chain.tx(model_reg, hot)
    mid = bytes(f.getModelId(cold, BASE).call())
    assert f.getModel(mid).call()[3] == cold  # the owner is the cold wallet, not the sender

    post = f.postModelBid(cold, mid, lo)
    assert chain.error(post, hot) == refused
    grant(chain, cold, hot, MARKETPLACE)
    cold_before = chain.balance(cold)
    chain.tx(post, hot)
    assert chain.balance(cold) == cold_before - chain.params.bid_fee
    assert chain.balance(hot) == hot_before
    bid = bytes(f.getBidId(cold, mid, 0).call())
    chain.tx(f.deleteModelBid(bid), hot)

    grant(chain, cold, hot, PROVIDER, enable=False)  # revoked: provider operations refused again
    assert chain.error(f.providerDeregister(cold), hot) == refused
    chain.tx(f.modelDeregister(mid), hot)  # the model right is still there


def test_empty_rights_and_wallet_wide_delegations_cover_everything(chain: Chain) -> None:
    cold, hot = chain.accounts[1], chain.accounts[8]
    f = chain.market.functions
    chain.approve(cold, 10 * MOR)
    grant(chain, cold, hot, ALL)
    assert all(f.isRightsDelegated(hot, cold, r).call() for r in (PROVIDER, MODEL, MARKETPLACE, SESSION))
    chain.tx(f.providerRegister(cold, chain.params.provider_min_stake, "x:1"), hot)
    grant(chain, cold, hot, ALL, enable=False)
    assert not f.isRightsDelegated(hot, cold, PROVIDER).call()

    chain.tx(chain.registry.functions.delegateAll(hot, MODEL, True), cold)
    assert f.isRightsDelegated(hot, cold, MODEL).call()
    assert not f.isRightsDelegated(hot, cold, PROVIDER).call()
    chain.tx(f.modelRegister(cold, BASE, b"\x00" * 32, 0, chain.params.model_min_stake, "m", []), hot)


def test_a_delegation_for_another_contract_does_not_count(chain: Chain) -> None:
    cold, hot = chain.accounts[1], chain.accounts[8]
    chain.tx(chain.registry.functions.delegateContract(hot, chain.mor.address, ALL, True), cold)
    assert not chain.market.functions.isRightsDelegated(hot, cold, PROVIDER).call()
    chain.approve(cold, MOR)
    fn = chain.market.functions.providerRegister(cold, chain.params.provider_min_stake, "x:1")
    assert chain.error(fn, hot) == ("InsufficientRightsForOperation", (cold, hot))


def test_refunds_of_delegated_deregisters_go_to_the_owner(chain: Chain) -> None:
    cold, hot = chain.accounts[1], chain.accounts[8]
    f = chain.market.functions
    chain.register_provider(cold, 2 * chain.params.provider_min_stake)
    mid = chain.register_model(cold, BASE, 3 * chain.params.model_min_stake)
    grant(chain, cold, hot, PROVIDER)
    grant(chain, cold, hot, MODEL)
    cold_before, hot_before = chain.balance(cold), chain.balance(hot)
    chain.tx(f.modelDeregister(mid), hot)
    chain.tx(f.providerDeregister(cold), hot)
    refund = 2 * chain.params.provider_min_stake + 3 * chain.params.model_min_stake
    assert chain.balance(cold) == cold_before + refund
    assert chain.balance(hot) == hot_before

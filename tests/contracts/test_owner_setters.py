"""Owner-only setters for the minimums, the fee, the price bounds, the registry; fee withdrawal; ownership."""

from __future__ import annotations

from web3.exceptions import ContractLogicError

from reconciler.chain.artifacts import load_artifact
from tests.support.contract_helpers import MOR, ZERO, Chain, decode_error


def test_constructor_parameters_are_read_back(chain: Chain) -> None:
    f, p = chain.market.functions, chain.params
    assert f.owner().call() == chain.owner
    assert f.getProviderMinimumStake().call() == p.provider_min_stake
    assert f.getModelMinimumStake().call() == p.model_min_stake
    assert f.getBidFee().call() == p.bid_fee == 3 * 10**17
    assert f.getMinMaxBidPricePerSecond().call() == [p.min_price_per_second, p.max_price_per_second]
    assert f.getFeeBalance().call() == 0


def test_setters_emit_and_apply(chain: Chain) -> None:
    f, o = chain.market.functions, chain.owner
    r = chain.tx(f.providerSetMinStake(MOR), o)
    assert r.events == [("ProviderMinimumStakeUpdated", {"providerMinimumStake": MOR})]
    assert f.getProviderMinimumStake().call() == MOR
    r = chain.tx(f.modelSetMinStake(2 * MOR), o)
    assert r.events == [("ModelMinimumStakeUpdated", {"modelMinimumStake": 2 * MOR})]
    assert f.getModelMinimumStake().call() == 2 * MOR
    r = chain.tx(f.setMarketplaceBidFee(5), o)
    assert r.events == [("MaretplaceFeeUpdated", {"bidFee": 5})]  # sic: the real contract's event name
    assert f.getBidFee().call() == 5
    r = chain.tx(f.setMinMaxBidPricePerSecond(3, 4), o)
    assert r.events == [("MarketplaceBidMinMaxPriceUpdated", {"bidMinPricePerSecond": 3, "bidMaxPricePerSecond": 4})]
    assert f.getMinMaxBidPricePerSecond().call() == [3, 4]
    r = chain.tx(f.setRegistry(chain.accounts[9]), o)
    assert r.events == [("DelegationRegistryUpdated", {"registry": chain.accounts[9]})]
    assert f.getRegistry().call() == chain.accounts[9]


def test_a_new_fee_is_what_the_next_post_pays(chain: Chain) -> None:
    p = chain.accounts[1]
    chain.register_provider(p)
    mid = chain.register_model(chain.accounts[2])
    chain.tx(chain.market.functions.setMarketplaceBidFee(MOR), chain.owner)
    chain.approve(p, MOR)
    before = chain.balance(p)
    chain.tx(chain.market.functions.postModelBid(p, mid, chain.params.min_price_per_second), p)
    assert chain.balance(p) == before - MOR


def test_price_bounds_are_validated(chain: Chain) -> None:
    f, o = chain.market.functions, chain.owner
    assert chain.error(f.setMinMaxBidPricePerSecond(0, 5), o) == ("MarketplaceBidMinPricePerSecondIsZero", ())
    assert chain.error(f.setMinMaxBidPricePerSecond(6, 5), o) == ("MarketplaceBidMinPricePerSecondIsInvalid", ())
    chain.tx(f.setMinMaxBidPricePerSecond(5, 5), o)


def test_everything_owner_only_refuses_others(chain: Chain) -> None:
    f, x = chain.market.functions, chain.accounts[5]
    calls = [
        f.providerSetMinStake(1),
        f.modelSetMinStake(1),
        f.setMarketplaceBidFee(1),
        f.setMinMaxBidPricePerSecond(1, 2),
        f.setRegistry(x),
        f.withdrawFee(x, 1),
        f.transferOwnership(x),
    ]
    for fn in calls:
        assert chain.error(fn, x) == ("OwnableUnauthorizedAccount", (x,)), fn.fn_name


def test_withdraw_fee_is_capped_by_the_collected_fees(chain: Chain) -> None:
    f, o, to = chain.market.functions, chain.owner, chain.accounts[9]
    assert chain.error(f.withdrawFee(to, 1), o) == ("MarketplaceFeeAmountIsZero", ())
    p = chain.accounts[1]
    chain.register_provider(p)
    mid = chain.register_model(chain.accounts[2])
    chain.post_bid(p, mid)
    fee = chain.params.bid_fee
    before = chain.balance(to)
    r = chain.tx(f.withdrawFee(to, 1), o)
    assert r.events == [("Transfer", {"from": chain.market.address, "to": to, "value": 1})]
    chain.tx(f.withdrawFee(to, 10 * fee), o)  # more than collected: capped
    assert chain.balance(to) == before + fee
    assert f.getFeeBalance().call() == 0
    # stakes are not fees: the provider's and model's stakes stay in the contract
    assert chain.balance(chain.market.address) == chain.params.provider_min_stake + chain.params.model_min_stake


def test_ownership_transfer(chain: Chain) -> None:
    f, new = chain.market.functions, chain.accounts[3]
    assert chain.error(f.transferOwnership(ZERO), chain.owner) == ("OwnableInvalidOwner", (ZERO,))
    r = chain.tx(f.transferOwnership(new), chain.owner)
    assert r.events == [("OwnershipTransferred", {"previousOwner": chain.owner, "newOwner": new})]
    chain.tx(f.setMarketplaceBidFee(1), new)
    assert chain.error(f.setMarketplaceBidFee(1), chain.owner) == ("OwnableUnauthorizedAccount", (chain.owner,))


def test_constructor_rejects_a_zero_min_price(chain: Chain) -> None:
    art = load_artifact("Marketplace")
    factory = chain.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    ctor = factory.constructor(chain.mor.address, chain.registry.address, 1, 1, 1, 0, 10)
    try:
        ctor.estimate_gas({"from": chain.owner})
    except ContractLogicError as exc:
        assert isinstance(exc.data, str)
        assert decode_error(exc.data) == ("MarketplaceBidMinPricePerSecondIsZero", ())
    else:
        raise AssertionError("deploying with a zero minimum price should revert")

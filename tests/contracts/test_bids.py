"""Bids: the fee on every post, nonces and ids, the auto-delete of the previous bid, deletes, pagination."""

from __future__ import annotations

from web3 import Web3

from tests.support.contract_helpers import MOR, ZERO, Chain


def bid_id(provider: str, model: bytes, nonce: int) -> bytes:
    return Web3.solidity_keccak(["address", "bytes32", "uint256"], [provider, model, nonce])


def setup(chain: Chain) -> tuple[str, bytes]:
    p = chain.accounts[1]
    chain.register_provider(p)
    return p, chain.register_model(chain.accounts[2])


def test_post_charges_the_fee_and_derives_the_id(chain: Chain) -> None:
    p, mid = setup(chain)
    fee, price = chain.params.bid_fee, 10**16
    before, pool = chain.balance(p), chain.balance(chain.market.address)
    bid, r = chain.post_bid(p, mid, price)
    assert bid == bid_id(p, mid, 0) == bytes(chain.market.functions.getBidId(p, mid, 0).call())
    assert r.events == [
        ("Transfer", {"from": p, "to": chain.market.address, "value": fee}),
        ("MarketplaceBidPosted", {"provider": p, "modelId": mid, "nonce": 0}),
    ]
    assert chain.balance(p) == before - fee
    assert chain.balance(chain.market.address) == pool + fee
    assert chain.market.functions.getFeeBalance().call() == fee
    assert tuple(chain.market.functions.getBid(bid).call()) == (p, mid, price, 0, r.timestamp, 0)
    assert chain.market.functions.isBidActive(bid).call()
    pm = bytes(chain.market.functions.getProviderModelId(p, mid).call())
    assert pm == Web3.solidity_keccak(["address", "bytes32"], [p, mid])


def test_repost_deletes_the_previous_bid_and_charges_again(chain: Chain) -> None:
    p, mid = setup(chain)
    fee = chain.params.bid_fee
    before = chain.balance(p)
    first, _ = chain.post_bid(p, mid, 10**16)
    second, r = chain.post_bid(p, mid, 2 * 10**16)
    assert second == bid_id(p, mid, 1)
    assert r.events == [
        ("Transfer", {"from": p, "to": chain.market.address, "value": fee}),
        ("MarketplaceBidDeleted", {"provider": p, "modelId": mid, "nonce": 0}),
        ("MarketplaceBidPosted", {"provider": p, "modelId": mid, "nonce": 1}),
    ]
    assert chain.balance(p) == before - 2 * fee
    assert chain.market.functions.getFeeBalance().call() == 2 * fee
    assert not chain.market.functions.isBidActive(first).call()
    assert chain.market.functions.getBid(first).call()[5] == r.timestamp  # deletedAt
    assert chain.market.functions.isBidActive(second).call()
    f = chain.market.functions
    assert f.getProviderActiveBids(p, 0, 10).call() == [[second], 1]
    assert f.getModelActiveBids(mid, 0, 10).call() == [[second], 1]
    assert f.getProviderBids(p, 0, 10).call() == [[first, second], 2]
    assert f.getModelBids(mid, 0, 10).call() == [[first, second], 2]


def test_nonce_is_per_provider_and_model(chain: Chain) -> None:
    p, mid = setup(chain)
    q = chain.accounts[3]
    chain.register_provider(q)
    other = chain.register_model(chain.accounts[2], b"\x02" * 32)
    chain.post_bid(p, mid)
    chain.post_bid(p, mid)
    _, r = chain.post_bid(p, other)
    assert r.events[-1] == ("MarketplaceBidPosted", {"provider": p, "modelId": other, "nonce": 0})
    _, r = chain.post_bid(q, mid)
    assert r.names() == ["Transfer", "MarketplaceBidPosted"]  # q's bid does not delete p's
    assert r.events[-1][1]["nonce"] == 0
    f = chain.market.functions
    assert f.getModelActiveBids(mid, 0, 10).call() == [[bid_id(p, mid, 1), bid_id(q, mid, 0)], 2]
    assert f.getProviderActiveBids(p, 0, 10).call() == [[bid_id(p, mid, 1), bid_id(p, other, 0)], 2]


def test_delete_has_no_refund_and_the_next_post_continues_the_nonce(chain: Chain) -> None:
    p, mid = setup(chain)
    bid, _ = chain.post_bid(p, mid)
    before, pool = chain.balance(p), chain.balance(chain.market.address)
    r = chain.tx(chain.market.functions.deleteModelBid(bid), p)
    assert r.events == [("MarketplaceBidDeleted", {"provider": p, "modelId": mid, "nonce": 0})]
    assert (chain.balance(p), chain.balance(chain.market.address)) == (before, pool)
    assert not chain.market.functions.isBidActive(bid).call()
    assert chain.market.functions.getProviderActiveBids(p, 0, 10).call() == [[], 0]
    assert chain.error(chain.market.functions.deleteModelBid(bid), p) == ("MarketplaceActiveBidNotFound", ())
    nxt, r = chain.post_bid(p, mid)
    assert nxt == bid_id(p, mid, 1)
    assert r.names() == ["Transfer", "MarketplaceBidPosted"]  # nothing active to delete


def test_delete_unknown_or_foreign_bid_is_missing_rights(chain: Chain) -> None:
    p, mid = setup(chain)
    other = chain.accounts[6]
    unknown = bid_id(p, mid, 42)
    assert chain.error(chain.market.functions.deleteModelBid(unknown), p) == (
        "InsufficientRightsForOperation",
        (ZERO, p),
    )
    bid, _ = chain.post_bid(p, mid)
    assert chain.error(chain.market.functions.deleteModelBid(bid), other) == (
        "InsufficientRightsForOperation",
        (p, other),
    )


def test_post_requires_active_provider_and_model_and_price_in_bounds(chain: Chain) -> None:
    p, mid = setup(chain)
    stranger = chain.accounts[7]
    lo, hi = chain.market.functions.getMinMaxBidPricePerSecond().call()
    assert (lo, hi) == (chain.params.min_price_per_second, chain.params.max_price_per_second)
    post = chain.market.functions.postModelBid
    chain.approve(stranger, MOR)
    assert chain.error(post(stranger, mid, lo), stranger) == ("MarketplaceProviderNotFound", ())
    assert chain.error(post(p, b"\x09" * 32, lo), p) == ("MarketplaceModelNotFound", ())
    chain.approve(p, 10 * MOR)
    assert chain.error(post(p, mid, lo - 1), p) == ("MarketplaceBidPricePerSecondInvalid", ())
    assert chain.error(post(p, mid, hi + 1), p) == ("MarketplaceBidPricePerSecondInvalid", ())
    chain.tx(post(p, mid, lo), p)
    chain.tx(post(p, mid, hi), p)
    chain.approve(p, 0)
    fee = chain.params.bid_fee
    assert chain.error(post(p, mid, lo), p) == ("ERC20InsufficientAllowance", (chain.market.address, 0, fee))


def test_post_on_deregistered_provider_or_model_is_refused(chain: Chain) -> None:
    p, mid = setup(chain)
    chain.tx(chain.market.functions.modelDeregister(mid), chain.accounts[2])
    chain.approve(p, MOR)
    post = chain.market.functions.postModelBid
    assert chain.error(post(p, mid, chain.params.min_price_per_second), p) == ("MarketplaceModelNotFound", ())
    chain.tx(chain.market.functions.providerDeregister(p), p)
    assert chain.error(post(p, mid, chain.params.min_price_per_second), p) == ("MarketplaceProviderNotFound", ())


def test_bid_pagination(chain: Chain) -> None:
    p, mid = setup(chain)
    ids = [chain.post_bid(p, mid)[0] for _ in range(4)]
    f = chain.market.functions
    assert f.getProviderBids(p, 1, 2).call() == [ids[1:3], 4]
    assert f.getModelBids(mid, 3, 9).call() == [ids[3:], 4]
    assert f.getModelBids(mid, 4, 9).call() == [[], 4]
    assert f.getProviderActiveBids(p, 0, 9).call() == [[ids[3]], 1]
    assert f.getModelActiveBids(mid, 1, 9).call() == [[], 1]

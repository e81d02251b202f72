"""Opening sessions: the provider's signed approval, how the stake sets endsAt, refusals, delegation, the lists."""

from __future__ import annotations

from web3 import Web3

from tests.support.contract_helpers import MOR, ZERO, Chain
from tests.support.session_helpers import (
    ACTIVE,
    BID,
    CLOSED,
    DIRECT,
    ENDS,
    OPENED,
    STAKE,
    USER,
    WITHDRAWN,
    Market,
    approval,
    next_day_at,
    now,
    open_session,
    revert_reason,
    session,
    setup_market,
    stake_for,
    stipend,
)

POOL_START = 1707393600
POOLS = [(3456 * MOR, 592558728240000000, POOL_START, 86_400)] * 4 + [
    (576 * MOR, 98759788040000000, POOL_START, 86_400)
]


def emitted_until(pool: tuple[int, int, int, int], end: int) -> int:
    """The pool's MOR emission from payoutStart to `end`, summed interval by interval (an independent check)."""
    initial, decrease, start, interval = pool
    total, t, k = 0, start, 0
    while t < end and initial > k * decrease:
        step = min(interval, end - t)
        total += (initial - k * decrease) * step // interval
        t, k = t + step, k + 1
    return total


def test_stipend_is_the_stakes_share_of_todays_compute_budget(chain: Chain) -> None:
    f = chain.market.functions
    t = now(chain)
    day = t - t % 86_400
    assert [tuple(p) for p in f.getPools().call()] == POOLS
    compute = emitted_until(POOLS[3], day)
    supply = sum(emitted_until(p, day) for i, p in enumerate(POOLS) if i != 3)
    assert f.getComputeBalance(t).call() == compute
    assert f.totalMORSupply(t).call() == supply
    assert f.getTodaysBudget(t).call() == compute // 100
    assert stipend(chain, 1000 * MOR, t) == 1000 * MOR * compute // (supply * 100)
    # about 0.316 % of the stake a day (6/1900), as on Base today
    assert 3_150 * 10**15 < stipend(chain, 1000 * MOR, t) < 3_160 * 10**15
    assert f.getMaxSessionDuration().call() == 7 * 86_400
    assert f.getFundingAccount().call() == chain.owner
    assert (f.MIN_SESSION_DURATION().call(), f.SIGNATURE_TTL().call(), f.COMPUTE_POOL_INDEX().call()) == (300, 600, 3)


def test_a_buyer_opens_a_session_with_the_providers_approval(chain: Chain) -> None:
    m = setup_market(chain)
    buyer = chain.accounts[3]
    next_day_at(chain, 3600)  # away from midnight: the stipend rate is per UTC day
    amount = stake_for(chain, m, 600)
    before, pool = chain.balance(buyer), chain.balance(chain.market.address)
    sid, r = open_session(chain, m, buyer, amount)
    f = chain.market.functions
    assert (
        sid
        == Web3.solidity_keccak(["address", "address", "bytes32", "uint256"], [buyer, m.provider, m.bid, 0])
        == bytes(f.getSessionId(buyer, m.provider, m.bid, 0).call())
    )
    assert r.events == [
        ("Transfer", {"from": buyer, "to": chain.market.address, "value": amount}),
        ("SessionOpened", {"user": buyer, "sessionId": sid, "providerId": m.provider}),
    ]
    s = session(chain, sid)
    duration = stipend(chain, amount, r.timestamp) // m.price
    assert 600 <= duration < 601
    assert (s[USER], s[BID], s[STAKE], s[OPENED], s[ENDS]) == (buyer, m.bid, amount, r.timestamp, r.timestamp + 600)
    assert s[ENDS] == f.getSessionEnd(amount, m.price, r.timestamp).call()
    assert (s[CLOSED], s[ACTIVE], s[DIRECT], s[WITHDRAWN]) == (0, True, False, 0)
    assert chain.balance(buyer) == before - amount
    assert chain.balance(chain.market.address) == pool + amount
    assert f.getTotalSessions(m.provider).call() == 1


def test_ends_at_is_capped_by_the_max_duration_and_owner_sets_it(chain: Chain) -> None:
    m = setup_market(chain)
    f = chain.market.functions
    stranger = chain.accounts[5]
    assert chain.error(f.setMaxSessionDuration(3600), stranger) == ("OwnableUnauthorizedAccount", (stranger,))
    assert chain.error(f.setMaxSessionDuration(299), chain.owner) == ("SessionMaxDurationTooShort", ())
    chain.tx(f.setMaxSessionDuration(400), chain.owner)
    assert f.getMaxSessionDuration().call() == 400
    sid, r = open_session(chain, m, chain.accounts[3], stake_for(chain, m, 1000))
    assert session(chain, sid)[ENDS] == r.timestamp + 400


def test_a_stake_worth_less_than_five_minutes_is_refused(chain: Chain) -> None:
    m = setup_market(chain)
    buyer = chain.accounts[3]
    next_day_at(chain, 3600)
    amount = stake_for(chain, m, 299)
    chain.approve(buyer, amount)
    msg, sig = approval(chain, m.bid, buyer, m.provider)
    fn = chain.market.functions.openSession(buyer, amount, False, msg, sig)
    assert chain.error(fn, buyer) == ("SessionTooShort", ())


def test_bad_approvals_are_refused_with_the_real_errors(chain: Chain) -> None:
    m = setup_market(chain)
    buyer, other = chain.accounts[3], chain.accounts[4]
    f = chain.market.functions
    amount = stake_for(chain, m, 600)

    def attempt(msg: bytes, sig: bytes, sender: str = buyer) -> tuple[str, tuple[object, ...]]:
        return chain.error(f.openSession(buyer, amount, False, msg, sig), sender)

    # Checked before the stake is pulled: chain id and age (10 minutes) of the approval.
    assert attempt(*approval(chain, m.bid, buyer, m.provider, chain_id=1)) == ("SessionApprovedForAnotherChainId", ())
    stale = approval(chain, m.bid, buyer, m.provider, timestamp=now(chain) - 601)
    assert attempt(*stale) == ("SessionApproveExpired", ())
    fresh = approval(chain, m.bid, buyer, m.provider)
    assert attempt(*fresh)[0] == "ERC20InsufficientAllowance"
    chain.approve(buyer, 10 * amount)
    # Then the bid, the signer and reuse.
    assert attempt(*approval(chain, b"\x09" * 32, buyer, m.provider)) == ("SessionBidNotFound", ())
    assert attempt(*approval(chain, m.bid, buyer, other)) == ("SessionProviderSignatureMismatch", ())
    assert attempt(*approval(chain, m.bid, buyer, buyer)) == ("SessionProviderSignatureMismatch", ())
    msg, sig = fresh
    assert "ECDSA: invalid signature length" in revert_reason(f.openSession(buyer, amount, False, msg, sig[:64]), buyer)
    chain.tx(f.openSession(buyer, amount, False, msg, sig), buyer)
    assert f.getIsProviderApprovalUsed(msg).call()
    assert attempt(msg, sig) == ("SessionDuplicateApproval", ())
    # Only the user, or its session delegate, opens for the user.
    assert attempt(*approval(chain, m.bid, buyer, m.provider), sender=other) == (
        "InsufficientRightsForOperation",
        (buyer, other),
    )


def test_a_deleted_bid_takes_no_new_session(chain: Chain) -> None:
    m = setup_market(chain)
    buyer = chain.accounts[3]
    amount = stake_for(chain, m, 600)
    chain.approve(buyer, amount)
    chain.tx(chain.market.functions.deleteModelBid(m.bid), m.provider)
    msg, sig = approval(chain, m.bid, buyer, m.provider)
    assert chain.error(chain.market.functions.openSession(buyer, amount, False, msg, sig), buyer) == (
        "SessionBidNotFound",
        (),
    )


def test_delegates_sign_for_the_provider_and_open_for_the_user(chain: Chain) -> None:
    m = setup_market(chain)
    buyer, hot_provider, hot_buyer = chain.accounts[3], chain.accounts[6], chain.accounts[7]
    market = chain.market
    rules = market.functions
    # The provider's DELEGATION_RULES_PROVIDER delegate may sign approvals.
    chain.tx(
        chain.registry.functions.delegateContract(
            hot_provider, market.address, rules.DELEGATION_RULES_PROVIDER().call(), True
        ),
        m.provider,
    )
    # The buyer's DELEGATION_RULES_SESSION delegate may open for the buyer; the stake comes from the buyer.
    chain.tx(
        chain.registry.functions.delegateContract(
            hot_buyer, market.address, rules.DELEGATION_RULES_SESSION().call(), True
        ),
        buyer,
    )
    amount = stake_for(chain, m, 600)
    chain.approve(buyer, amount)
    msg, sig = approval(chain, m.bid, buyer, hot_provider)
    before = chain.balance(buyer)
    r = chain.tx(rules.openSession(buyer, amount, False, msg, sig), hot_buyer)
    assert r.events[-1][0] == "SessionOpened"
    assert r.events[-1][1]["user"] == buyer
    assert chain.balance(buyer) == before - amount


def test_sessions_are_listed_in_opening_order_and_read_newest_first(chain: Chain) -> None:
    m = setup_market(chain)
    other_model = chain.register_model(chain.accounts[2], b"\x02" * 32)
    other_bid, _ = chain.post_bid(m.provider, other_model, m.price)
    m2 = Market(m.provider, other_model, other_bid, m.price)
    a, b = chain.accounts[3], chain.accounts[4]
    amount = stake_for(chain, m, 300)
    s1, _ = open_session(chain, m, a, amount)
    s2, _ = open_session(chain, m2, b, amount)
    s3, _ = open_session(chain, m, b, amount)
    f = chain.market.functions
    assert f.getProviderSessions(m.provider, 0, 10).call() == [[s1, s2, s3], 3]
    # newest first: page back from the total
    assert f.getProviderSessions(m.provider, 1, 2).call() == [[s2, s3], 3]
    assert f.getProviderSessions(m.provider, 5, 2).call() == [[], 3]
    assert f.getModelSessions(m.model, 0, 10).call() == [[s1, s3], 2]
    assert f.getModelSessions(other_model, 0, 10).call() == [[s2], 1]
    assert f.getUserSessions(b, 0, 10).call() == [[s2, s3], 2]
    assert f.getProviderSessions(ZERO, 0, 10).call() == [[], 0]
    # one global nonce: the third session of the contract has nonce 2
    assert s3 == bytes(f.getSessionId(b, m.provider, m.bid, 2).call())

"""What sessions pay: claims after the end (exact, once), closes, holds until the next UTC day, the stake cap per
365-day period, direct payment, a price change under a live session, and the provider's stats."""

from __future__ import annotations

import pytest
from web3.exceptions import ContractPanicError

from tests.support.contract_helpers import MOR, ZERO, Chain
from tests.support.session_helpers import (
    ACTIVE,
    BID,
    CLOSED,
    CLOSEOUT_TYPE,
    DAY,
    ENDS,
    OPENED,
    RECEIPT,
    WITHDRAWN,
    YEAR,
    Market,
    advance,
    claimable,
    close,
    next_day_at,
    now,
    open_session,
    plain,
    provider_state,
    receipt,
    session,
    setup_market,
    stake_for,
    stipend_to_stake,
    transfers,
)

STAKE_I, LIMIT_END_I, EARNED_I = 1, 3, 4  # Provider tuple fields


def test_a_live_session_pays_nothing_then_the_ended_seconds_are_claimed_once(chain: Chain) -> None:
    m = setup_market(chain)
    f = chain.market.functions
    sid, _ = open_session(chain, m, chain.accounts[3], stake_for(chain, m, 600))
    s = session(chain, sid)
    earned = (s[ENDS] - s[OPENED]) * m.price

    assert now(chain) < s[ENDS]  # live
    assert claimable(chain, sid) == 0
    assert chain.tx(f.claimForProvider(sid), m.provider).events == []  # nothing to pay is not an error

    advance(chain, 600)
    assert now(chain) >= s[ENDS] and session(chain, sid)[CLOSED] == 0  # expired, not closed
    assert claimable(chain, sid) == earned
    budget_before = f.getComputeBalance(now(chain)).call()
    before = chain.balance(m.provider)
    r = chain.tx(f.claimForProvider(sid), m.provider)
    assert transfers(r) == [(chain.owner, m.provider, earned)]  # from the funding account
    assert chain.balance(m.provider) == before + earned
    assert session(chain, sid)[WITHDRAWN] == earned
    assert provider_state(chain, m.provider)[EARNED_I] == earned
    assert f.getProvidersTotalClaimed().call() == earned
    assert f.getComputeBalance(now(chain)).call() == budget_before - earned

    assert claimable(chain, sid) == 0
    assert chain.tx(f.claimForProvider(sid), m.provider).events == []
    assert chain.balance(m.provider) == before + earned


def test_only_the_provider_or_its_session_delegate_claims(chain: Chain) -> None:
    m = setup_market(chain)
    f = chain.market.functions
    sid, _ = open_session(chain, m, chain.accounts[3], stake_for(chain, m, 300))
    advance(chain, 300)
    stranger, hot = chain.accounts[5], chain.accounts[6]
    assert chain.error(f.claimForProvider(sid), stranger) == ("InsufficientRightsForOperation", (m.provider, stranger))
    assert chain.error(f.claimForProvider(b"\x07" * 32), stranger) == (
        "InsufficientRightsForOperation",
        (ZERO, stranger),
    )
    rights = f.DELEGATION_RULES_SESSION().call()
    chain.tx(chain.registry.functions.delegateContract(hot, chain.market.address, rights, True), m.provider)
    earned = claimable(chain, sid)
    r = chain.tx(f.claimForProvider(sid), hot)
    assert transfers(r) == [(chain.owner, m.provider, earned)]  # paid to the provider, not the delegate


def test_the_user_closes_early_the_provider_is_paid_and_todays_stake_is_held(chain: Chain) -> None:
    m = setup_market(chain)
    f = chain.market.functions
    user, stranger, hot = chain.accounts[3], chain.accounts[5], chain.accounts[7]
    next_day_at(chain, 3600)  # 01:00 UTC, so the session and its close fall on one day
    amount = stake_for(chain, m, 600)
    sid, opened = open_session(chain, m, user, amount)
    advance(chain, 120)

    msg, sig = receipt(chain, sid, m.provider, 12_000, 400)
    assert chain.error(f.closeSession(msg, sig), stranger) == ("InsufficientRightsForOperation", (user, stranger))
    unknown = receipt(chain, b"\x05" * 32, m.provider)
    assert chain.error(f.closeSession(*unknown), stranger) == ("InsufficientRightsForOperation", (ZERO, stranger))
    other_chain = receipt(chain, sid, m.provider, chain_id=1)
    assert chain.error(f.closeSession(*other_chain), user) == ("SessionReceiptForAnotherChainId", ())
    stale = receipt(chain, sid, m.provider, timestamp=now(chain) - 601)
    assert chain.error(f.closeSession(*stale), user) == ("SessionReceiptExpired", ())
    # the user's session delegate may close for it
    rights = f.DELEGATION_RULES_SESSION().call()
    chain.tx(chain.registry.functions.delegateContract(hot, chain.market.address, rights, True), user)

    user_before, provider_before = chain.balance(user), chain.balance(m.provider)
    r = chain.tx(f.closeSession(msg, sig), hot)
    closed_at = r.timestamp
    paid = (closed_at - opened.timestamp) * m.price
    day = closed_at - closed_at % DAY
    # priced before the close moved getProvidersTotalClaimed, which the stipend rate depends on
    held = min(amount, stipend_to_stake(chain, paid, day, r.raw["blockNumber"] - 1))
    assert 0 < held < amount
    assert transfers(r) == [(chain.market.address, user, amount - held), (chain.owner, m.provider, paid)]
    assert r.events[-1] == ("SessionClosed", {"user": user, "sessionId": sid, "providerId": m.provider})
    assert chain.balance(user) == user_before + amount - held
    assert chain.balance(m.provider) == provider_before + paid
    s = session(chain, sid)
    assert (s[CLOSED], s[ACTIVE], s[CLOSEOUT_TYPE], s[WITHDRAWN], bytes(s[RECEIPT])) == (
        closed_at,
        False,
        0,
        paid,
        msg,
    )
    assert f.getUserStakesOnHold(user, 10).call() == [0, held]
    assert chain.error(f.closeSession(msg, sig), user) == ("SessionAlreadyClosed", ())
    assert chain.error(f.withdrawUserStakes(user, 10), user) == ("SessionUserAmountToWithdrawIsZero", ())
    # Everything is paid, yet the close day's part counts as held: a claim that day underflows, as on chain.
    assert claimable(chain, sid) == 0
    with pytest.raises(ContractPanicError):
        f.claimForProvider(sid).call({"from": m.provider})

    next_day_at(chain, 60)
    assert f.getUserStakesOnHold(user, 10).call() == [held, 0]
    w = chain.tx(f.withdrawUserStakes(user, 10), user)
    assert w.events == [
        ("Transfer", {"from": chain.market.address, "to": user, "value": held}),
        ("UserWithdrawn", {"user": user, "amount_": held}),
    ]
    assert chain.tx(f.claimForProvider(sid), m.provider).events == []


def test_a_disputed_early_close_holds_the_providers_pay_for_the_day(chain: Chain) -> None:
    m = setup_market(chain)
    f = chain.market.functions
    user = chain.accounts[3]
    next_day_at(chain, 3600)
    sid, opened = open_session(chain, m, user, stake_for(chain, m, 600))
    advance(chain, 120)
    r = close(chain, sid, user, signer=user)  # signed by the user, not the provider: a dispute
    assert [t for t in transfers(r) if t[1] == m.provider] == []
    assert session(chain, sid)[CLOSEOUT_TYPE] == 1
    stats = plain(f.getProviderModelStats(m.model, m.provider).call())
    assert stats[2:] == [0, 0, 1]  # totalDuration, successCount, totalCount
    next_day_at(chain, 60)
    paid = (r.timestamp - opened.timestamp) * m.price
    assert claimable(chain, sid) == paid
    assert transfers(chain.tx(f.claimForProvider(sid), m.provider)) == [(chain.owner, m.provider, paid)]


def test_a_late_close_pays_the_whole_session_and_returns_the_whole_stake(chain: Chain) -> None:
    m = setup_market(chain)
    user = chain.accounts[3]
    next_day_at(chain, 3600)
    amount = stake_for(chain, m, 300)
    sid, _ = open_session(chain, m, user, amount)
    s = session(chain, sid)
    next_day_at(chain, 7200)  # the day of endsAt is over: nothing is held any more
    r = close(chain, sid, user, signer=m.provider)
    assert transfers(r) == [
        (chain.market.address, user, amount),
        (chain.owner, m.provider, (s[ENDS] - s[OPENED]) * m.price),
    ]


def test_direct_payment_pays_the_provider_from_the_users_stake(chain: Chain) -> None:
    m = setup_market(chain)
    user = chain.accounts[3]
    next_day_at(chain, 3600)
    amount = stake_for(chain, m, 300)
    sid, _ = open_session(chain, m, user, amount, direct=True)
    s = session(chain, sid)
    earned = (s[ENDS] - s[OPENED]) * m.price
    next_day_at(chain, 7200)
    r = chain.tx(chain.market.functions.claimForProvider(sid), m.provider)
    assert transfers(r) == [(chain.market.address, m.provider, earned)]
    r = close(chain, sid, user, signer=m.provider)
    assert transfers(r) == [(chain.market.address, user, amount - earned)]


def test_claims_stop_at_the_stake_and_resume_in_the_next_period(chain: Chain) -> None:
    stake = chain.params.provider_min_stake  # 0.2 MOR: five minutes at the minimum price earn 1.5 MOR
    m = setup_market(chain, stake=stake)
    f = chain.market.functions
    first, _ = open_session(chain, m, chain.accounts[3], stake_for(chain, m, 300))
    second, _ = open_session(chain, m, chain.accounts[4], stake_for(chain, m, 300))
    advance(chain, 300)
    earned = (session(chain, first)[ENDS] - session(chain, first)[OPENED]) * m.price
    assert earned > 2 * stake
    limit_end = provider_state(chain, m.provider)[LIMIT_END_I]

    assert claimable(chain, first) == stake
    assert transfers(chain.tx(f.claimForProvider(first), m.provider)) == [(chain.owner, m.provider, stake)]
    assert provider_state(chain, m.provider)[EARNED_I] == stake  # limitPeriodEarned reached the stake
    assert claimable(chain, first) == claimable(chain, second) == 0
    assert chain.tx(f.claimForProvider(second), m.provider).events == []
    assert session(chain, second)[WITHDRAWN] == 0

    advance(chain, limit_end - now(chain) + 1)  # past limitPeriodEnd: a new 365-day period
    assert claimable(chain, first) == stake
    r = chain.tx(f.claimForProvider(first), m.provider)
    assert transfers(r) == [(chain.owner, m.provider, stake)]
    p = provider_state(chain, m.provider)
    assert (p[LIMIT_END_I], p[EARNED_I]) == (r.timestamp + YEAR, stake)
    assert session(chain, first)[WITHDRAWN] == 2 * stake
    assert claimable(chain, second) == 0  # this period's room is used up too


def test_a_new_price_does_not_change_a_live_session(chain: Chain) -> None:
    m = setup_market(chain)
    f = chain.market.functions
    sid, _ = open_session(chain, m, chain.accounts[3], stake_for(chain, m, 600))
    before = session(chain, sid)
    new_bid, r = chain.post_bid(m.provider, m.model, 2 * m.price)  # deletes the old bid
    assert r.names()[-2:] == ["MarketplaceBidDeleted", "MarketplaceBidPosted"]
    assert not f.isBidActive(m.bid).call()
    after = session(chain, sid)
    assert after == before
    assert (after[BID], after[ACTIVE]) == (m.bid, True)
    advance(chain, 600)
    assert claimable(chain, sid) == (before[ENDS] - before[OPENED]) * m.price  # the old price
    # a new session on the new bid gets half the time for the same stake
    same = before[2]
    sid2, r2 = open_session(chain, Market(m.provider, m.model, new_bid, 2 * m.price), chain.accounts[4], same)
    assert session(chain, sid2)[ENDS] - r2.timestamp in (299, 300)


def test_closes_update_the_providers_model_stats(chain: Chain) -> None:
    m = setup_market(chain)
    f = chain.market.functions
    user = chain.accounts[3]
    durations = []
    for tps, ttft in ((10_000, 500), (20_000, 700)):
        sid, opened = open_session(chain, m, user, stake_for(chain, m, 600))
        advance(chain, 60)
        r = close(chain, sid, user, signer=m.provider, tps=tps, ttft=ttft)
        durations.append(r.timestamp - opened.timestamp)
    stats = plain(f.getProviderModelStats(m.model, m.provider).call())
    # Welford in integers: means 15000 and 600; sqSum (20000-15000)*(20000-10000), (700-600)*(700-500)
    assert stats == [[15_000, 50_000_000], [600, 20_000], sum(durations), 2, 2]
    model = plain(f.getModelStats(m.model).call())
    assert model == [[15_000, 0], [600, 0], [sum(durations), 0], 1]
    assert plain(f.getProviderModelStats(m.model, ZERO).call()) == [[0, 0], [0, 0], 0, 0, 0]


def test_deregistering_refunds_the_stake_less_this_periods_earnings(chain: Chain) -> None:
    m = setup_market(chain)
    f = chain.market.functions
    sid, _ = open_session(chain, m, chain.accounts[3], stake_for(chain, m, 300))
    advance(chain, 300)
    earned = claimable(chain, sid)
    chain.tx(f.claimForProvider(sid), m.provider)
    chain.tx(f.deleteModelBid(m.bid), m.provider)
    r = chain.tx(f.providerDeregister(m.provider), m.provider)
    assert transfers(r) == [(chain.market.address, m.provider, 10 * MOR - earned)]

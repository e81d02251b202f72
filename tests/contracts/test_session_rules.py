"""reconciler.sessions.rules computes what the contract pays: checked against the devnet's claimable view and
against real claims, through a session's life (live, expired, closed, capped, next period)."""

from __future__ import annotations

from reconciler.sessions.rules import SessionTerms, StakeCap, is_live
from reconciler.sessions.rules import claimable as rules_claimable
from tests.support.contract_helpers import Chain
from tests.support.session_helpers import (
    advance,
    claimable,
    close,
    next_day_at,
    now,
    open_session,
    provider_state,
    session,
    setup_market,
    stake_for,
    transfers,
)


def terms(chain: Chain, sid: bytes) -> SessionTerms:
    s = session(chain, sid)
    price = int(chain.market.functions.getBid(s[1]).call()[2])
    return SessionTerms(opened_at=s[6], ends_at=s[7], closed_at=s[8], price_per_second=price, provider_withdrawn=s[5])


def cap(chain: Chain, provider: str) -> StakeCap:
    p = provider_state(chain, provider)
    return StakeCap(stake=p[1], limit_period_end=p[3], limit_period_earned=p[4])


def agrees(chain: Chain, sid: bytes, provider: str) -> int:
    t = now(chain)
    expected = rules_claimable(terms(chain, sid), cap(chain, provider), t)
    assert expected == claimable(chain, sid)
    return expected


def test_the_rules_agree_with_the_contract_through_a_sessions_life(chain: Chain) -> None:
    m = setup_market(chain, stake=chain.params.provider_min_stake * 10)  # 2 MOR: the cap bites on the 2nd session
    f = chain.market.functions
    user = chain.accounts[3]
    next_day_at(chain, 3600)
    a, _ = open_session(chain, m, user, stake_for(chain, m, 300))
    b, _ = open_session(chain, m, chain.accounts[4], stake_for(chain, m, 300))
    assert is_live(0, session(chain, a)[7], now(chain))
    assert agrees(chain, a, m.provider) == 0
    advance(chain, 120)
    close(chain, b, chain.accounts[4], signer=chain.accounts[4])  # disputed early close: the day's pay is held
    assert agrees(chain, b, m.provider) == 0
    advance(chain, 300)
    assert not is_live(0, session(chain, a)[7], now(chain))
    due = agrees(chain, a, m.provider)
    assert due == (session(chain, a)[7] - session(chain, a)[6]) * m.price  # 1.5 MOR, under the 2 MOR cap
    assert transfers(chain.tx(f.claimForProvider(a), m.provider)) == [(chain.owner, m.provider, due)]
    next_day_at(chain, 60)
    room = agrees(chain, b, m.provider)
    assert room == 2 * 10**17 * 10 - due  # capped: the rest of the period's room
    assert transfers(chain.tx(f.claimForProvider(b), m.provider)) == [(chain.owner, m.provider, room)]
    assert agrees(chain, b, m.provider) == 0
    advance(chain, 366 * 86_400)
    assert agrees(chain, b, m.provider) > 0  # the rest, in the next period

"""Events under our own provider address pace the watcher as they should (issue 31, hostile inputs): what our own
apply sends (our bids posted or deleted, our provider and models registered) wakes a run at the next poll, so a run
sees its own moves at once; anything else under our address (sessions opened or closed, stake withdrawn) is paced
like competitors' bid events (WatchOptions.competitor_pace). A buyer's session on our bid carries the buyer as its
first topic, so the provider query never fetches it: opening and closing sessions cannot keep the watcher running
back to back. Pure: hand-made logs and a given clock."""

from __future__ import annotations

import queue

from web3 import Web3

PROVIDER = "0x" + "aa" * 20
BUYER = "0x" + "bb" * 20
MODEL = "0x" + "11" * 32


def _topic(address: str) -> str:
    return "0x" + "00" * 12 + address.removeprefix("0x")


def _sig(text: str) -> str:
    return "0x" + Web3.keccak(text=text).hex().removeprefix("0x")


def _log(event: str, *topics: str) -> dict[str, object]:
    return {"topics": [_sig(event), *topics]}


def _fetched(query_topics: list[object], log: dict[str, object]) -> bool:
    """What eth_getLogs does with a topic filter: None matches anything, a list any of its entries."""
    topics = log["topics"]
    assert isinstance(topics, list)
    for i, want in enumerate(query_topics):
        if want is None:
            continue
        if i >= len(topics) or topics[i] not in (want if isinstance(want, list) else [want]):
            return False
    return True


def test_our_own_moves_wake_at_once_and_other_events_under_our_address_are_paced() -> None:
    from reconciler.watch.loop import WatchOptions
    from reconciler.watch.triggers import OwnEvents, Poller, provider_topics

    session = "0x" + "22" * 32
    bid_posted = _log("MarketplaceBidPosted(address,bytes32,uint256)", _topic(PROVIDER), MODEL)
    bid_deleted = _log("MarketplaceBidDeleted(address,bytes32,uint256)", _topic(PROVIDER), MODEL)
    registered = _log("ProviderRegistered(address)", _topic(PROVIDER))
    model = _log("ModelRegisteredUpdated(address,bytes32)", _topic(PROVIDER), MODEL)
    buyers_open = _log("SessionOpened(address,bytes32,address)", _topic(BUYER), session, _topic(PROVIDER))
    buyers_close = _log("SessionClosed(address,bytes32,address)", _topic(BUYER), session, _topic(PROVIDER))
    ours_as_user = _log("SessionOpened(address,bytes32,address)", _topic(PROVIDER), session, _topic(BUYER))
    withdrawn = _log("UserWithdrawn(address,uint256)", _topic(PROVIDER))

    query = provider_topics(PROVIDER)
    assert all(_fetched(query, x) for x in (bid_posted, bid_deleted, registered, model, ours_as_user, withdrawn))
    assert not _fetched(query, buyers_open) and not _fetched(query, buyers_close)  # the buyer is their first topic

    own = OwnEvents(60.0)
    woke = own.seen([bid_posted, bid_deleted, registered, model], 0.0, head=9)
    assert [(t.kind, t.detail) for t in woke] == [("chain", "4 own event(s) up to block 9")]
    assert own.seen([bid_posted], 1.0, head=10) != []  # our own moves are never paced: the next poll sees them
    first = own.seen([ours_as_user, withdrawn], 2.0, head=11)  # other events: one trigger, then paced
    assert [t.detail for t in first] == ["2 other event(s) under our address up to block 11"]
    flood = [own.seen([ours_as_user] * 50, 2.0 + 5 * n, head=12 + n) for n in range(1, 12)]
    assert flood == [[]] * 11  # within the pace: counted, no run
    later = own.seen([withdrawn], 62.0, head=30)
    assert [t.detail for t in later] == ["551 other event(s) under our address up to block 30"]
    mixed = own.seen([ours_as_user, bid_posted], 63.0, head=31)  # paced others never hold back our own
    assert [t.detail for t in mixed] == ["1 own event(s) up to block 31"]
    assert own.seen([], 500.0, head=40) != []  # the held-back one comes at the first poll past the pace
    assert own.seen([], 600.0, head=41) == []

    poller = Poller(queue.Queue(), poll=1.0, interval=60.0, competitor_pace=WatchOptions.competitor_pace)
    assert poller._own.others.every == WatchOptions.competitor_pace  # the watcher's one pace for both

"""Read the market of some models as a buyer's router reads it, in a few batched round trips pinned to one block.

Round 1: each model's first page of active bids (`getModelActiveBids`, MARKET_PAGE at a time, the router's page
size), its `getModelStats`, and the provider minimum stake. Round 2, only past a page: the other pages. Round 3:
every bid (`getBid`). Round 4: each bidder's `getProvider` (its stake) and `getProviderModelStats` for the model.
So the cost grows with the number of bids, never with the chain's height, and is 3 round trips plus the reads of
round 1 for a market of no bid.

Anyone can bid on a model (one bid per provider address, each paying the bid fee and staking the provider
minimum), so the bids read per model are capped (MAX_BIDS_READ, in the chain's order): the rest are counted in
`ModelMarket.unread` and said, never read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from web3 import Web3
from web3.contract import Contract

from reconciler import EndpointUnusable
from reconciler.chain import structs
from reconciler.chain.rpc import Batch, RpcError
from reconciler.chain.structs import Unreadable
from reconciler.market.ids import norm_hex
from reconciler.market.rating import SD, MarketBid, ModelMarket, ModelStats, ProviderModelStats
from reconciler.observe.model import BidState

MARKET_PAGE = 255  # active bids per page, as the router asks for them
MAX_BIDS_READ = 4 * MARKET_PAGE  # per model: a flood past it costs us no more reads (docs/market.md)


class MarketUnreadable(EndpointUnusable):
    """The node did not answer a market read, or answered something that is not the struct."""


def _sd(raw: Any) -> SD:
    return SD(mean=int(raw[0]), sq_sum=int(raw[1]))


def provider_model_stats(raw: Any) -> ProviderModelStats:
    """A decoded `getProviderModelStats` tuple."""
    tps, ttft, duration, success, total = raw
    return ProviderModelStats(_sd(tps), _sd(ttft), int(duration), int(success), int(total))


def model_stats(raw: Any) -> ModelStats:
    """A decoded `getModelStats` tuple."""
    tps, ttft, duration, count = raw
    return ModelStats(_sd(tps), _sd(ttft), _sd(duration), int(count))


def _ok(answer: Any) -> Any:
    if isinstance(answer, RpcError):
        raise MarketUnreadable(f"reading the market: {answer}")
    return answer


def pages_after_the_first(total: int, page: int, limit: int) -> list[tuple[int, int]]:
    """(offset, size) of the pages to read past the first one, for `total` bids listed, up to `limit` bids in all.
    Bounded by the limit whatever total a node claims."""
    end = min(total, limit)
    return [(off, min(page, end - off)) for off in range(page, end, page)]


def read_markets(
    w3: Web3,
    market: Contract,
    model_ids: Iterable[str],
    block: int | str = "latest",
    page: int = MARKET_PAGE,
    limit: int = MAX_BIDS_READ,
    ours: str | None = None,
) -> dict[str, ModelMarket]:
    """The active bids of each model (0x hex ids, any case), keyed by the lower-case id, bids in the chain's
    order, at most `limit` per model (the others counted in `unread`). `market` is the Diamond with the
    Marketplace ABI; `block` pins every read (default: the latest, which is then read first and pinned, so all
    the rounds see one state); `page` is the page size of the bid lists. With `ours` (a provider address), that
    provider's active bids are also read (in round 1), so a flood listed before them never hides them."""
    ids = list(dict.fromkeys(norm_hex(m) for m in model_ids))
    if not ids:
        return {}
    pin = block
    if pin == "latest":
        pin = int(w3.eth.block_number)

    # round 1: first pages, model stats, the minimum stake
    b = Batch(w3, defer_errors=True)
    b.call(market, "getProviderMinimumStake", [], pin)
    for mid in ids:
        b.call(market, "getModelActiveBids", [bytes.fromhex(mid[2:]), 0, min(page, limit)], pin, "getModelActiveBids")
        b.call(market, "getModelStats", [bytes.fromhex(mid[2:])], pin, "getModelStats")
    if ours is not None:
        who = Web3.to_checksum_address(ours)
        b.call(market, "getProviderActiveBids", [who, 0, MARKET_PAGE], pin, "getProviderActiveBids")
    r1 = iter(b.run())
    min_stake = int(_ok(next(r1)))
    bid_ids: dict[str, list[bytes]] = {}
    stats: dict[str, ModelStats] = {}
    totals: dict[str, int] = {}
    for mid in ids:
        first, total = _ok(next(r1))
        bid_ids[mid], totals[mid] = list(first)[:limit], int(total)
        stats[mid] = model_stats(_ok(next(r1)))
    own = [bytes(x) for x in _ok(next(r1))[0][:MARKET_PAGE]] if ours is not None else []

    # round 2 (only past a page): the other pages of every model at once, up to the limit
    more = [(mid, off, size) for mid in ids for off, size in pages_after_the_first(totals[mid], page, limit)]
    if more:
        b = Batch(w3, defer_errors=True)
        for mid, off, size in more:
            b.call(market, "getModelActiveBids", [bytes.fromhex(mid[2:]), off, size], pin, "getModelActiveBids")
        for (mid, _, size), answer in zip(more, b.run(), strict=True):
            bid_ids[mid] += list(_ok(answer)[0])[:size]
    for mid in ids:
        bid_ids[mid] = list(dict.fromkeys(bytes(x) for x in bid_ids[mid]))[:limit]  # a node listing one twice

    # round 3: the bids, and ours the lists left past the cap
    listed = {bid for mid in ids for bid in bid_ids[mid]}
    extra = [bid for bid in dict.fromkeys(own) if bid not in listed]
    b = Batch(w3, defer_errors=True)
    order: list[tuple[str | None, bytes]] = [(mid, bytes(bid)) for mid in ids for bid in bid_ids[mid]]
    order += [(None, bid) for bid in extra]
    for _, bid in order:
        b.call(market, "getBid", [bid], pin, "getBid", raw=True)
    bids: dict[str, list[BidState]] = {mid: [] for mid in ids}
    past_cap = dict.fromkeys(ids, 0)
    for (listed_under, bid), answer in zip(order, b.run(), strict=True):
        got = structs.bid("0x" + bid.hex(), _ok(answer))
        if isinstance(got, Unreadable):
            raise MarketUnreadable(f"getBid(0x{bid.hex()}): the answer is not a bid ({got.why})")
        model = norm_hex(got.model_id)
        if listed_under is None:  # one of ours not in the lists read: ranked with its model's, after them
            if got.active and model in bids and norm_hex(got.provider) == norm_hex(ours or ""):
                bids[model].append(got)
                past_cap[model] += 1
        elif got.active and model == listed_under:  # a deleted bid, or another model's, listed: not ranked
            bids[model].append(got)

    # round 4: each bidder's stake and its stats on the model
    providers = sorted({norm_hex(bd.provider) for mid in ids for bd in bids[mid]})
    pairs = sorted({(mid, norm_hex(bd.provider)) for mid in ids for bd in bids[mid]})
    b = Batch(w3, defer_errors=True)
    for p in providers:
        b.call(market, "getProvider", [Web3.to_checksum_address(p)], pin, "getProvider", raw=True)
    for mid, p in pairs:
        b.call(
            market,
            "getProviderModelStats",
            [bytes.fromhex(mid[2:]), Web3.to_checksum_address(p)],
            pin,
            "getProviderModelStats",
        )
    r4 = iter(b.run())
    stakes: dict[str, int] = {}
    for p in providers:
        got_provider = structs.provider(p, _ok(next(r4)))
        if isinstance(got_provider, Unreadable):
            raise MarketUnreadable(f"getProvider({p}): the answer is not a provider ({got_provider.why})")
        state = got_provider.value
        stakes[p] = state.stake if state is not None else 0
    pair_stats = {pair: provider_model_stats(_ok(next(r4))) for pair in pairs}

    return {
        mid: ModelMarket(
            model_id=mid,
            model_stats=stats[mid],
            min_stake=min_stake,
            unread=max(0, totals[mid] - len(bid_ids[mid]) - past_cap[mid]),
            bids=tuple(
                MarketBid(
                    bid_id=bd.bid_id,
                    provider=norm_hex(bd.provider),
                    price_per_second=bd.price_per_second,
                    stake=stakes[norm_hex(bd.provider)],
                    stats=pair_stats[(mid, norm_hex(bd.provider))],
                )
                for bd in bids[mid]
            ),
        )
        for mid in ids
    }


def read_standing(
    w3: Web3, market: Contract, provider: str, model_ids: Iterable[str], block: int | str = "latest"
) -> tuple[int, dict[str, ProviderModelStats]]:
    """(a provider's stake, its stats on each model), in one round trip: what its quality would be on a model it
    has no bid on yet (a new bid keeps the provider's stats: they are keyed by model and provider)."""
    ids = list(dict.fromkeys(norm_hex(m) for m in model_ids))
    b = Batch(w3, defer_errors=True)
    b.call(market, "getProvider", [Web3.to_checksum_address(provider)], block, "getProvider", raw=True)
    for mid in ids:
        b.call(
            market,
            "getProviderModelStats",
            [bytes.fromhex(mid[2:]), Web3.to_checksum_address(provider)],
            block,
            "getProviderModelStats",
        )
    answers = iter(b.run())
    got = structs.provider(norm_hex(provider), _ok(next(answers)))
    if isinstance(got, Unreadable):
        raise MarketUnreadable(f"getProvider({provider}): the answer is not a provider ({got.why})")
    stake = got.value.stake if got.value is not None else 0
    return stake, {mid: provider_model_stats(_ok(next(answers))) for mid in ids}

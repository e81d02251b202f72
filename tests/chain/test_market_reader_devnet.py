"""read_markets on a real devnet: three providers bid on one model, two with a closed session each (signed
receipts) and one with a dispute; the market read back is the chain's, field for field, with the stats the
contracts' Welford updates give by hand, and the bid lists read in pages (a page of 2 here: 3 bids, 2 pages)."""

from __future__ import annotations

from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.chain.market_reader import read_markets, read_standing
from reconciler.chain.rpc import connect_all, endpoint_of
from reconciler.devnet import unlocked
from reconciler.devnet.anvil import Anvil
from reconciler.devnet.local import Deployment, dev_accounts
from reconciler.market.ids import model_id
from reconciler.market.rating import SD, ModelStats, ProviderModelStats
from tests.support.market_scene import Closed, close_sessions, market_contract, register_and_bid

MOR = 10**18
ACCOUNTS = dev_accounts()


def test_read_markets_reads_every_bid_stake_and_stat(anvil: Anvil, w3: Web3, deployed: Deployment) -> None:
    market = market_contract(w3, deployed.diamond)
    owner = ACCOUNTS[2].address
    token = w3.eth.contract(address=deployed.mor, abi=load_artifact("MorToken").abi)
    unlocked.send(w3, token.functions.approve(market.address, MOR // 10), owner)
    fn = market.functions.modelRegister(owner, b"\x07" * 32, b"\x00" * 32, 0, MOR // 10, "m", ["llm"])
    unlocked.send(w3, fn, owner)
    model_hex = model_id(owner, "0x" + "07" * 32)
    model = bytes.fromhex(model_hex[2:])

    a, b, c = ACCOUNTS[3], ACCOUNTS[4], ACCOUNTS[5]
    bid_a = register_and_bid(w3, deployed.diamond, a.address, 2 * MOR // 10, model, 6 * 10**15)
    bid_b = register_and_bid(w3, deployed.diamond, b.address, 11 * MOR // 10, model, 8 * 10**15)
    bid_c = register_and_bid(w3, deployed.diamond, c.address, 20 * MOR, model, 5 * 10**15)
    buyer = ACCOUNTS[8].address
    close_sessions(w3, deployed.diamond, buyer, a.private_key, bid_a, [Closed(600, 20_000, 400)])
    close_sessions(w3, deployed.diamond, buyer, b.private_key, bid_b, [Closed(1200, 10_000, 800)])
    close_sessions(w3, deployed.diamond, buyer, c.private_key, bid_c, [Closed(900, 1, 1, signed_by_provider=False)])

    pooled = connect_all([(anvil.rpc_url, "anvil")])
    pooled_market = market_contract(pooled, deployed.diamond)
    markets = read_markets(pooled, pooled_market, [model_hex.upper().replace("0X", "0x")], page=2)
    # the cost: the block number, then one batch per round: first pages, the second page, the bids, the bidders
    pool = endpoint_of(pooled)
    assert pool is not None and pool.stats.round_trips == 5
    again_cost = pool.stats.round_trips
    read_markets(pooled, pooled_market, [model_hex])  # one page of 255: no second-page round
    assert pool.stats.round_trips - again_cost == 4
    assert list(markets) == [model_hex]
    m = markets[model_hex]
    assert m.model_id == model_hex and m.min_stake == 2 * MOR // 10
    # model stats, by hand: after A, count 1, means 20000 / 400 / 600; after B, count 2:
    # tps mean 20000 + (10000 - 20000) / 2 = 15000, sqSum (10000 - 15000) * (10000 - 20000) = 5e7;
    # ttft mean 600, sqSum (800 - 600) * (800 - 400) = 80000; duration mean 900, sqSum 300 * 600 = 180000.
    # C's dispute leaves the model's stats alone.
    assert m.model_stats == ModelStats(SD(15000, 50_000_000), SD(600, 80_000), SD(900, 180_000), 2)
    assert [(x.bid_id, x.provider, x.price_per_second, x.stake) for x in m.bids] == [
        ("0x" + bid_a.hex(), a.address.lower(), 6 * 10**15, 2 * MOR // 10),
        ("0x" + bid_b.hex(), b.address.lower(), 8 * 10**15, 11 * MOR // 10),
        ("0x" + bid_c.hex(), c.address.lower(), 5 * 10**15, 20 * MOR),
    ]
    assert [x.stats for x in m.bids] == [
        ProviderModelStats(SD(20000, 0), SD(400, 0), 600, 1, 1),
        ProviderModelStats(SD(10000, 0), SD(800, 0), 1200, 1, 1),
        ProviderModelStats(SD(0, 0), SD(0, 0), 0, 0, 1),
    ]
    # a provider without a bid: its stake and stats (none here) all the same
    stake, stats = read_standing(w3, market, a.address, [model_hex])
    assert stake == 2 * MOR // 10 and stats == {model_hex: m.bids[0].stats}
    # a deleted bid leaves the market; a model nobody bids on is an empty market
    unlocked.send(w3, market.functions.deleteModelBid(bid_b), b.address)
    empty = "0x" + "00" * 31 + "01"
    again = read_markets(w3, market, [model_hex, empty])
    assert [x.bid_id for x in again[model_hex].bids] == ["0x" + bid_a.hex(), "0x" + bid_c.hex()]
    assert again[empty].bids == () and again[empty].model_stats.count == 0

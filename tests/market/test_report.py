"""The market document and its renderers, pure: our rank and target prices, the router's skips, a model without
our bid, and every string read from the chain or the desired state shown escaped in text, Markdown and the page."""

from __future__ import annotations

from reconciler.market.rating import SD, MarketBid, ModelMarket, ModelStats, ProviderModelStats
from reconciler.market.report import MarketModel, Standing, market_report
from reconciler.render.market import render_market_markdown, render_market_text
from reconciler.status.html import _market
from reconciler.status.page import market_panel

MOR = 10**18
OURS = "0x" + "aa" * 20
MODEL = "0x" + "11" * 32
STATS = ModelStats(SD(20000, 16_000_000), SD(500, 40_000), SD(3600, 1_440_000), 5)
GOOD = ProviderModelStats(SD(23000, 0), SD(650, 0), 1800, 9, 10)  # quality 0.5192 at a 1.1 MOR stake
FRESH = ProviderModelStats(SD(0, 0), SD(0, 0), 0, 0, 0)  # quality 0.08 at the minimum stake


def bid(n: int, provider: str, price: int, stats: ProviderModelStats, stake: int) -> MarketBid:
    return MarketBid(f"0x{n:064x}", provider, price, stake, stats)


def market(*bids: MarketBid) -> ModelMarket:
    return ModelMarket(MODEL, STATS, 2 * MOR // 10, bids)


NAME = "chat\x1b[2J<b>|x"


def test_ours_second_with_the_prices_for_first_and_to_keep_the_rank() -> None:
    m = market(
        bid(1, "0x" + "01" * 20, MOR // 1000, GOOD, 11 * MOR // 10),  # 519.2
        bid(2, OURS, MOR // 500, GOOD, 11 * MOR // 10),  # 259.6
        bid(3, "0x" + "03" * 20, MOR // 1000, FRESH, 2 * MOR // 10),  # 80
        bid(4, "0x" + "04" * 20, 0, GOOD, MOR),  # price 0: skipped by the router
    )
    doc = market_report(OURS, [MarketModel(MODEL, NAME, True)], {MODEL: m}, Standing(0, {}), block=7)
    (chat,) = doc["models"]
    assert [(b["rank"], b["ours"]) for b in chat["bids"]] == [(1, False), (2, True), (3, False)]
    assert chat["skipped"] == [{"bidId": f"0x{4:064x}", "provider": "0x" + "04" * 20, "why": chat["skipped"][0]["why"]}]
    ours = chat["ours"]
    assert ours["rank"] == 2 and round(ours["score"], 6) == 259.6
    # first: beat 519.2, below 0.5192 / 519.2 = 0.001 MOR/s; keep #2: beat 80, below 0.5192 / 80 = 0.00649 MOR/s
    assert abs(ours["first"]["price"]["wei"] - 10**15) <= 2
    assert abs(ours["keep"]["price"]["wei"] - 6_490_000_000_000_000) <= 2
    assert chat["bids"][1]["price"]["morPerHour"] == "7.2 MOR"

    text = render_market_text(doc)
    assert "\x1b" not in text and "chat\\x1b[2J<b>|x" in text
    assert "ours #2 at score 259.60 (quality 0.5192); rank 1 needs ≤ 0.000999999999999999 MOR/s" in text
    markdown = render_market_markdown(doc)
    assert "\x1b" not in markdown and "chat\\x1b[2J<b>\\|x" in markdown
    page = _market({"market": market_panel(doc)})
    assert "\x1b" not in page and "&lt;b&gt;" in page and "<b>|x" not in page
    assert 'data-ours="true"' in page and "ours #2 at score 259.60" in page


def test_no_bid_of_ours_uses_our_standing() -> None:
    m = market(bid(1, "0x" + "01" * 20, MOR // 1000, GOOD, 11 * MOR // 10))
    doc = market_report(OURS, [MarketModel(MODEL, "m", False)], {MODEL: m}, Standing(11 * MOR // 10, {MODEL: GOOD}))
    ours = doc["models"][0]["ours"]
    assert ours["rank"] is None and ours["keep"] is None and round(ours["quality"], 6) == 0.5192
    assert ours["first"]["price"]["wei"] == 10**15 - 1  # the same quality must be cheaper to win the tie
    alone = market_report(OURS, [MarketModel(MODEL, "m", False)], {MODEL: market()}, Standing(0, {}))
    assert alone["models"][0]["ours"]["first"]["price"] is None
    assert "any price" in alone["models"][0]["ours"]["first"]["why"]
    assert "no active bid" in render_market_text(alone)


def test_the_pages_market_panel_names_the_weights_it_ranks_with() -> None:
    from reconciler.market.rating import Weights
    from reconciler.status.page import market_weights

    m = market(bid(1, "0x" + "01" * 20, MOR // 1000, GOOD, 11 * MOR // 10), bid(2, OURS, MOR // 500, GOOD, MOR))
    models = [MarketModel(MODEL, "m", True)]
    by_tps = market_report(OURS, models, {MODEL: m}, Standing(0, {}), Weights(1, 0, 0, 0, 0), "weights from r.json")
    page = _market({"market": market_panel(by_tps), "marketWeights": market_weights(by_tps)})
    assert "weights from r.json" in page and "default weights" not in page
    plain = market_report(OURS, models, {MODEL: m}, Standing(0, {}), weights_source="the router's default weights")
    assert "default weights" in _market({"market": market_panel(plain), "marketWeights": market_weights(plain)})

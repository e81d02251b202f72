"""The market view against what strangers write (issue 31, hostile inputs): a flood of bids on our model is read up
to a cap, with the rest counted and said ("N more bids not read") in the document, the text, the Markdown and the
page's panel (which stays small); a `--weights` rating config that is huge or has negative or non-finite weights
is refused before the chain is read. Pure: no node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler import FileUnusable
from reconciler.chain import market_reader
from reconciler.market.rating import SD, MarketBid, ModelMarket, ModelStats, ProviderModelStats
from reconciler.market.report import MarketModel, Standing, market_report
from reconciler.observe.market import load_rating_config
from reconciler.render.market import render_market_markdown, render_market_text
from reconciler.status.html import _market
from reconciler.status.page import MARKET_BIDS_SHOWN, market_panel

MOR = 10**18
OURS = "0x" + "aa" * 20
MODEL = "0x" + "11" * 32
STATS = ModelStats(SD(20000, 16_000_000), SD(500, 40_000), SD(3600, 1_440_000), 5)
GOOD = ProviderModelStats(SD(23000, 0), SD(650, 0), 1800, 9, 10)


def _flood(n: int) -> tuple[MarketBid, ...]:
    return tuple(MarketBid(f"0x{i:064x}", f"0x{i + 1:040x}", MOR // 1000 + i, MOR, GOOD) for i in range(n))


def test_the_bids_read_per_model_are_capped_in_pages() -> None:
    plan = market_reader.pages_after_the_first
    cap = market_reader.MAX_BIDS_READ
    assert cap % market_reader.MARKET_PAGE == 0 and cap >= 4 * market_reader.MARKET_PAGE
    assert plan(100, 255, cap) == []
    assert plan(600, 255, cap) == [(255, 255), (510, 90)]
    assert plan(10**6, 255, cap) == [(off, 255) for off in range(255, cap, 255)]
    assert plan(2**256 - 1, 2, 5) == [(2, 2), (4, 1)]  # a hostile node's total: still the cap, never a long loop


def test_bids_not_read_are_said_in_the_document_text_markdown_and_panel() -> None:
    ours = MarketBid("0x" + "ff" * 32, OURS, MOR // 100, MOR, GOOD)
    flood = ModelMarket(MODEL, STATS, 2 * MOR // 10, (*_flood(300), ours), unread=9_000)
    doc = market_report(OURS, [MarketModel(MODEL, "chat", True)], {MODEL: flood}, Standing(0, {}), block=7)
    (chat,) = doc["models"]
    assert chat["unreadBids"] == 9_000 and len(chat["bids"]) == 301
    assert "9000 more bid(s) not read" in render_market_text(doc)
    assert "9000 more bid(s) not read" in render_market_markdown(doc)
    (panel,) = market_panel(doc)
    assert len(panel["bids"]) == MARKET_BIDS_SHOWN + 1 and panel["bids"][-1]["ours"]  # the best few and ours
    assert panel["unread"] == 9_000
    html = _market({"market": [panel]})
    assert "9000 more bid(s) not read" in html and html.count("<tr") == MARKET_BIDS_SHOWN + 2


def _config(tmp_path: Path, weights: str) -> Path:
    path = tmp_path / "rating.json"
    path.write_text('{"algorithm": "default", "params": {"weights": ' + weights + "}}")
    return path


def test_weights_that_are_not_finite_are_refused(tmp_path: Path) -> None:
    for weights in (
        '{"tps": NaN, "success": 1}',
        '{"tps": Infinity, "ttft": -Infinity, "success": 1}',
    ):
        with pytest.raises(FileUnusable, match="--weights"):
            load_rating_config(_config(tmp_path, weights))


def test_negative_weights_are_refused(tmp_path: Path) -> None:
    for weights in ('{"tps": -1, "success": 2}', '{"tps": 1e308, "ttft": -1e308, "success": 1}'):
        with pytest.raises(FileUnusable, match="negative"):
            load_rating_config(_config(tmp_path, weights))


def test_a_huge_rating_config_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "rating.json"
    allow = ["0x" + "ab" * 20] * 200_000
    config = {"algorithm": "default", "params": {"weights": {"success": 1}}, "providerAllowlist": allow}
    path.write_text(json.dumps(config))
    with pytest.raises(FileUnusable, match="larger than"):
        load_rating_config(path)


def test_a_model_whose_stats_give_no_finite_score_stays_valid_json_and_says_why() -> None:
    """The contracts' integer Welford update can leave a small negative sqSum: every score of the model is then
    NaN and the router skips every bid. The document stays strict JSON (None where a number is not finite), our
    skipped bid is said as such, not as "no bid of ours", and a skip says its reason."""
    broken = ModelStats(SD(20000, -1), SD(500, 40_000), SD(3600, 1_440_000), 5)
    ours = MarketBid("0x" + "01" * 32, OURS, MOR // 1000, MOR, GOOD)
    free = MarketBid("0x" + "02" * 32, "0x" + "bb" * 20, 0, MOR, GOOD)
    market = ModelMarket(MODEL, broken, 2 * MOR // 10, (ours, free))
    doc = market_report(OURS, [MarketModel(MODEL, "chat", True)], {MODEL: market}, Standing(0, {}), block=7)
    json.dumps(doc, allow_nan=False)
    (chat,) = doc["models"]
    assert chat["ours"]["quality"] is None and chat["ours"]["skipped"] is True
    whys = [s["why"] for s in chat["skipped"]]
    assert "negative sqSum" in whys[0] and "price" not in whys[0] and "price of 0" in whys[1], whys
    text = render_market_text(doc)
    assert "no bid of ours" not in text and "our bid is skipped by the router" in text, text
    (panel,) = market_panel(doc)
    assert "our bid is skipped by the router" in panel["ours"]

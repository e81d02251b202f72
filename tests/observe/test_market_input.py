"""The market input's host-side parts: reposts counted in the apply journal, and the price command's document."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from reconciler.chain.journal import Journal, TxRecord
from reconciler.market.rating import NO_MODEL_STATS, SD, MarketBid, ModelMarket, ProviderModelStats
from reconciler.observe.market_input import market_document, reposts_today
from tests.support.planfactory import BASE_YAML, PROVIDER, desired_from, observed

MID = "0x" + "11" * 32
NOW = 1_800_000_000.0


def test_reposts_of_the_last_24_hours_are_counted_per_model_from_the_journal(tmp_path: Path) -> None:
    folder = tmp_path / f"84532-{PROVIDER.lower()}"
    journal = Journal(folder / "journal.jsonl")
    for i, (action, status, age) in enumerate(
        [
            (f"bid.post:{MID}", "mined", 3600),  # counted
            (f"bid.post:{MID}", "mined", 90_000),  # older than a day
            (f"bid.post:{MID}", "reverted", 60),  # never posted
            (f"bid.delete:{MID}", "mined", 60),  # not a post
            ("bid.post:0x" + "22" * 32, "mined", 60),  # another model
        ]
    ):
        journal.append(TxRecord(tx_hash=f"0x{i:064x}", status=status, action_id=action, ts=NOW - age))  # type: ignore[arg-type]
    assert reposts_today(tmp_path, 84532, PROVIDER, now=NOW) == {MID: 1, "0x" + "22" * 32: 1}
    assert reposts_today(tmp_path, 1, PROVIDER, now=NOW) == {}  # another chain: another folder
    assert reposts_today(None, 84532, PROVIDER) == {}  # no state directory: none known


def test_the_price_commands_document_has_the_ranked_bids_and_exact_amounts_as_strings() -> None:
    d = desired_from(
        BASE_YAML.replace(
            'pricePerSecond: "0.01 MOR"',
            'market: {floor: "0.004 MOR", ceiling: "0.015 MOR", rank: 1, utilizedSecondsPerDay: 100}',
            1,
        )
    )
    m = d.models[0]
    stats = ProviderModelStats(SD(0, 0), SD(0, 0), 0, 1, 1)
    market = ModelMarket(
        m.model_id,
        NO_MODEL_STATS,
        2 * 10**17,
        (
            MarketBid("0x0a", "0x" + "aa" * 20, 10**16, 2 * 10**17, stats),
            MarketBid("0x0c", "0x" + "cc" * 20, 5 * 10**15, 2 * 10**17, replace(stats, success_count=0, total_count=0)),
        ),
    )
    doc = market_document(m, market, observed(), 2 * 10**17, stats)
    json.dumps(doc)
    assert doc["floor"] == "4000000000000000" and doc["ceiling"] == "15000000000000000"
    assert doc["ours"] == {"pricePerSecond": None, "stake": "200000000000000000", "quality": doc["ours"]["quality"]}
    assert round(doc["ours"]["quality"], 6) == 0.6
    assert [(b["bidId"], b["rank"], b["pricePerSecond"]) for b in doc["bids"]] == [
        ("0x0a", 1, "10000000000000000"),
        ("0x0c", 2, "5000000000000000"),
    ]
    assert round(doc["bids"][0]["score"], 6) == 60.0 and round(doc["bids"][1]["quality"], 6) == 0.28


def test_the_hosts_weights_come_from_the_flag_or_the_variable_and_a_bad_file_is_said_at_once(tmp_path: Path) -> None:
    import pytest

    from reconciler import FileUnusable
    from reconciler.market.rating import DEFAULT_WEIGHTS, Weights
    from reconciler.observe.market_input import WEIGHTS_ENV, competes, host_rating, with_weights

    config = tmp_path / "rating.json"
    weights = {"tps": 0, "ttft": 0, "duration": 0, "success": 0.5, "stake": 0.5}
    config.write_text(json.dumps({"algorithm": "default", "params": {"weights": weights}}))
    assert host_rating({}).weights == DEFAULT_WEIGHTS
    environ = with_weights({"KEEP": "1"}, config)
    assert environ == {"KEEP": "1", WEIGHTS_ENV: str(config)}
    rating = host_rating(environ)
    assert rating.weights == Weights(0, 0, 0, 0.5, 0.5) and rating.source == "weights from rating.json"
    assert with_weights({WEIGHTS_ENV: str(config)}, None) == {WEIGHTS_ENV: str(config)}  # the variable alone
    config.write_text(json.dumps({"algorithm": "default", "params": {"weights": {"tps": 0.5}}}))
    with pytest.raises(FileUnusable, match="must sum to 1"):
        with_weights({}, config)
    # an allow list: buyers running it never weigh a provider outside it, so neither does the policy
    allowed = "0x" + "aa" * 20
    config.write_text(
        json.dumps({"algorithm": "default", "params": {"weights": weights}, "providerAllowlist": [allowed]})
    )
    rating = host_rating(with_weights({}, config))
    bid = MarketBid("0x01", allowed, 1, 1, ProviderModelStats(SD(0, 0), SD(0, 0), 0, 0, 0))
    assert competes(bid, PROVIDER.lower(), rating)
    assert not competes(replace(bid, provider="0x" + "bb" * 20), PROVIDER.lower(), rating)
    assert not competes(replace(bid, provider=PROVIDER.lower()), PROVIDER.lower(), host_rating({}))  # ours


def test_every_consumer_resolves_the_hosts_weights_flag_over_variable_over_default(tmp_path: Path) -> None:
    from reconciler.market.rating import DEFAULT_WEIGHTS, Weights
    from reconciler.observe.market_input import WEIGHTS_ENV, host_rating

    by_env, by_flag = tmp_path / "env.json", tmp_path / "flag.json"
    by_env.write_text(json.dumps({"algorithm": "default", "params": {"weights": {"stake": 1}}}))
    by_flag.write_text(json.dumps({"algorithm": "default", "params": {"weights": {"tps": 1}}}))
    default = host_rating({}, None)
    assert (
        default.weights == DEFAULT_WEIGHTS and default.is_default and default.source == "the router's default weights"
    )
    assert host_rating({WEIGHTS_ENV: ""}, None).is_default  # an empty variable: the defaults
    env = host_rating({WEIGHTS_ENV: str(by_env)}, None)
    assert env.weights == Weights(0, 0, 0, 0, 1) and not env.is_default and env.source == "weights from env.json"
    flag = host_rating({WEIGHTS_ENV: str(by_env)}, by_flag)  # the flag wins over the variable
    assert flag.weights == Weights(1, 0, 0, 0, 0) and flag.source == "weights from flag.json"
    assert host_rating({}, by_flag) == flag

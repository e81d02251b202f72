"""Issue 31's acceptance for `reconcile market`: on a real devnet three providers bid on one model at different
prices, and closed sessions with signed receipts give them different stats; `reconcile market` ranks them as a
hand computation of the router's formula does, in JSON (a `rank` per bid), text and Markdown, with our rank,
the price that would rank us first and the one that keeps our rank; `--weights` takes a router rating config;
the status page carries the same ranking in its market panel.

The scene (stats worked out by hand from the contracts' Welford updates in tests/chain/test_market_reader_devnet.py):
- ours (the example provider, stake 0.2 MOR = the minimum) at 0.007 MOR/s: one session of 600 s, tps 20000, ttft 400;
- B (stake 1.1 MOR) at 0.006 MOR/s: one session of 1200 s, tps 10000, ttft 800;
- C (stake 20 MOR, which the router's int64 reads as ~1.553 MOR) at 0.005 MOR/s: one disputed session.
The model's stats: 2 providers, tps mean 15000 sqSum 5e7, ttft 600 / 80000, duration 900 / 180000, so every
z-score is ±sqrt(0.5) (or -3 sqrt(0.5) for C's zeros): with a = (3 + sqrt(0.5)) / 6, b = (3 - sqrt(0.5)) / 6,
c = (3 - 3 sqrt(0.5)) / 6, c' = (3 + 3 sqrt(0.5)) / 6:
  ours  = 0.24a + 0.08a + 0.24b + 0.32*1 + 0.12*0             = 0.6094280904  -> / 0.007 = 87.0612
  B     = 0.24b + 0.08b + 0.24a + 0.32*1 + 0.12*0.5           = 0.6505719096  -> / 0.006 = 108.4287
  C     = 0.24c + 0.08c' + 0.24c + 0 + 0.12*(1.3532559/1.8)    = 0.2287957055  -> / 0.005 = 45.7591
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from reconciler.devnet import local as devnet
from reconciler.devnet.local import dev_accounts
from tests.support.apply_helpers import DevnetCase, example_in
from tests.support.market_scene import Closed, close_sessions, register_and_bid
from tests.support.ports import free_port

pytestmark = pytest.mark.devnet

MOR = 10**18
A = (3 + math.sqrt(0.5)) / 6
B = (3 - math.sqrt(0.5)) / 6
C_LOW = (3 - 3 * math.sqrt(0.5)) / 6
C_HIGH = (3 + 3 * math.sqrt(0.5)) / 6
WRAPPED_STAKE = (20 * MOR - 2**64 - 2 * MOR // 10) / (18 * MOR // 10)  # 20 MOR as Go's Int64() reads it


def test_reconcile_market_ranks_three_providers_as_the_router_does(tmp_path: Path) -> None:
    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = devnet.up(d, free_port())
    try:
        case = DevnetCase(info=info, dir=d, work=work, yaml=example_in(work), state=tmp_path / "state")
        case.edit('pricePerSecond: "0.006 MOR"', 'pricePerSecond: "0.007 MOR"')
        applied = case.reconcile("apply", str(case.yaml), "--auto-approve", "--state-dir", str(case.state))
        assert applied.returncode == 0, applied.stdout + applied.stderr

        before = _market(case)
        chat = next(m for m in before["models"] if m["name"] == "demo-chat")
        assert chat["own"] is True
        model = bytes.fromhex(chat["modelId"][2:])
        (only,) = chat["bids"]
        assert only["ours"] and only["rank"] == 1 and chat["ours"]["rank"] == 1
        assert chat["ours"]["first"]["price"] is None and "any price" in chat["ours"]["first"]["why"]

        w3, diamond, accounts = case.w3, info["diamond"], dev_accounts()
        b, c = accounts[3], accounts[4]
        bid_b = register_and_bid(w3, diamond, b.address, 11 * MOR // 10, model, 6 * 10**15)
        bid_c = register_and_bid(w3, diamond, c.address, 20 * MOR, model, 5 * 10**15)
        ours = bytes.fromhex(only["bidId"][2:])
        buyer = accounts[8].address
        close_sessions(w3, diamond, buyer, case.key(1), ours, [Closed(600, 20_000, 400)])
        close_sessions(w3, diamond, buyer, b.private_key, bid_b, [Closed(1200, 10_000, 800)])
        close_sessions(w3, diamond, buyer, c.private_key, bid_c, [Closed(900, 1, 1, signed_by_provider=False)])

        doc = _market(case)
        chat = next(m for m in doc["models"] if m["name"] == "demo-chat")
        assert chat["modelStats"]["count"] == 2
        q_ours = 0.24 * A + 0.08 * A + 0.24 * B + 0.32
        q_b = 0.24 * B + 0.08 * B + 0.24 * A + 0.32 + 0.12 * 0.5
        q_c = 0.24 * C_LOW + 0.08 * C_HIGH + 0.24 * C_LOW + 0.12 * WRAPPED_STAKE
        assert (q_ours, q_b, q_c) == pytest.approx((0.6094280904, 0.6505719096, 0.2287957055), abs=1e-9)
        got = [(x["rank"], x["provider"], x["quality"], x["score"]) for x in chat["bids"]]
        assert got == [
            (1, b.address.lower(), pytest.approx(q_b, rel=1e-12), pytest.approx(q_b / 0.006, rel=1e-12)),
            (2, case.provider.lower(), pytest.approx(q_ours, rel=1e-12), pytest.approx(q_ours / 0.007, rel=1e-12)),
            (3, c.address.lower(), pytest.approx(q_c, rel=1e-12), pytest.approx(q_c / 0.005, rel=1e-12)),
        ]
        assert [x["price"]["morPerHour"] for x in chat["bids"]] == ["21.6 MOR", "25.2 MOR", "18 MOR"]
        assert chat["bids"][2]["terms"]["stake"] == pytest.approx(WRAPPED_STAKE, rel=1e-12)
        mine = chat["ours"]
        assert mine["rank"] == 2 and mine["bidId"] == only["bidId"]
        # rank 1: beat B's score, q_ours / p > q_b / 0.006; keep #2: beat C's, q_ours / p > q_c / 0.005
        first, keep = int(mine["first"]["price"]["wei"]), int(mine["keep"]["price"]["wei"])
        assert first == pytest.approx(q_ours / (q_b / 0.006) * 1e18, rel=1e-9)
        assert keep == pytest.approx(q_ours / (q_c / 0.005) * 1e18, rel=1e-9)
        score_b, score_c = chat["bids"][0]["score"], chat["bids"][2]["score"]
        assert mine["quality"] / (first / 1e18) > score_b >= mine["quality"] / ((first + 1) / 1e18)
        assert mine["quality"] / (keep / 1e18) > score_c >= mine["quality"] / ((keep + 1) / 1e18)

        text = _run(case, "market", str(case.yaml))
        assert "ours #2 at score 87.06" in text and "rank 1 needs ≤ 0.00562054" in text
        assert "keeping #2 needs ≤ 0.01331817" in text
        markdown = _run(case, "market", str(case.yaml), "--format", "markdown")
        assert "| 2 | 0x7099…79c8 (ours) | 0.007 | 25.2 |" in markdown

        # another rating config: tps only; ours has the best tps, so ours ranks first
        config = work / "rating-config.json"
        config.write_text(json.dumps({"algorithm": "default", "params": {"weights": {"tps": 1}}}))
        by_tps = _market(case, "--weights", str(config))
        chat = next(m for m in by_tps["models"] if m["name"] == "demo-chat")
        assert [x["provider"] for x in chat["bids"]] == [case.provider.lower(), b.address.lower(), c.address.lower()]
        assert by_tps["weights"]["tps"] == 1 and "rating-config.json" in by_tps["weightsSource"]
        config.write_text(json.dumps({"algorithm": "default", "params": {"weights": {"tps": 0.5}}}))
        bad = case.reconcile("market", str(case.yaml), "--weights", str(config))
        assert bad.returncode == 1 and "sum to 1" in bad.stderr

        page = _run(case, "status", str(case.yaml), "--format", "html")
        assert 'id="market"' in page and "ours #2 at score 87.06" in page
        assert "the router&#x27;s default weights" in page  # escaped, as any weights' source is

        # the host's setting by RECONCILE_WEIGHTS alone: `market`, the page's panel and `status` rank and say as it
        tps_only = work / "tps-only.json"
        tps_only.write_text(json.dumps({"algorithm": "default", "params": {"weights": {"tps": 1}}}))
        host = {"RECONCILE_WEIGHTS": str(tps_only)}
        by_env = json.loads(_run(case, "market", str(case.yaml), "--format", "json", env=host))
        chat = next(m for m in by_env["models"] if m["name"] == "demo-chat")
        assert chat["ours"]["rank"] == 1 and by_env["weightsSource"] == "weights from tps-only.json"
        page = _run(case, "status", str(case.yaml), "--format", "html", env=host)
        assert "ours #1 at score" in page and "ours #2" not in page and "weights from tps-only.json" in page
        assert "weights: weights from tps-only.json" in _run(case, "status", str(case.yaml), env=host)
    finally:
        devnet.down(d)


def _run(case: DevnetCase, *args: str, env: dict[str, str] | None = None) -> str:
    done = case.reconcile(*args, extra_env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _market(case: DevnetCase, *extra: str) -> dict:  # type: ignore[type-arg]
    return json.loads(_run(case, "market", str(case.yaml), "--format", "json", *extra))  # type: ignore[no-any-return]

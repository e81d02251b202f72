"""`bid.market` on a real devnet (issue 31): three competing providers on one model, two with closed sessions
(signed receipts, so different stats), and our provider bidding with `rank: 1`.

Apply posts the price the router's formula gives for rank 1, bounded by the floor and the ceiling, and planning
again proposes nothing (our own bid is left out of the market). A competitor's repost, then a watcher run: one
reprice, with the fee and the reasoning; a second move within the churn guard's hour is held; a change whose fee
would not pay back is not proposed, and the plan says why. `plan` never runs a price command, and says so."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.chain.market_reader import read_markets, read_standing
from reconciler.desired.loader import load_desired
from reconciler.devnet import local as devnet
from reconciler.devnet import unlocked
from reconciler.devnet.local import dev_accounts
from reconciler.market.ids import model_id
from reconciler.market.policy import bounded
from reconciler.market.rating import ModelMarket, price_for_rank, quality_of, rank_market
from reconciler.observe.price_command import PriceCommand
from reconciler.pipeline import plan_for
from reconciler.plan.model import ActionKind, Status
from reconciler.watch.loop import Watcher, WatchOptions
from reconciler.watch.triggers import Trigger
from tests.support.apply_helpers import DevnetCase, example_in
from tests.support.market_scene import Closed, close_sessions, market_contract, register_and_bid
from tests.support.ports import free_port

pytestmark = pytest.mark.devnet

MOR = 10**18
ACCOUNTS = dev_accounts()
FLOOR, CEILING = 5 * 10**15, 30 * 10**15  # 0.005 (the devnet's minimum price) .. 0.03 MOR/s


def market_yaml(model_hex: str, per_day: int) -> str:
    return f"""
  - modelId: "{model_hex}"
    upstream: local-stub
    upstreamModel: shared-model
    concurrentSlots: 4
    bid:
      market: {{floor: "0.005 MOR", ceiling: "0.03 MOR", rank: 1, utilizedSecondsPerDay: {per_day}}}
"""


def expected_rank_1(w3: Web3, diamond: str, model_hex: str, ours: str) -> int:
    """The rank-1 price by the router's formula, from the chain's market without our bid, bounded."""
    market = market_contract(w3, diamond)
    full = read_markets(w3, market, [model_hex])[model_hex]
    others = ModelMarket(
        full.model_id, full.model_stats, full.min_stake, tuple(b for b in full.bids if b.provider != ours)
    )
    stake, stats = read_standing(w3, market, ours, [model_hex])
    price = price_for_rank(quality_of(stats[model_hex], stake, others), rank_market(others), 1)
    assert price is not None
    return bounded(price, FLOOR, CEILING)


def our_bid(w3: Web3, diamond: str, model_hex: str, ours: str) -> tuple[int, int]:
    """(our bid's price, its rank among every bid of the model, by the router's formula)."""
    full = read_markets(w3, market_contract(w3, diamond), [model_hex])[model_hex]
    me = next(s for s in rank_market(full) if s.bid.provider == ours)
    return me.bid.price_per_second, me.rank


def test_rank_1_policy_prices_reprices_once_and_holds(tmp_path: Path) -> None:
    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = devnet.up(d, free_port())
    try:
        case = DevnetCase(info=info, dir=d, work=work, yaml=example_in(work), state=tmp_path / "state")
        w3, diamond = case.w3, info["diamond"]
        ours = case.provider.lower()
        market = market_contract(w3, diamond)
        # a model someone else owns, three competitors on it; A and B have a closed session each, C none
        owner = ACCOUNTS[2].address
        token = w3.eth.contract(address=info["mor"], abi=load_artifact("MorToken").abi)
        unlocked.send(w3, token.functions.approve(market.address, MOR // 10), owner)
        unlocked.send(
            w3,
            market.functions.modelRegister(owner, b"\x09" * 32, b"\x00" * 32, 0, MOR // 10, "shared", ["llm"]),
            owner,
        )
        model_hex = model_id(owner, "0x" + "09" * 32)
        model = bytes.fromhex(model_hex[2:])
        a, b, c = ACCOUNTS[3], ACCOUNTS[4], ACCOUNTS[5]
        bid_a = register_and_bid(w3, diamond, a.address, 2 * MOR // 10, model, 40 * 10**15)
        bid_b = register_and_bid(w3, diamond, b.address, 11 * MOR // 10, model, 50 * 10**15)
        register_and_bid(w3, diamond, c.address, 5 * MOR // 10, model, 60 * 10**15)
        buyer = ACCOUNTS[8].address
        close_sessions(w3, diamond, buyer, a.private_key, bid_a, [Closed(600, 20_000, 400)])
        close_sessions(w3, diamond, buyer, b.private_key, bid_b, [Closed(1200, 10_000, 800)])

        text = case.yaml.read_text()
        text = text.replace("\nproxy:", market_yaml(model_hex, 3600) + "\nproxy:", 1)
        text = text.replace("maxConcurrency: 8", "maxConcurrency: 12")
        text = text.replace("minPriceChangePercent: 0", "minPriceChangePercent: 1")
        text = text.replace("minRepostIntervalSeconds: 0", "minRepostIntervalSeconds: 3600")
        case.yaml.write_text(text)

        # plan: the reasoning; `plan` never runs a price command, and says so
        r = case.reconcile("plan", str(case.yaml), extra_env={"RECONCILE_PRICE_COMMAND": "/bin/false"})
        assert r.returncode == 0, r.stdout + r.stderr
        assert "only apply and watch run a price command, `plan` and `status` never do" in r.stdout + r.stderr
        assert "no bid yet (quality" in r.stdout and "rank 1 needs <=" in r.stdout

        # apply: the rank-1 price by the formula, bounded; our bid is then first by score
        want = expected_rank_1(w3, diamond, model_hex, ours)
        assert FLOOR < want < CEILING  # the formula's own answer, not a bound
        r = case.apply()
        assert r.returncode == 0, r.stdout + r.stderr
        assert our_bid(w3, diamond, model_hex, ours) == (want, 1)
        r = case.reconcile("plan", str(case.yaml), "--detailed-exitcode")
        assert r.returncode == 0, r.stdout + r.stderr  # planning again proposes nothing

        # competitor A reposts cheaper: an hour later, a watcher run reprices once, showing the fee
        fee = int(market.functions.getBidFee().call())
        unlocked.send(w3, market.functions.deleteModelBid(bid_a), a.address)
        unlocked.send(w3, token.functions.approve(market.address, fee), a.address)
        unlocked.send(w3, market.functions.postModelBid(a.address, model, 30 * 10**15), a.address)
        w3.provider.make_request("evm_increaseTime", [3700])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        desired, _ = load_desired(case.yaml, case.env())
        _, p = plan_for(desired, case.env(), state_dir=case.state)
        (post,) = [x for x in p.pending if x.kind is ActionKind.BID_POST]
        assert "ours #2 of 4" in post.reason and "fee pays back in" in post.reason, post.reason
        assert post.cost.fee == fee
        again = expected_rank_1(w3, diamond, model_hex, ours)
        assert again < want
        posts_before = len(case.bid_posts())
        lines: list[str] = []
        opts = WatchOptions(path=case.yaml, state_dir=case.state, auto_apply=True, environ=case.env(), out=lines.append)
        watcher = Watcher(opts)
        try:
            first = watcher.run([Trigger("chain")])
            assert first["result"] == "applied" or first["result"] == "converged", first
            assert [x for x in first["actions"] if x.startswith("bid.post")] == [f"bid.post:{model_hex}"], first
            assert our_bid(w3, diamond, model_hex, ours) == (again, 1)
            second = watcher.run([Trigger("timer")])
            assert not second.get("actions"), second  # once
            assert len(case.bid_posts()) == posts_before + 1
        finally:
            watcher.files.stop()

        # A cuts again at once: within the churn guard's hour our answer is held, with the market's reasoning
        bids_a = market.functions.getProviderActiveBids(a.address, 0, 10).call()[0]
        unlocked.send(w3, market.functions.deleteModelBid(bids_a[0]), a.address)
        unlocked.send(w3, token.functions.approve(market.address, fee), a.address)
        unlocked.send(w3, market.functions.postModelBid(a.address, model, 20 * 10**15), a.address)
        _, p = plan_for(desired, case.env(), state_dir=case.state)
        (held,) = [x for x in p.actions if x.kind is ActionKind.BID_POST and x.subject.model_id == model_hex]  # type: ignore[union-attr]
        assert held.status is Status.HELD and "churn guard" in held.reason and "rank 1 needs" in held.reason

        # at 1 s a day the fee would never pay back within 7 days: not proposed, and the plan says why
        w3.provider.make_request("evm_increaseTime", [3700])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        case.edit("utilizedSecondsPerDay: 3600", "utilizedSecondsPerDay: 1")
        desired, _ = load_desired(case.yaml, case.env())
        _, p = plan_for(desired, case.env(), state_dir=case.state)
        assert not [x for x in p.actions if x.kind is ActionKind.BID_POST], p.actions
        assert any("pays back in" in w and "more than paybackDays 7 days" in w for w in p.warnings), p.warnings

        # the operator's command, on the host: a crash changes no bid (and says why); an answer is bounded and posted
        case.edit("utilizedSecondsPerDay: 1", "utilizedSecondsPerDay: 3600")
        crash, answer = work / "crash.py", work / "answer.py"
        crash.write_text("import sys\nsys.stderr.write('no feed\\n')\nsys.exit(3)\n")
        # the answer is read from a file, and each call appends a line to another: one call per model and run
        said, calls = work / "price.txt", work / "calls.txt"
        said.write_text("0.5 MOR")
        answer.write_text(
            "import json, sys\njson.load(sys.stdin)\n"
            f"open({str(calls)!r}, 'a').write('called\\n')\nprint(open({str(said)!r}).read())\n"
        )
        posts = len(case.bid_posts())
        r = case.apply("--price-command", f"{sys.executable} {crash}")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "the price command exited with status 3: no feed: the bid is left as it is" in r.stdout + r.stderr
        assert len(case.bid_posts()) == posts
        r = case.apply(extra_env={"RECONCILE_PRICE_COMMAND": f"{sys.executable} {answer}"})
        assert r.returncode == 0, r.stdout + r.stderr
        assert "the price command says 0.5 MOR/s" in r.stdout
        assert our_bid(w3, diamond, model_hex, ours)[0] == CEILING  # bounded by the ceiling
        assert calls.read_text().count("called") == 1  # once, though apply planned before and after posting

        # a saved plan applied under a price command that answers another price is refused as stale
        w3.provider.make_request("evm_increaseTime", [3700])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        saved = work / "saved-plan.json"
        r = case.reconcile("plan", str(case.yaml), "--out", str(saved))  # no command: the rank-1 cut
        assert r.returncode == 0 and "rank 1 needs <=" in r.stdout, r.stdout + r.stderr
        said.write_text("0.02 MOR")
        posts = len(case.bid_posts())
        r = case.reconcile(
            "apply",
            str(case.yaml),
            "--plan",
            str(saved),
            "--yes",
            "--state-dir",
            str(case.state),
            "--price-command",
            f"{sys.executable} {answer}",
        )
        out = r.stdout + r.stderr
        assert r.returncode == 1 and "stale plan:" in out and f"bid.post:{model_hex}" in out, out
        assert len(case.bid_posts()) == posts and our_bid(w3, diamond, model_hex, ours)[0] == CEILING

        # a watcher run that reprices by the command asks it once too
        before = calls.read_text().count("called")
        opts = WatchOptions(
            path=case.yaml,
            state_dir=case.state,
            auto_apply=True,
            environ=case.env(),
            out=lines.append,
            price_command=PriceCommand(f"{sys.executable} {answer}"),
        )
        watcher = Watcher(opts)
        try:
            run = watcher.run([Trigger("timer")])
            assert run["result"] in ("applied", "converged") and f"bid.post:{model_hex}" in run["actions"], run
        finally:
            watcher.files.stop()
        assert our_bid(w3, diamond, model_hex, ours)[0] == 20 * 10**15
        assert calls.read_text().count("called") == before + 1

        # no utilisation declared and no session of ours on the model: no payback can be proven, nothing proposed
        # (the day's four reposts are used up: the cap is raised so that the payback is what decides)
        case.edit("rank: 1, utilizedSecondsPerDay: 3600}", "rank: 1, maxRepostsPerDay: 9}")
        w3.provider.make_request("evm_increaseTime", [3700])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        desired, _ = load_desired(case.yaml, case.env())
        _, p = plan_for(desired, case.env(), state_dir=case.state)
        assert not [x for x in p.actions if x.kind is ActionKind.BID_POST], p.actions
        assert any(
            "no session on this model in the last" in w and "no payback can be proven" in w for w in p.warnings
        ), p.warnings

        # the host's rating config: its weights score the market, and the plan names the file
        rating = work / "rating.json"
        weights = {"tps": 0.2, "ttft": 0.2, "duration": 0.2, "success": 0.2, "stake": 0.2}
        rating.write_text(json.dumps({"algorithm": "default", "params": {"weights": weights}}))
        r = case.reconcile("plan", str(case.yaml), "--weights", str(rating))
        assert r.returncode == 0 and "at score 11.5 (weights from rating.json); not repriced" in r.stdout, r.stdout
        assert not any("at score 11.5" in w or "weights from" in w for w in p.warnings), p.warnings  # the defaults
    finally:
        devnet.down(d)

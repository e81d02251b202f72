"""`reconcile watch --auto-apply` finishes a drain on its own: a model marked `absent` while a buyer's session
is live keeps its forwarder entry and its registration until the session ends, and the first run after that
removes both, with no further edit."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.devnet import buyer as sessions_devnet
from reconciler.devnet import local as devnet
from reconciler.devnet.anvil import free_port
from tests.support.apply_helpers import DevnetCase, example_in
from tests.support.watch_helpers import watch_process

BUYER = 6


def test_watch_completes_a_drain_after_the_last_session_ends(tmp_path: Path) -> None:
    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = devnet.up(d, free_port())
    try:
        case = DevnetCase(info=info, dir=d, work=work, yaml=example_in(work), state=tmp_path / "state")
        fwd = work / "forwarder-models.json"
        args = [str(case.yaml), "--auto-apply", "--interval", "1", "--poll", "0.5", "--state-dir", str(case.state)]
        with watch_process(args, case.env(), work) as w:
            w.wait_run(lambda r: r["result"] == "converged")
            market, w3 = case.market(), case.w3
            bids, _ = market.functions.getProviderActiveBids(case.provider, 0, 10).call()
            chat = next(b for b in bids if market.functions.getBid(b).call()[2] == 6 * 10**15)  # demo-chat's price
            model = "0x" + bytes(market.functions.getBid(chat).call()[1]).hex()
            stake = sessions_devnet.stake_for_duration(w3, info["diamond"], chat, 600)
            session = sessions_devnet.open_session(
                w3, info["diamond"], info["accounts"][BUYER]["address"], case.key(1), chat, stake
            )

            m = w.mark()
            case.edit("  - name: demo-chat\n", "  - name: demo-chat\n    absent: true\n")
            w.wait_run(lambda r: r["result"] == "converged", since=m)
            assert not market.functions.isBidActive(chat).call()
            assert model in {e["modelId"] for e in json.loads(fwd.read_text())["models"]}  # still served
            assert market.functions.getIsModelActive(bytes.fromhex(model[2:])).call()

            m = w.mark()
            now = sessions_devnet.latest_timestamp(w3)
            w3.provider.make_request("evm_increaseTime", [session.ends_at - now + 1])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            w.wait_run(lambda r: r["result"] == "converged" and r["txs"] > 0, since=m)  # no edit: a timer/block run
            assert model not in {e["modelId"] for e in json.loads(fwd.read_text())["models"]}
            assert not market.functions.getIsModelActive(bytes.fromhex(model[2:])).call()
            assert w.terminate() == 0
    finally:
        devnet.down(d)

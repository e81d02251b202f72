"""`reconcile watch` as a real child process against a real devnet and the real forwarder: it converges YAML
edits (chain and proxy), heals a bid deleted behind its back, ignores a broken edit, obeys the pause switch and
the rolling-day budget, stops applying when its key is used elsewhere, and exits 0 on SIGTERM.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from web3 import Web3

from reconciler.desired.modelsconfig import config_version
from reconciler.desired.references import fingerprint
from reconciler.devnet import local as devnet
from tests.support.apply_helpers import DevnetCase, example_in
from tests.support.ports import free_port
from tests.support.watch_helpers import (
    active_bids,
    delete_bid,
    forwarder_process,
    grant_delegate,
    watch_process,
    webhook_receiver,
)

pytestmark = pytest.mark.devnet

ADMIN = "watch-admin-token"
CHAT_PRICE = 6 * 10**15  # "0.006 MOR"


def _served(admin: int) -> dict[str, Any]:
    r = httpx.get(f"http://127.0.0.1:{admin}/admin/config", headers={"Authorization": f"Bearer {ADMIN}"})
    return dict(r.json())


def _chat_bid(case: DevnetCase, prices: set[int] | None = None) -> tuple[str, bytes, int]:
    bids = active_bids(case.w3, case.info, case.provider)
    for mid, (bid, price) in bids.items():
        if price < 10**16 and (prices is None or price in prices):  # the embeddings bid costs ~0.0122 MOR/s
            return mid, bid, price
    raise AssertionError(f"no chat bid among {bids}")


def _reconcile(case: DevnetCase, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *args], capture_output=True, text=True, cwd=case.work, timeout=60
    )


def test_watch_auto_apply_converges_heals_and_stays_safe(tmp_path: Path) -> None:
    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = devnet.up(d, free_port())
    try:
        yaml = example_in(work)
        case = DevnetCase(info=info, dir=d, work=work, yaml=yaml, state=tmp_path / "state")
        w3 = case.w3
        delegate = info["accounts"][2]["address"]
        grant_delegate(w3, info, case.provider, delegate)
        keyfile = work / "upstream.key"
        keyfile.write_text("upstream-key-one\n")
        keyfile.chmod(0o600)
        config = work / "forwarder-models.json"
        config.write_text('{"models": []}\n')
        with forwarder_process(config, ADMIN) as (_port, admin), webhook_receiver() as hooks:
            text = yaml.read_text()
            text = text.replace(
                '  address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"\n  privateKey: env:DEVNET_PROVIDER_KEY',
                f'  address: "{delegate}"\n  privateKey: env:DELEGATE_KEY',
            )
            text = text.replace("    apiKey: env:DEMO_UPSTREAM_KEY", f"    apiKey: file:{keyfile}")
            text = text.replace(
                "proxy:\n", f"proxy:\n  adminUrl: http://127.0.0.1:{admin}\n  adminToken: env:FWD_ADMIN_TOKEN\n"
            )
            # room for the first apply (1.0 MOR) + 4 reposts at 0.3 MOR; the 5th repost must be refused
            text = text.replace(
                "policy:\n",
                'policy:\n  maxSpendPerDay: "2.3 MOR"\n  alerts:\n    minProviderMor: "1000000 MOR"\n',
            )
            yaml.write_text(text)
            metrics_port = free_port()
            env = case.env(
                DELEGATE_KEY=case.key(2), FWD_ADMIN_TOKEN=ADMIN, WATCH_HOOK=hooks.url, DEVNET_PROVIDER_KEY=""
            )
            args = [str(yaml), "--auto-apply", "--poll", "0.2", "--interval", "60", "--state-dir", str(case.state)]
            args += ["--webhook", "env:WATCH_HOOK", "--metrics-listen", f"127.0.0.1:{metrics_port}"]
            with watch_process(args, env, work) as w:
                first = w.wait_run(lambda r: "start" in r["trigger"])
                assert first["result"] == "converged", first
                assert first["mode"] == "apply" and first["txs"] == 5 and first["morSpentWei"] == str(10**18 - 0)
                assert "low-funds" in first["alerts"] and hooks.named("low-funds")
                assert _served(admin)["version"] == config_version(json.loads(config.read_text()))
                chat_model, _bid, price = _chat_bid(case)
                assert price == CHAT_PRICE

                # a proxy-only edit reaches the running forwarder without a transaction
                posts = len(case.bid_posts())
                m = w.mark()
                case.edit(
                    "concurrentSlots: 4\n    bid:\n      costModel", "concurrentSlots: 2\n    bid:\n      costModel"
                )
                r = w.wait_run(lambda r: r["result"] == "converged" and bool(r["actions"]), m)
                assert r["txs"] == 0 and r["actions"] == ["proxy.write-config:forwarder", "proxy.reload:forwarder"]
                served = _served(admin)
                emb = next(x for x in served["models"] if x["modelName"] == "text-embedding-3-small")
                assert emb["concurrentSlots"] == 2 and len(case.bid_posts()) == posts

                # the forwarder's file changed by hand: the served version moves, the watcher restores it
                doc = json.loads(config.read_text())
                for x in doc["models"]:
                    x["concurrentSlots"] = 9
                m = w.mark()
                config.write_text(json.dumps(doc))  # the forwarder reloads a changed file by itself
                r = w.wait_run(lambda r: "forwarder" in r["trigger"] and r["result"] == "converged", m)
                assert "proxy.write-config:forwarder" in r["actions"] and r["txs"] == 0
                assert {x["concurrentSlots"] for x in _served(admin)["models"]} == {4, 2}

                # a key rotation in the referenced file, no YAML edit
                m = w.mark()
                keyfile.write_text("upstream-key-two\n")
                w.wait_run(lambda r: r["result"] == "converged" and bool(r["actions"]), m)
                assert {x["apiKeyFingerprint"] for x in _served(admin)["models"]} == {fingerprint("upstream-key-two")}

                # a price edit converges the chain (one repost)
                m = w.mark()
                case.edit('pricePerSecond: "0.006 MOR"', 'pricePerSecond: "0.007 MOR"')
                r = w.wait_run(lambda r: r["result"] == "converged" and r["txs"] > 0, m)
                assert r["txs"] == 1 and _chat_bid(case)[2] == 7 * 10**15

                # a broken edit does nothing and is reported
                good = yaml.read_text()
                posts = len(case.bid_posts())
                m = w.mark()
                yaml.write_text(good.replace('pricePerSecond: "0.007 MOR"', "pricePerSecond: [oops"))
                r = w.wait_run(lambda r: r["result"] == "invalid-desired-state", m)
                assert "desired.yaml" in r["error"]
                assert hooks.named("invalid-desired-state")
                assert len(case.bid_posts()) == posts and _chat_bid(case)[2] == 7 * 10**15
                m = w.mark()
                yaml.write_text(good)
                w.wait_run(lambda r: r["result"] == "no-changes", m)

                # a bid deleted behind its back (the provider's own key) is healed
                _mid, bid, _price = _chat_bid(case)
                m = w.mark()
                delete_bid(w3, info, bid, case.provider)
                r = w.wait_run(lambda r: r["result"] == "converged" and r["txs"] > 0, m)
                assert r["txs"] == 1 and f"bid.post:{chat_model}" in r["actions"]
                assert _chat_bid(case)[2] == 7 * 10**15

                # the pause switch: reports, applies nothing, says so; --resume applies
                assert _reconcile(case, "watch", "--suspend", "--state-dir", str(case.state)).returncode == 0
                m = w.mark()
                case.edit('pricePerSecond: "0.007 MOR"', 'pricePerSecond: "0.008 MOR"')
                r = w.wait_run(lambda r: r["result"] == "drift-reported", m)
                assert r["mode"] == "alert-only" and r["suspended"] is True
                assert any("--suspend" in x for x in r["reasons"])
                assert hooks.named("drift") and _chat_bid(case)[2] == 7 * 10**15
                m = w.mark()
                assert _reconcile(case, "watch", "--resume", "--state-dir", str(case.state)).returncode == 0
                r = w.wait_run(lambda r: r.get("resumed") and r["result"] == "converged", m)
                assert _chat_bid(case)[2] == 8 * 10**15

                # a runaway price oscillation: the rolling-day budget lets one more repost through, then stops
                m = w.mark()
                case.edit('pricePerSecond: "0.008 MOR"', 'pricePerSecond: "0.009 MOR"')
                w.wait_run(lambda r: r["result"] == "converged" and r["txs"] > 0, m)
                posts = len(case.bid_posts())
                m = w.mark()
                case.edit('pricePerSecond: "0.009 MOR"', 'pricePerSecond: "0.008 MOR"')
                r = w.wait_run(lambda r: r["result"] == "budget-exceeded", m)
                assert "maxSpendPerDay" in r["error"]
                assert any("maxSpendPerDay" in e["summary"] for e in hooks.named("failure"))
                assert len(case.bid_posts()) == posts and _chat_bid(case)[2] == 9 * 10**15

                # its own key used elsewhere: it stops applying and alerts
                m = w.mark()
                d_addr = Web3.to_checksum_address(delegate)
                w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": d_addr, "to": d_addr, "value": 1}))
                r = w.wait_run(lambda r: r.get("writerConflict") is True, m)
                assert "nonce" in r["trigger"] and r["mode"] == "alert-only", r
                assert hooks.named("writer-conflict")
                m = w.mark()
                case.edit('maxSpendPerDay: "2.3 MOR"', 'maxSpendPerDay: "9 MOR"')
                r = w.wait_run(lambda r: r["result"] == "drift-reported", m)
                assert r["mode"] == "alert-only" and r["writerConflict"] is True
                assert len(case.bid_posts()) == posts

                metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
                assert 'reconcile_watch_runs_total{result="converged"}' in metrics
                assert 'reconcile_watch_alerts_total{event="writer-conflict"} 1' in metrics
                assert "reconcile_watch_auto_apply 0" in metrics
                assert httpx.get(f"http://127.0.0.1:{metrics_port}/healthz").status_code == 200
                assert w.terminate() == 0
            everything = json.dumps(hooks.events) + "".join(w.stderr) + json.dumps(w.runs)
            for secret in ("upstream-key-one", "upstream-key-two", ADMIN, "s3cret-hook", case.key(2)[2:]):
                assert secret not in everything
    finally:
        devnet.down(d)

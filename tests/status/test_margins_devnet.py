"""Margins (issue 31, acceptance): requests streamed through the real forwarder to an upstream stub that reports
usage (cached tokens too), a buyer's session on the bid, then `reconcile status --format json` and the page
show per model the measured tokens, the upstream cost from the cost model, the MOR earned and the margin."""

from __future__ import annotations

import asyncio
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import openai
from web3 import Web3

from proxy.server import running
from proxy.settings import Settings
from proxy.state import ProxyState
from reconciler.devnet import buyer as sessions_devnet
from reconciler.devnet.anvil import Anvil
from reconciler.devnet.local import Deployment, dev_accounts
from reconciler.market import ids
from reconciler.status import usage_days
from tests.support.fwd_helpers import ADMIN_TOKEN
from tests.support.fwd_stubs import serve_upstream
from tests.support.ports import free_port
from tests.support.status_scene import PROVIDER, admin_env, apply_confirmed, reconcile, two_models_yaml
from tests.support.watch_helpers import watch_process

BUYER = dev_accounts()[8]
MID_A = ids.model_id(PROVIDER.address, ids.base_model_id_for_name("chat-a"))
MID_B = ids.model_id(PROVIDER.address, ids.base_model_id_for_name("chat-b"))
WEI_PER_MOR = 10**18


def _yaml(dep: Deployment, fwd: Path, upstream: str, admin_url: str | None) -> str:
    return two_models_yaml(
        dep,
        fwd,
        upstream,
        admin_url,
        "      costModel:\n        morUsd: '0.04'\n        perToken:\n          tokensPerSecond: 40\n"
        "          inputUsdPerToken: '0.000002'\n          outputUsdPerToken: '0.000008'\n"
        "          cachedInputUsdPerToken: '0.0000005'\n",
        "      costModel:\n        morUsd: '0.04'\n        subscription: {usdPerMonth: 200, utilizedSecondsPerMonth: 100000}\n",
    )


async def test_status_and_page_show_tokens_cost_and_margin_per_model(
    anvil: Anvil, w3: Web3, deployed: Deployment, tmp_path: Path
) -> None:
    fwd = tmp_path / "forwarder-models.json"
    path = tmp_path / "desired.yaml"
    env = admin_env(anvil.rpc_url)
    async with serve_upstream("openai") as up:
        path.write_text(_yaml(deployed, fwd, up.url, None))
        await asyncio.to_thread(apply_confirmed, env, path, tmp_path / "state")
        bid = bytes.fromhex(ids.bid_id(PROVIDER.address, MID_A, 0)[2:])
        stake = sessions_devnet.stake_for_duration(w3, deployed.diamond, bid, 600)
        stamp = sessions_devnet.latest_timestamp(w3)
        session = sessions_devnet.open_session(
            w3, deployed.diamond, BUYER.address, PROVIDER.private_key, bid, stake, approval_timestamp=stamp
        )
        w3.provider.make_request("evm_increaseTime", [100])  # type: ignore[arg-type]  # 100 s sold so far
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

        up.knobs.cached = 2  # of the stub's 3 prompt tokens; 4 completion tokens each
        state = ProxyState(fwd, Settings(), client_token=None, admin_token=ADMIN_TOKEN)
        state.load_initial()
        async with running(state, watch=False) as r:
            path.write_text(_yaml(deployed, fwd, up.url, f"http://127.0.0.1:{r.admin_port}"))
            client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{r.data_port}/v1", api_key="x", max_retries=0)
            for _ in range(3):
                stream = await client.chat.completions.create(
                    model=MID_A,
                    messages=[{"role": "user", "content": "hi"}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
                assert [chunk async for chunk in stream]
            await client.chat.completions.create(model=MID_B, messages=[{"role": "user", "content": "hi"}])
            out = await asyncio.to_thread(reconcile, env, "status", str(path), "--format", "json")
            text = await asyncio.to_thread(reconcile, env, "status", str(path))
            page = await asyncio.to_thread(reconcile, env, "status", str(path), "--format", "html")
            watched = await asyncio.to_thread(_watch_once, path, env, tmp_path)
    assert session.session_id

    assert out.returncode == 0, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    margins = doc["margins"]
    today = margins["days"][-1]
    rows = {m["name"]: m for m in today["models"]}
    a, b = rows["chat-a"], rows["chat-b"]
    assert a["modelId"] == MID_A.lower()
    assert a["tokens"] == {"prompt": 9, "completion": 12, "cached": 6, "cacheWrite": 0}
    # (9 - 6) x 0.000002 + 6 x 0.0000005 + 12 x 0.000008 = 0.000006 + 0.000003 + 0.000096
    assert a["costBasis"] == "perToken" and a["upstreamCostUsd"] == "0.000105"
    earned = {m["name"]: m["earnedToday"]["wei"] for m in doc["models"]}
    assert a["earned"]["wei"] == earned["chat-a"] > 0
    earned_usd = Fraction(a["earned"]["wei"], WEI_PER_MOR) * Fraction("0.04")
    assert a["earnedUsd"] == f"{float(earned_usd):.6f}"
    assert a["marginUsd"] == f"{float(earned_usd - Fraction('0.000105')):.6f}"
    assert float(a["servedSeconds"]) > 0 and a["slots"] == 2 and a["slotUtilisation"] is not None
    assert a["measuredTokensPerSecond"] is not None
    # chat-b: one buffered request; a subscription costs its share of the day so far, whatever the tokens
    assert b["tokens"] == {"prompt": 3, "completion": 4, "cached": 2, "cacheWrite": 0}
    span = today["spanSeconds"]
    assert b["costBasis"] == "subscription"
    assert b["upstreamCostUsd"] == f"{float(Fraction(200 * span, 2_628_000)):.6f}"
    assert b["earned"]["wei"] == 0 and b["marginUsd"] == f"{-float(Fraction(200 * span, 2_628_000)):.6f}"

    assert text.returncode == 0, text.stderr
    assert "margins today" in text.stdout and "cost 0.000105 USD" in text.stdout

    assert page.returncode == 0, page.stderr
    html = page.stdout
    assert "Margins" in html and "chat-a" in html and "0.000105" in html and a["marginUsd"] in html
    for secret in (ADMIN_TOKEN, PROVIDER.private_key, "k-up"):
        assert secret not in out.stdout + text.stdout + html

    # the watcher folds the same counters into usage.json and shows today's margins on /metrics and its page
    metrics, api, ledger = watched
    labels = f'model="chat-a",model_id="{MID_A.lower()}"'
    assert f'reconcile_watch_model_tokens_today{{{labels},type="cached"}} 6' in metrics
    assert f"reconcile_watch_model_upstream_cost_today_usd{{{labels}}} 0.000105" in metrics
    assert f"reconcile_watch_model_earned_today_wei{{{labels}}} " in metrics
    assert f"reconcile_watch_model_margin_today_usd{{{labels}}} " in metrics
    watched_a = {m["name"]: m for m in api["margins"]["days"][-1]["models"]}["chat-a"]
    assert watched_a["tokens"] == a["tokens"] and watched_a["upstreamCostUsd"] == "0.000105"
    assert {MID_A.lower(), MID_B.lower()} <= set(ledger["last"])


def _watch_once(path: Path, env: dict[str, str], tmp_path: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A report-only watcher with its page: its /metrics and /api/status after its first run, and its usage.json."""
    port = free_port()
    state = tmp_path / "watch-state"
    args = [str(path), "--interval", "3600", "--state-dir", str(state), "--http-listen", f"127.0.0.1:{port}"]
    with watch_process(args, env, tmp_path) as w:
        w.wait_run(lambda r: r["event"] == "run", timeout=90)
        base = f"http://127.0.0.1:{port}"
        metrics = httpx.get(base + "/metrics", timeout=30).text
        api = httpx.get(base + "/api/status", timeout=30).json()
        assert w.terminate() == 0
    (ledger_path,) = state.glob(f"*/{usage_days.FILE}")
    return metrics, api, json.loads(ledger_path.read_text())

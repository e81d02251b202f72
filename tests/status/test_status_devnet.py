"""`reconcile status` on a real devnet with a real (in-process) forwarder holding a request in flight.

A buyer opens sessions on the applied bids; one ends (claimable), one is closed with the provider's signed
receipt (a success in getProviderModelStats), one stays live while the forwarder serves a request on it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from web3 import Web3

from proxy.server import running
from proxy.settings import Settings
from proxy.state import ProxyState
from reconciler.chain.artifacts import load_artifact
from reconciler.devnet import buyer as sessions_devnet
from reconciler.devnet.anvil import Anvil
from reconciler.devnet.local import Deployment, dev_accounts
from reconciler.market import ids
from reconciler.observe.slots import Slots, parse_metrics, read_slots
from reconciler.status.text import render_status
from tests.support.fwd_helpers import ADMIN_TOKEN
from tests.support.fwd_stubs import serve_upstream
from tests.support.ports import free_port
from tests.support.status_scene import PROVIDER, admin_env, apply_confirmed, reconcile, scene_env, two_models_yaml

MOR = 10**18
BUYER = dev_accounts()[8]
PRICE = 6 * 10**15  # 0.006 MOR/s
PRICE_B = 7 * 10**15
MID_A = ids.model_id(PROVIDER.address, ids.base_model_id_for_name("chat-a"))
MID_B = ids.model_id(PROVIDER.address, ids.base_model_id_for_name("chat-b"))


def test_parse_metrics_reads_in_flight_and_capacity_per_model_id() -> None:
    text = (
        "# HELP morpheus_proxy_in_flight In-flight requests per model.\n"
        "# TYPE morpheus_proxy_in_flight gauge\n"
        'morpheus_proxy_in_flight{model="a \\"quoted\\"",model_id="0xAB"} 2\n'
        'morpheus_proxy_in_flight{model="b",model_id="0xcd"} 0\n'
        'morpheus_proxy_capacity{model="a \\"quoted\\"",model_id="0xab"} 4\n'
        'morpheus_proxy_capacity{model="b",model_id="0xcd"} 0\n'
        'morpheus_proxy_requests_total{model="a",model_id="0xab",status="200"} 17\n'
        "morpheus_proxy_overhead_seconds_count 3\n"
        "garbage line\n"
    )
    assert parse_metrics(text) == {"0xab": Slots(2, 4), "0xcd": Slots(0, 0)}
    assert Slots(0, 0).text() == "0/unlimited"


def test_read_slots_without_admin_url_or_when_unreachable_is_unknown() -> None:
    assert not read_slots(None, None).known
    gone = read_slots("http://127.0.0.1:9", "tok", timeout=1.0)
    assert not gone.known and "unreachable" in gone.note and "tok" not in gone.note


def _yaml(dep: Deployment, rpc: str, fwd: Path, upstream: str, admin_url: str | None) -> str:
    bid_a, bid_b = f"      pricePerSecond: {PRICE}\n", f"      pricePerSecond: {PRICE_B}\n"
    return two_models_yaml(dep, fwd, upstream, admin_url, bid_a, bid_b)


_stamps = iter(range(10**6))


def _open(w3: Web3, dep: Deployment, model_id: str, seconds: int) -> sessions_devnet.OpenedSession:
    bid = bytes.fromhex(ids.bid_id(PROVIDER.address, model_id, 0)[2:])
    stake = sessions_devnet.stake_for_duration(w3, dep.diamond, bid, seconds)
    stamp = sessions_devnet.latest_timestamp(w3) + next(_stamps)
    return sessions_devnet.open_session(
        w3, dep.diamond, BUYER.address, PROVIDER.private_key, bid, stake, approval_timestamp=stamp
    )


def _travel(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


async def test_status_shows_bids_slots_sessions_earnings_claimable_and_drift(
    anvil: Anvil, w3: Web3, deployed: Deployment, tmp_path: Path
) -> None:
    fwd = tmp_path / "forwarder-models.json"
    path = tmp_path / "desired.yaml"
    env = admin_env(anvil.rpc_url)
    async with serve_upstream("openai") as up:
        path.write_text(_yaml(deployed, anvil.rpc_url, fwd, up.url, None))
        await asyncio.to_thread(apply_confirmed, env, path, tmp_path / "state")

        # sessions: B1 ends (claimable), B2 closed with the provider's receipt (a success), A stays live
        b1 = _open(w3, deployed, MID_B, 300)
        _travel(w3, 400)
        b2 = _open(w3, deployed, MID_B, 300)
        _travel(w3, 10)
        sessions_devnet.close_session(w3, deployed.diamond, BUYER.address, b2.session_id, PROVIDER.private_key)
        a = _open(w3, deployed, MID_A, 600)

        state = ProxyState(fwd, Settings(), client_token=None, admin_token=ADMIN_TOKEN)
        state.load_initial()
        async with running(state, watch=False) as r:
            admin = f"http://127.0.0.1:{r.admin_port}"
            path.write_text(_yaml(deployed, anvil.rpc_url, fwd, up.url, admin))
            up.knobs.hang = True  # the upstream never answers: the request holds one of chat-a's slots
            async with aiohttp.ClientSession() as http:
                body = {"model": MID_A, "messages": [{"role": "user", "content": "hi"}], "stream": True}
                held = asyncio.create_task(http.post(f"http://127.0.0.1:{r.data_port}/v1/chat/completions", json=body))
                try:
                    gate = MID_A[2:]
                    for _ in range(2000):  # until the forwarder holds the request (no wall-clock assertion)
                        if gate in r.state.slots.gates and r.state.slots.gates[gate].in_flight == 1:
                            break
                        await asyncio.sleep(0.01)
                    assert r.state.slots.gates[gate].in_flight == 1
                    out = await asyncio.to_thread(reconcile, env, "status", str(path), "--format", "json")
                    text = await asyncio.to_thread(reconcile, env, "status", str(path))
                finally:
                    held.cancel()
                    await asyncio.gather(held, return_exceptions=True)

    assert out.returncode == 0, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    market = w3.eth.contract(address=Web3.to_checksum_address(deployed.diamond), abi=load_artifact("Marketplace").abi)
    assert doc["provider"]["registered"] and doc["provider"]["stake"]["wei"] == 2 * MOR // 10
    models = {m["name"]: m for m in doc["models"]}
    assert set(models) == {"chat-a", "chat-b"}
    ma, mb = models["chat-a"], models["chat-b"]
    assert ma["modelId"] == MID_A.lower()
    assert [b["pricePerSecond"]["wei"] for b in ma["bids"]] == [PRICE]
    assert ma["bids"][0]["pricePerHour"] == {"wei": PRICE * 3600, "mor": "21.6 MOR"}
    assert ma["slots"] == {"inFlight": 1, "limit": 2} and mb["slots"] == {"inFlight": 0, "limit": 0}
    assert ma["liveSessions"] == 1 and ma["liveUntil"] == a.ends_at and mb["liveSessions"] == 0
    assert doc["liveSessions"] == 1
    assert mb["successRatio"] == {"success": 1, "total": 1} and ma["successRatio"] is None
    stats = market.functions.getProviderModelStats(bytes.fromhex(MID_B[2:]), PROVIDER.address).call()
    assert (stats[3], stats[4]) == (1, 1)  # successCount, totalCount: what the status shows

    # claimable: exactly what the contract's view says (B1 ended; B2 closed today is held until tomorrow)
    e = doc["earnings"]
    on_chain = sum(int(market.functions.getProviderClaimableBalance(s.session_id).call()) for s in (b1, b2, a))
    limit_period_earned = int(market.functions.getProvider(PROVIDER.address).call()[4])
    # B2's close paid its seconds at once (about 10: block timestamps also follow the wall clock)
    assert limit_period_earned > 0 and limit_period_earned % PRICE_B == 0
    assert e["claimedThisPeriod"]["wei"] == limit_period_earned
    assert e["capRoom"]["wei"] == 2 * MOR // 10 - limit_period_earned
    assert e["unpaid"]["wei"] == (b1.ends_at - b1.opened_at) * PRICE_B  # more than the cap lets through
    assert e["claimableNow"]["wei"] == on_chain == e["capRoom"]["wei"]  # so the claim stops at the cap
    assert e["claimableSessions"] == 1
    assert e["heldByCap"]["wei"] == e["unpaid"]["wei"] - e["capRoom"]["wei"] > 0
    assert e["earnedToday"]["wei"] >= ma["earnedToday"]["wei"] + mb["earnedToday"]["wei"] - 1
    assert doc["drift"] == {"drift": False, "pending": [], "errors": []}
    assert doc["slotsSource"] == "forwarder /metrics"

    assert text.returncode == 0, text.stderr
    assert "chat-a" in text.stdout and "0.006 MOR/s = 21.6 MOR/h" in text.stdout and " 1/2 " in text.stdout
    assert f"earned but held back by the stake cap {e['heldByCap']['mor']}" in text.stdout
    assert "(100%)" in text.stdout
    assert "drift: no" in text.stdout and f"room left under the stake cap {e['capRoom']['mor']}" in text.stdout
    for secret in (ADMIN_TOKEN, PROVIDER.private_key, PROVIDER.private_key[2:], "k-up"):
        assert secret not in out.stdout + out.stderr + text.stdout + text.stderr


def test_status_reports_drift_and_unknown_slots_without_admin_url(
    anvil: Anvil, w3: Web3, deployed: Deployment, tmp_path: Path
) -> None:
    """Before any apply: not registered, every bid pending, slots unknown (no proxy.adminUrl)."""
    path = tmp_path / "desired.yaml"
    path.write_text(_yaml(deployed, anvil.rpc_url, tmp_path / "fwd.json", "http://127.0.0.1:9", None))
    env = scene_env(anvil.rpc_url)
    out = reconcile(env, "status", str(path), "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert not doc["provider"]["registered"] and doc["earnings"] is None
    assert doc["drift"]["drift"] and any(p["id"].startswith("bid.post:") for p in doc["drift"]["pending"])
    assert doc["slotsSource"] == "unknown (proxy.adminUrl is not set)"
    assert all(m["slots"] is None and m["bids"] == [] for m in doc["models"])
    text = render_status(doc)
    assert "not registered on this chain" in text and "drift: yes" in text and "unknown" in text


def test_status_shows_the_watchers_last_upstream_and_router_health_and_probes_the_router(
    anvil: Anvil, w3: Web3, deployed: Deployment, tmp_path: Path
) -> None:
    """Upstream health comes from a running watcher's last run line (in --state-dir), the router's from its
    /healthcheck now: without a run, status says the upstreams are judged only by a running watcher."""
    router = "  clientToken: env:CLIENT_TOKEN\n  forwarderUrl: http://127.0.0.1:9\n"
    router += f"  router:\n    modelsConfigPath: {tmp_path / 'router.json'}\n    url: http://127.0.0.1:{free_port()}\n"
    path = tmp_path / "desired.yaml"
    text = _yaml(deployed, anvil.rpc_url, tmp_path / "fwd.json", "http://127.0.0.1:9", None)
    path.write_text(text.replace("policy:\n", router + "policy:\n"))
    env = scene_env(anvil.rpc_url, CLIENT_TOKEN="c")
    state = tmp_path / "state"
    out = reconcile(env, "status", str(path), "--state-dir", str(state))
    assert out.returncode == 0, out.stderr
    assert "router: down (router /healthcheck unreachable" in out.stdout
    assert "upstream health: judged only by a running watcher" in out.stdout
    state.mkdir()
    run = {"event": "run", "ts": 1_700_000_000, "result": "no-changes", "forwarder": {"state": "up"}}
    run |= {"upstreams": {"a-up": {"state": "down", "why": "key refused (401 x2)"}}, "router": {"state": "up"}}
    (state / "watch-runs.jsonl").write_text(json.dumps(run) + "\n")
    out = reconcile(env, "status", str(path), "--state-dir", str(state), "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["router"]["state"] == "down"
    assert doc["watcherHealth"]["upstreams"] == {"a-up": {"state": "down", "why": "key refused (401 x2)"}}
    assert doc["watcherHealth"]["router"] == {"state": "up"}
    text = render_status(doc)
    assert "upstream a-up (the watcher's last run, " in text and "ago): down (key refused (401 x2))" in text
    assert "judged only by a running watcher" not in text


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_status_on_a_broken_file_exits_1(tmp_path: Path, fmt: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("network: [\n")
    out = reconcile({}, "status", str(bad), "--format", fmt)
    assert out.returncode == 1 and out.stdout == ""


def test_earned_today_counts_only_the_served_seconds_since_utc_midnight() -> None:
    from reconciler.observe.model import ChainState, MarketParams, SessionState
    from reconciler.status.model import accrued_since

    day = 20_000 * 86_400
    now = day + 3600  # 01:00 UTC

    def session(sid: str, opened: int, ends: int, closed: int = 0) -> SessionState:
        return SessionState(sid, "0xb", "0xAA", "0xu", 0, 5, 0, opened, ends, closed)

    chain = ChainState(
        chain_id=1,
        block_number=1,
        block_hash="0x",
        block_timestamp=now,
        market=MarketParams(0, 0, 0, 0, 0),
        provider=None,
        sessions=(
            session("0x1", day - 3600, day + 7200),  # across midnight, live: 3600 s today
            session("0x2", day - 7200, day - 60),  # ended yesterday: nothing today
            session("0x3", day + 60, day + 7200, closed=day + 660),  # closed early: 600 s
        ),
    )
    assert accrued_since(chain, day) == (3600 + 600) * 5
    assert accrued_since(chain, day, "0xaa") == accrued_since(chain, day)
    assert accrued_since(chain, day, "0xbb") == 0


def test_status_shows_the_head_of_its_one_endpoint(
    anvil: Anvil, w3: Web3, deployed: Deployment, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from reconciler.cli import cli

    path = tmp_path / "desired.yaml"
    path.write_text(_yaml(deployed, anvil.rpc_url, tmp_path / "fwd.json", "http://127.0.0.1:9", None))
    env = scene_env(anvil.rpc_url)
    before = w3.eth.block_number
    out = CliRunner().invoke(cli, ["status", str(path), "--format", "json"], env=env)
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.stdout)["endpoints"]
    assert row["endpoint"] == "env:RPC" and row["state"] == "up" and row["error"] is None
    assert isinstance(row["head"], int) and before <= row["head"] <= w3.eth.block_number

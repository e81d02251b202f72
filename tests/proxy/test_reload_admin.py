"""Hot reload (admin call, file change) under steady load, invalid reloads, slot carry-over, admin auth."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from proxy.config import key_fingerprint
from proxy.server import Running
from tests.support.fwd_helpers import (
    ADMIN_TOKEN,
    CHAT,
    SteadyLoad,
    admin_url,
    base_url,
    entry,
    eventually,
    in_flight,
    model_id,
    post,
    write_config,
)

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def admin_config(s: aiohttp.ClientSession, r: Running) -> dict:
    async with s.get(admin_url(r) + "/admin/config", headers=AUTH) as resp:
        assert resp.status == 200
        return await resp.json()


async def test_admin_reload_under_load_with_zero_failures(openai_up, make_proxy):
    openai_up.knobs.delta_gap = 0.01
    models = [entry("gpt-x", openai_up, slots=8)]
    async with make_proxy(models) as r, aiohttp.ClientSession() as s:
        path = r.state.config_path
        old_version = (await admin_config(s, r))["version"]
        async with SteadyLoad(r, model_id("gpt-x")) as load:
            for n in range(3):  # rotate the key, rename the upstream model, change slots
                models[0] = {
                    **models[0],
                    "apiKey": f"sk-rotated-{n}",
                    "modelName": f"gpt-x-v{n}",
                    "concurrentSlots": 6 + n,
                }
                write_config(path, models)
                async with s.post(admin_url(r) + "/admin/reload", headers=AUTH) as resp:
                    assert resp.status == 200
                    answer = await resp.json()
                assert answer["changed"] is True and answer["version"] != old_version
                before = load.ok
                await eventually(lambda before=before: load.ok >= before + 4)
        assert load.failed == []
        cfg = await admin_config(s, r)
        assert cfg["version"] == answer["version"] and cfg["lastReloadError"] is None
        assert (
            cfg["models"][0]["apiKeyFingerprint"] == key_fingerprint("sk-rotated-2")
            and "apiKey" not in cfg["models"][0]
        )
        assert openai_up.requests[-1]["body"]["model"] == "gpt-x-v2"
        assert openai_up.requests[-1]["headers"]["Authorization"] == "Bearer sk-rotated-2"
        assert in_flight(r) == 0
        async with s.post(admin_url(r) + "/admin/reload", headers=AUTH) as resp:
            assert (await resp.json()) == {"version": cfg["version"], "changed": False}


async def test_file_change_reload_under_load(openai_up, make_proxy):
    openai_up.knobs.delta_gap = 0.01
    models = [entry("gpt-x", openai_up, slots=8)]
    async with make_proxy(models, watch=True) as r:
        await asyncio.sleep(0.2)  # let the watcher start
        async with SteadyLoad(r, model_id("gpt-x")) as load:
            models[0] = {**models[0], "modelName": "gpt-x-renamed"}
            write_config(r.state.config_path, models)
            await eventually(
                lambda: r.state.config is not None and r.state.config.routes[0].model_name == "gpt-x-renamed"
            )
            before = load.ok
            await eventually(lambda: load.ok >= before + 4)
        assert load.failed == []
        assert openai_up.requests[-1]["body"]["model"] == "gpt-x-renamed"


async def test_in_flight_requests_finish_on_their_old_route_and_slots_carry_over(openai_up, make_proxy):
    openai_up.knobs.deltas = 10
    openai_up.knobs.delta_gap = 0.05
    models = [entry("gpt-x", openai_up, slots=2)]
    async with make_proxy(models) as r, aiohttp.ClientSession() as s:
        resp = await s.post(base_url(r) + "/chat/completions", json={**CHAT, "stream": True})
        assert (await resp.content.readline()).startswith(b"data: ")
        models[0] = {**models[0], "modelName": "renamed", "concurrentSlots": 1}
        write_config(r.state.config_path, models)
        assert r.state.reload("admin").changed
        by_id = {**CHAT, "model": model_id("gpt-x")}
        status, _, _ = await post(s, r, by_id)
        assert status == 429  # the in-flight stream still holds one of the (now) 1 slots
        text = (await resp.read()).decode()
        resp.close()
        assert "tok9" in text and text.endswith("data: [DONE]\n\n")  # finished on its old route
        assert openai_up.requests[0]["body"]["model"] == "gpt-x"
        await eventually(lambda: in_flight(r) == 0)
        assert (await post(s, r, by_id))[0] == 200
        assert openai_up.requests[-1]["body"]["model"] == "renamed"


async def test_removed_model_in_flight_finishes(openai_up, make_proxy):
    openai_up.knobs.deltas = 6
    openai_up.knobs.delta_gap = 0.05
    models = [entry("gpt-x", openai_up, slots=1), entry("other", openai_up)]
    async with make_proxy(models) as r, aiohttp.ClientSession() as s:
        resp = await s.post(base_url(r) + "/chat/completions", json={**CHAT, "stream": True})
        assert (await resp.content.readline()).startswith(b"data: ")
        write_config(r.state.config_path, models[1:])
        assert r.state.reload("admin").changed
        assert (await post(s, r, CHAT))[0] == 404
        assert (await resp.read()).decode().endswith("data: [DONE]\n\n")
        resp.close()


async def test_invalid_reload_keeps_the_old_config(openai_up, make_proxy):
    models = [entry("gpt-x", openai_up)]
    async with make_proxy(models) as r, aiohttp.ClientSession() as s:
        before = await admin_config(s, r)
        bad = {**models[0], "apiType": "decisions", "apiUrl": openai_up.url}
        write_config(r.state.config_path, [bad, {**models[0], "modelId": "0x12"}])
        async with s.post(admin_url(r) + "/admin/reload", headers=AUTH) as resp:
            assert resp.status == 422
            body = await resp.json()
        assert body["error"]["code"] == "invalid_config"
        assert any("decisions URL" in e for e in body["errors"]) and any(
            "models[1].modelId" in e for e in body["errors"]
        )
        assert "sk-upstream" not in json.dumps(body)
        after = await admin_config(s, r)
        assert after["version"] == before["version"] and "decisions URL" in after["lastReloadError"]
        assert (await post(s, r, CHAT))[0] == 200  # still serving the old config
        async with s.get(admin_url(r) + "/metrics") as resp:
            assert 'morpheus_proxy_config_reloads_total{trigger="admin",result="error"} 1' in await resp.text()
        Path(r.state.config_path).write_text("{not json")
        async with s.post(admin_url(r) + "/admin/reload", headers=AUTH) as resp:
            assert resp.status == 422 and "invalid JSON" in (await resp.json())["errors"][0]
        write_config(r.state.config_path, models)
        async with s.post(admin_url(r) + "/admin/reload", headers=AUTH) as resp:
            assert resp.status == 200
        assert (await admin_config(s, r))["lastReloadError"] is None


async def test_admin_config_shape(openai_up, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up, slots=2, apiStack="vllm")]) as r, aiohttp.ClientSession() as s:
        cfg = await admin_config(s, r)
        assert set(cfg) == {"version", "loadedAt", "source", "models", "lastReloadError"}
        assert len(cfg["version"]) == 64 and cfg["loadedAt"].endswith("Z") and cfg["source"] == str(r.state.config_path)
        file_entry = json.loads(Path(r.state.config_path).read_text())["models"][0]
        expected = {k: v for k, v in file_entry.items() if k != "apiKey"} | {
            "apiKeyFingerprint": key_fingerprint(file_entry["apiKey"])
        }
        assert cfg["models"] == [expected]
        assert "sk-upstream" not in json.dumps(cfg)


@pytest.mark.parametrize("path", ["/admin/config", "/admin/reload"])
async def test_admin_auth(openai_up, make_proxy, path):
    async with make_proxy([entry("gpt-x", openai_up)]) as r, aiohttp.ClientSession() as s:
        method = s.post if path.endswith("reload") else s.get
        async with method(admin_url(r) + path) as resp:
            assert resp.status == 401 and (await resp.json())["error"]["code"] == "invalid_api_key"
        async with method(admin_url(r) + path, headers={"Authorization": "Bearer wrong"}) as resp:
            assert resp.status == 401
        async with method(admin_url(r) + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as resp:
            assert resp.status == 200
        for open_path in ("/healthz", "/readyz", "/metrics"):
            async with s.get(admin_url(r) + open_path) as resp:
                assert resp.status == 200
    async with make_proxy([entry("gpt-x", openai_up)], admin_token=None) as r, aiohttp.ClientSession() as s:
        method = s.post if path.endswith("reload") else s.get
        async with method(admin_url(r) + path, headers={"Authorization": "Bearer anything"}) as resp:
            assert resp.status == 403 and (await resp.json())["error"]["code"] == "admin_disabled"


async def test_readyz_reports_draining(openai_up, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up)]) as r, aiohttp.ClientSession() as s:
        async with s.get(admin_url(r) + "/readyz") as resp:
            assert resp.status == 200 and (await resp.json())["version"] == r.state.config.version  # type: ignore[union-attr]
        r.state.draining = True
        async with s.get(admin_url(r) + "/readyz") as resp:
            assert resp.status == 503


async def test_invalid_file_change_is_reported_and_the_old_config_serves(openai_up, make_proxy):
    models = [entry("gpt-x", openai_up)]
    async with make_proxy(models, watch=True) as r, aiohttp.ClientSession() as s:
        await asyncio.sleep(0.2)  # let the watcher start
        version = r.state.config.version  # type: ignore[union-attr]
        write_config(r.state.config_path, [{**models[0], "apiType": "decisions", "apiUrl": openai_up.url + "/"}])
        await eventually(lambda: r.state.last_reload_error is not None)
        assert "decisions URL" in r.state.last_reload_error  # type: ignore[operator]
        assert r.state.config.version == version  # type: ignore[union-attr]
        assert (await post(s, r, CHAT))[0] == 200
        async with s.get(admin_url(r) + "/metrics") as resp:
            text = await resp.text()
        assert 'morpheus_proxy_config_reloads_total{trigger="file",result="error"}' in text
        assert "morpheus_proxy_config_last_reload_success 0" in text


async def test_metrics_need_the_admin_token_off_loopback(openai_up, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up)]) as r, aiohttp.ClientSession() as s:
        r.state.metrics_open = False  # what the CLI sets when --admin-listen is not a loopback address
        async with s.get(admin_url(r) + "/metrics") as resp:
            assert resp.status == 401
        async with s.get(admin_url(r) + "/metrics", headers=AUTH) as resp:
            assert resp.status == 200
        async with s.get(admin_url(r) + "/healthz") as resp:
            assert resp.status == 200


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/admin/reload", 405, "POST"),
        ("POST", "/admin/config", 405, "GET,HEAD"),
        ("GET", "/admin/nope", 404, None),
    ],
)
async def test_admin_wrong_paths_and_methods_are_openai_shaped(openai_up, make_proxy, method, path, status, allow):
    """aiohttp's router answered these in text/plain ("405: Method Not Allowed"), unlike every other error."""
    async with make_proxy([entry("gpt-x", openai_up)]) as r, aiohttp.ClientSession(headers=AUTH) as s:
        async with s.request(method, admin_url(r) + path) as resp:
            assert resp.status == status
            assert (await resp.json())["error"]["code"] == f"http_{status}"
            assert resp.headers.get("Allow") == allow

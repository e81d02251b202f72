"""All seven apiTypes on a real devnet: `examples/desired-state/devnet-all-types.yaml` is planned and applied
(models registered, bids posted, both models-config files written, the forwarder's reload confirmed), and then
each image, video and decisions model answers the router's request sent as the router would, to the URL the
router's file gives, through the real forwarder process to a stub of its upstream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import jsonschema
from aiohttp import web

from reconciler.desired.schema import load_schema
from reconciler.devnet import local as devnet
from reconciler.devnet.anvil import free_port
from tests.support.apply_helpers import ROOT, DevnetCase
from tests.support.fwd_helpers import ADMIN_TOKEN
from tests.support.media_stubs import DECISIONS_KEY, HYPERBOLIC_KEY, KEYS, PRODIA_KEY, router_request, serve_media

EXAMPLE = ROOT / "examples" / "desired-state" / "devnet-all-types.yaml"
CLIENT_TOKEN = "devnet-client-token"
RELAYED = ("prodia-sd", "prodia-sdxl", "prodia-v2", "hyperbolic-sd", "decisions")


@contextlib.asynccontextmanager
async def router_health(port: int, loaded: list[str]) -> AsyncIterator[None]:
    """The router's public /healthcheck, listing the models it loaded (`loaded`, changed by a "restart")."""

    async def healthcheck(_request: web.Request) -> web.Response:
        return web.json_response({"status": "healthy", "models": [{"Id": m} for m in loaded]})

    app = web.Application()
    app.router.add_get("/healthcheck", healthcheck)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def forwarder(config: Path, port: int, admin: int) -> AsyncIterator[None]:
    env = {**os.environ, "MORPHEUS_PROXY_ADMIN_TOKEN": ADMIN_TOKEN, "MORPHEUS_PROXY_CLIENT_TOKEN": CLIENT_TOKEN}
    exe = str(Path(sys.executable).with_name("morpheus-proxy"))
    args = ["--config", str(config), "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}"]
    proc = await asyncio.create_subprocess_exec(
        exe, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"listening" in line, line
        yield
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_all_seven_api_types_plan_apply_and_serve_on_the_devnet(tmp_path: Path) -> None:
    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = await asyncio.to_thread(devnet.up, d, free_port())
    try:
        async with serve_media() as up:
            port, admin, router_port = free_port(), free_port(), free_port()
            text = EXAMPLE.read_text().replace("http://127.0.0.1:8099", up.url)
            text = text.replace("forwarderUrl: http://127.0.0.1:8090", f"forwarderUrl: http://127.0.0.1:{port}")
            text = text.replace("../../.demo/all-types-forwarder-models.json", str(work / "forwarder.json"))
            text = text.replace("../../.demo/all-types-router-models.json", str(work / "router.json"))
            text = text.replace("url: http://127.0.0.1:8082", f"url: http://127.0.0.1:{router_port}")
            text = text.replace(
                "proxy:\n",
                f"proxy:\n  adminUrl: http://127.0.0.1:{admin}\n  adminToken: env:MORPHEUS_PROXY_ADMIN_TOKEN\n",
            )
            yaml = work / "desired.yaml"
            yaml.write_text(text)
            (work / "forwarder.json").write_text('{"models": []}\n')
            case = DevnetCase(info=info, dir=d, work=work, yaml=yaml, state=tmp_path / "state")
            env = {
                "DEMO_UPSTREAM_KEY": "sk-chat-key",
                "DEMO_ANTHROPIC_KEY": "sk-ant-key",
                "DEMO_PRODIA_KEY": PRODIA_KEY,
                "DEMO_HYPERBOLIC_KEY": HYPERBOLIC_KEY,
                "DEMO_DECISIONS_KEY": DECISIONS_KEY,
                "DEMO_CLIENT_TOKEN": CLIENT_TOKEN,
                "MORPHEUS_PROXY_ADMIN_TOKEN": ADMIN_TOKEN,
            }
            loaded: list[str] = []  # what the running router serves: nothing until it is restarted
            async with forwarder(work / "forwarder.json", port, admin), router_health(router_port, loaded):
                r = await asyncio.to_thread(case.reconcile, "validate", str(yaml), extra_env=env)
                assert r.returncode == 0 and "7 models" in r.stdout, r.stdout + r.stderr
                r = await asyncio.to_thread(case.reconcile, "plan", str(yaml), "--detailed-exitcode", extra_env=env)
                assert r.returncode == 2, r.stdout + r.stderr
                assert r.stdout.count("model.register") == 7 and r.stdout.count("bid.post") == 7, r.stdout
                r = await asyncio.to_thread(
                    case.reconcile, "apply", str(yaml), "--auto-approve", "--state-dir", str(case.state), extra_env=env
                )
                out = r.stdout + r.stderr
                assert r.returncode == 0, out
                assert "converged" in r.stdout and "forwarder serves version" in out
                assert not any(k in out for k in (PRODIA_KEY, HYPERBOLIC_KEY, DECISIONS_KEY, CLIENT_TOKEN))
                # the bids waited for the router, which reads its file only at start: "restart" it, apply again
                bids, total = case.market().functions.getProviderActiveBids(case.provider, 0, 20).call()
                assert total == 0 and "restart-required" in r.stdout, r.stdout
                loaded.extend(m["modelId"] for m in json.loads((work / "router.json").read_text())["models"])
                r = await asyncio.to_thread(
                    case.reconcile, "apply", str(yaml), "--auto-approve", "--state-dir", str(case.state), extra_env=env
                )
                assert r.returncode == 0 and "converged" in r.stdout, r.stdout + r.stderr
                r = await asyncio.to_thread(case.reconcile, "plan", str(yaml), "--detailed-exitcode", extra_env=env)
                assert r.returncode == 0, r.stdout + r.stderr

                bids, total = case.market().functions.getProviderActiveBids(case.provider, 0, 20).call()
                assert len(bids) == total == 7

                schema = load_schema("models-config.schema.json")
                router = json.loads((work / "router.json").read_text())
                fwd = json.loads((work / "forwarder.json").read_text())
                jsonschema.validate(router, schema)
                jsonschema.validate(fwd, schema)
                assert {m["apiKey"] for m in router["models"]} == {CLIENT_TOKEN}
                assert {m["apiType"] for m in router["models"]} == {"openai", *RELAYED}  # claudeai goes as openai
                assert {m["apiType"] for m in fwd["models"]} == {"openai", "claudeai", *RELAYED}

                # Each relayed model, as the router would call it with its own entry.
                async with aiohttp.ClientSession(skip_auto_headers=("User-Agent", "Accept-Encoding")) as s:
                    for m in (m for m in router["models"] if m["apiType"] in RELAYED):
                        headers, body = router_request(
                            m["apiType"], m["modelName"], "a harbour at night", m["apiKey"], m.get("parameters")
                        )
                        async with s.post(m["apiUrl"], data=body, headers=headers) as resp:
                            assert resp.status == 200, (m["apiType"], await resp.text())
                            await resp.read()
                        seen = up.posts()[-1]
                        assert seen.body == body
                        key_header = "X-Prodia-Key" if m["apiType"] in ("prodia-sd", "prodia-sdxl") else "Authorization"
                        assert KEYS[m["apiType"]] in seen.headers[key_header]
                assert up.invalid == []
                assert len(up.posts()) == 5
    finally:
        await asyncio.to_thread(devnet.down, d)

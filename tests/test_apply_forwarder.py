"""apply + the real forwarder process: the models-config it writes is reloaded and served (version
confirmed through the admin API) while requests keep flowing, with not one failed request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from apply_helpers import DevnetCase, example_in
from fwd_helpers import ADMIN_TOKEN, SteadyLoad
from fwd_stubs import UPSTREAM_KEY, serve_upstream

from reconciler import devnet
from reconciler.anvil import free_port
from reconciler.modelsconfig import config_version

EXE = str(Path(sys.executable).with_name("morpheus-proxy"))


@contextlib.asynccontextmanager
async def forwarder(config: Path, port: int, admin: int) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {**os.environ, "MORPHEUS_PROXY_ADMIN_TOKEN": ADMIN_TOKEN}
    proc = await asyncio.create_subprocess_exec(
        EXE, "--config", str(config), "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"listening" in line, line
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def test_apply_reloads_the_running_forwarder_without_a_failed_request(tmp_path: Path) -> None:
    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = await asyncio.to_thread(devnet.up, d, free_port())
    try:
        async with serve_upstream("openai") as up:
            port, admin = free_port(), free_port()
            yaml = example_in(work)
            text = yaml.read_text().replace("baseUrl: http://127.0.0.1:8099/v1", f"baseUrl: {up.url}/v1")
            text = text.replace(
                "proxy:\n",
                f"proxy:\n  adminUrl: http://127.0.0.1:{admin}\n  adminToken: env:MORPHEUS_PROXY_ADMIN_TOKEN\n",
            )
            yaml.write_text(text)
            case = DevnetCase(info=info, dir=d, work=work, yaml=yaml, state=tmp_path / "state")
            env = {"DEMO_UPSTREAM_KEY": UPSTREAM_KEY, "MORPHEUS_PROXY_ADMIN_TOKEN": ADMIN_TOKEN}
            config = work / "forwarder-models.json"
            config.write_text('{"models": []}\n')  # the forwarder starts empty, the reconciler fills it

            def apply() -> tuple[int, str]:
                r = case.reconcile("apply", str(yaml), "--auto-approve", "--state-dir", str(case.state), extra_env=env)
                return r.returncode, r.stdout + r.stderr

            async with forwarder(config, port, admin):
                code, out = await asyncio.to_thread(apply)
                assert code == 0, out
                assert "forwarder serves version" in out
                async with SteadyLoad(f"http://127.0.0.1:{port}/v1", "llama-3.3-70b") as load:
                    yaml.write_text(
                        yaml.read_text().replace(
                            "concurrentSlots: 4\n    bid:\n      costModel",
                            "concurrentSlots: 2\n    bid:\n      costModel",
                        )
                    )
                    code, out = await asyncio.to_thread(apply)
                    assert code == 0, out
                    await asyncio.sleep(0.3)
                assert load.failed == [] and load.ok > 0
                async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as s:
                    async with s.get(f"http://127.0.0.1:{admin}/admin/config") as resp:
                        served = await resp.json()
                file_doc = json.loads(config.read_text())
                assert served["version"] == config_version(file_doc)
                emb = next(m for m in served["models"] if m["modelName"] == "text-embedding-3-small")
                assert emb["concurrentSlots"] == 2
                assert UPSTREAM_KEY not in out
                r = await asyncio.to_thread(
                    case.reconcile, "plan", str(yaml), "--detailed-exitcode", "--require-proxy", extra_env=env
                )
                assert r.returncode == 0, r.stdout + r.stderr
    finally:
        await asyncio.to_thread(devnet.down, d)

"""apply + the real forwarder process: the models-config it writes is reloaded and served (version
confirmed through the admin API) while requests keep flowing, with not one failed request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from reconciler.desired.modelsconfig import config_version
from tests.support.apply_helpers import served_devnet
from tests.support.fwd_helpers import ADMIN_TOKEN, SteadyLoad
from tests.support.fwd_stubs import UPSTREAM_KEY


async def test_apply_reloads_the_running_forwarder_without_a_failed_request(tmp_path: Path) -> None:
    async with served_devnet(tmp_path) as s:
        code, out = await s.apply()
        assert code == 0, out
        assert "forwarder serves version" in out
        async with SteadyLoad(s.base_url, "llama-3.3-70b") as load:
            yaml = s.case.yaml
            yaml.write_text(
                yaml.read_text().replace(
                    "concurrentSlots: 4\n    bid:\n      costModel", "concurrentSlots: 2\n    bid:\n      costModel"
                )
            )
            code, out = await s.apply()
            assert code == 0, out
            await asyncio.sleep(0.3)
        assert load.failed == [] and load.ok > 0
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as http:
            async with http.get(f"http://127.0.0.1:{s.admin}/admin/config") as resp:
                served = await resp.json()
        assert served["version"] == config_version(json.loads(s.config.read_text()))
        emb = next(m for m in served["models"] if m["modelName"] == "text-embedding-3-small")
        assert emb["concurrentSlots"] == 2
        assert UPSTREAM_KEY not in out
        code, out = await s.reconcile("plan", str(yaml), "--detailed-exitcode", "--require-proxy")
        assert code == 0, out

"""One watcher run asks the managed router's /healthcheck once (issue 29): the router's health is judged from the
observation the run planned from (observe/proxy.observe_router), not from a second probe; `reconcile status`
likewise. A loopback router stub counts the requests; a real devnet (anvil) holds the chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.devnet.anvil import Anvil
from reconciler.devnet.local import Deployment
from reconciler.status.report import status_document
from reconciler.watch.loop import Watcher, WatchOptions
from reconciler.watch.triggers import Trigger
from tests.status.test_status_devnet import MID_A, MID_B, _yaml
from tests.support.router_stub import router_stub
from tests.support.status_scene import scene_env


def test_a_watcher_run_and_status_ask_the_routers_healthcheck_once(
    anvil: Anvil, deployed: Deployment, tmp_path: Path
) -> None:
    env = scene_env(anvil.rpc_url, CLIENT_TOKEN="c")
    with router_stub([MID_A, MID_B]) as (router, url):
        proxy = "  clientToken: env:CLIENT_TOKEN\n  forwarderUrl: http://127.0.0.1:9\n"
        proxy += f"  router:\n    modelsConfigPath: {tmp_path / 'router.json'}\n    url: {url}\n"
        path = tmp_path / "desired.yaml"
        text = _yaml(deployed, anvil.rpc_url, tmp_path / "fwd.json", "http://127.0.0.1:9", None)
        path.write_text(text.replace("policy:\n", proxy + "policy:\n"))

        def watcher(auto_apply: bool) -> Watcher:
            return Watcher(WatchOptions(path=path, state_dir=tmp_path / "state", auto_apply=auto_apply, environ=env))

        def run(w: Watcher) -> tuple[dict[str, Any], int]:
            before = router.asked
            try:
                return w.run([Trigger("timer")]), router.asked - before
            finally:
                w.files.stop()

        line, asked = run(watcher(auto_apply=False))  # alert-only: one plan, one question
        assert line["result"] == "drift-reported" and line["router"] == {"state": "up"}, line
        assert asked == 1

        applying = watcher(auto_apply=True)
        line, asked = run(applying)  # an apply asks once before and once after it (the plan made after it)
        assert line["result"] == "converged" and line["router"]["state"] == "up", line
        assert asked == 2
        line, asked = run(applying)  # nothing to do: one plan, one question
        assert line["result"] == "no-changes" and line["router"]["state"] == "up", line
        assert asked == 1

        router.status = 503
        line, asked = run(applying)
        assert line["router"]["state"] == "down" and "503" in line["router"]["why"], line
        assert asked == 1
        router.status = 200

        before = router.asked
        doc = status_document(path, env)
        assert doc["router"]["state"] == "up" and router.asked - before == 1

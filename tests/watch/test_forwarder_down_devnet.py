"""A stopped forwarder is part of the state (issue 29): the real forwarder, killed with SIGTERM under a running
watcher on a devnet, turns the page's forwarder cell red, `reconcile_watch_forwarder_up` 0, posts one
`forwarder-down` webhook (not one per run), and `plan` says "proxy not checked" instead of "No changes" while its
exit code still covers the chain part (`--require-proxy` exits 1). Started again, it is up, posted once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.support.apply_helpers import example_devnet
from tests.support.ports import free_port
from tests.support.watch_helpers import forwarder_on, watch_process, webhook_receiver

pytestmark = pytest.mark.devnet

ADMIN = "serving-admin-token"


def with_admin(yaml: Path, admin: int) -> None:
    """The example's desired state with the forwarder's admin plane on `admin`, its token from FWD_ADMIN_TOKEN."""
    text = yaml.read_text().replace(
        "proxy:\n", f"proxy:\n  adminUrl: http://127.0.0.1:{admin}\n  adminToken: env:FWD_ADMIN_TOKEN\n"
    )
    yaml.write_text(text)


def _metric(port: int, name: str) -> str:
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return line.split(" ", 1)[1]
    return "absent"


def test_a_stopped_forwarder_is_down_everywhere_and_up_again_once(tmp_path: Path) -> None:
    with example_devnet(tmp_path) as case:
        yaml, work, config = case.yaml, case.work, case.forwarder_config
        port, admin = free_port(), free_port()
        with_admin(yaml, admin)
        with webhook_receiver() as hooks:
            http = free_port()
            env = case.env(FWD_ADMIN_TOKEN=ADMIN, WATCH_HOOK=hooks.url)
            args = [str(yaml), "--auto-apply", "--poll", "0.2", "--interval", "2", "--state-dir", str(case.state)]
            args += ["--webhook", "env:WATCH_HOOK", "--http-listen", f"127.0.0.1:{http}"]
            with ExitStack() as stack:
                fwd = stack.enter_context(forwarder_on(config, ADMIN, port, admin))
                w = stack.enter_context(watch_process(args, env, work))
                first = w.wait_run(lambda r: "start" in r["trigger"], timeout=90)
                assert first["result"] == "converged", first
                assert first["forwarder"]["state"] == "up", first
                settled = w.wait_run(lambda r: r["result"] == "no-changes")
                assert settled["forwarder"]["state"] == "up" and "forwarder-down" not in settled.get("alerts", [])
                assert settled["notes"] == ["nothing to do: chain and proxy match the desired state"], settled
                assert _metric(http, "reconcile_watch_forwarder_up") == "1"

                fwd.send_signal(signal.SIGTERM)
                assert fwd.wait(10) == 0
                m = len(w.runs)
                down = w.wait_run(lambda r: r.get("forwarder", {}).get("state") == "down", m)
                assert "chain and proxy match" not in " ".join(down.get("notes", [])), down
                assert any("proxy not checked" in n for n in down.get("notes", [])) or down["result"] != "no-changes"
                w.wait_run(lambda r: r.get("forwarder", {}).get("state") == "down", len(w.runs))  # a second run
                assert _metric(http, "reconcile_watch_forwarder_up") == "0"
                assert len(hooks.named("forwarder-down")) == 1, json.dumps(
                    [[e["event"] for e in hooks.events], w.runs[-3:], w.stderr[-10:]]
                )
                page = httpx.get(f"http://127.0.0.1:{http}/").text
                assert 'data-place="forwarder" data-state="down"' in page
                assert 'data-place="forwarder" data-state="in sync"' not in page

                plan = [sys.executable, "-m", "reconciler.cli", "plan", str(yaml), "--state-dir", str(case.state)]
                r = subprocess.run([*plan, "--detailed-exitcode"], capture_output=True, text=True, env=env, cwd=work)
                assert r.returncode == 0, r.stdout + r.stderr  # the chain part is in place
                assert "No changes" not in r.stdout and "proxy not checked" in r.stdout, r.stdout
                r = subprocess.run([*plan, "--require-proxy"], capture_output=True, text=True, env=env, cwd=work)
                assert r.returncode == 1 and "--require-proxy" in r.stderr
                status = [sys.executable, "-m", "reconciler.cli", "status", str(yaml)]
                r = subprocess.run(status, capture_output=True, text=True, env=env, cwd=work)
                assert r.returncode == 0, r.stdout + r.stderr
                assert "forwarder: down (proxy not checked" in r.stdout and "drift: no\n" not in r.stdout, r.stdout

                stack.enter_context(forwarder_on(config, ADMIN, port, admin))  # started again, same ports
                w.wait_run(lambda r: r.get("forwarder", {}).get("state") == "up", len(w.runs))
                w.wait_run(lambda r: r.get("forwarder", {}).get("state") == "up", len(w.runs))  # a second run
                assert _metric(http, "reconcile_watch_forwarder_up") == "1"
                assert len(hooks.named("forwarder-up")) == 1 and len(hooks.named("forwarder-down")) == 1
                page = httpx.get(f"http://127.0.0.1:{http}/").text
                assert 'data-place="forwarder" data-state="down"' not in page

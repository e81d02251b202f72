"""The README's quickstart, run as written (issue 21): its shell lines are read from README.md itself and run
one by one against a devnet standing in for Base Sepolia, in delegate mode (provider wallet and hot key are two
accounts), until `apply` says converged, the watcher's first run finds nothing to do, a streamed answer comes
back through the forwarder, and a change pushed to the git host (issue 29: a bare repository on this host) is
pulled and applied by the watcher. So the README cannot drift from the code.

What the test does that the reader does by hand, and nothing else: `make setup` is skipped (`make test` ran it);
the secret files the reader writes with an editor are written; the edit of provider.yaml the README asks for
(the two addresses) is made, with the network override (the devnet instead of Base Sepolia), the upstream (a
loopback stub) and free loopback ports instead of 8090/8091; the git host's URL is the bare repository's path
and the watcher pulls every second, not every minute; confirmations are answered with `--yes`.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.devnet.local import down as devnet_down
from reconciler.devnet.local import up as devnet_up
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
STUB = ROOT / "examples" / "demo" / "demo_upstream.py"
GIT_HOST_URL = "git@git.example.org:you/desired-state.git"  # the README's placeholder; a bare repository in the test
SECOND_MODEL = """  - name: quickstart-llama-3.1-8b
    upstream: venice
    upstreamModel: llama-3.1-8b
    stake: "0.1 MOR"
    concurrentSlots: 2
    bid:
      pricePerSecond: "0.005 MOR"
"""
CONFIRMS = ("reconcile apply ", "reconcile approve ", " grant ")


def quickstart_commands() -> list[str]:
    """The shell lines of the README's quickstart block, comments and blank lines left out."""
    text = README.read_text()
    section = text[text.index("## Quickstart") :]
    block = section[section.index("```sh\n") + 6 : section.index("\n```", section.index("```sh\n"))]
    lines = []
    for raw in block.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = re.sub(r"\s+#\s.*$", "", line)  # a trailing comment
        lines.append(line)
    return lines


def test_the_readme_quickstart_has_the_steps_the_test_relies_on() -> None:
    cmds = quickstart_commands()
    assert cmds[0] == "make setup"
    assert any(c.startswith(".venv/bin/reconcile delegate ") and "--key-ref file:" in c for c in cmds)
    assert any(c.startswith(".venv/bin/reconcile approve ") and "--key-ref file:" in c for c in cmds)
    assert cmds[-1].startswith(".venv/bin/reconcile watch ") and "--git-pull" in cmds[-1]
    assert not [c for c in cmds if re.search(r"(KEY|key)=0x|PRIVATE_KEY=", c)], "no key on a command line"


def test_the_readme_quickstart_pushes_to_the_git_host_the_watcher_pulls_from() -> None:
    cmds = quickstart_commands()
    remote = [c for c in cmds if c.startswith(f"git -C desired-state remote add origin {GIT_HOST_URL}")]
    push = [i for i, c in enumerate(cmds) if c.startswith("git -C desired-state push ") and " -u origin " in c]
    assert remote and push and push[-1] < len(cmds) - 1  # pushed (upstream set) before the watcher starts


def _run(cmd: str, cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _edit(yaml: Path, provider: str, hot: str, stub_url: str, port: int, admin: int) -> None:
    """What the reader does to provider.yaml, plus the devnet's network and the test's ports."""
    text = yaml.read_text()
    text = text.replace("0xYOUR_PROVIDER_WALLET", provider).replace("0xYOUR_HOT_KEY_ADDRESS", hot)
    text = re.sub(r"^network:\n(?:[ \t]+.*\n)+", "network:\n  preset: devnet\n", text, count=1, flags=re.M)
    text = text.replace("https://api.venice.ai/api/v1", stub_url)
    text = text.replace("127.0.0.1:8090", f"127.0.0.1:{port}").replace("127.0.0.1:8091", f"127.0.0.1:{admin}")
    yaml.write_text(text)


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.devnet
def test_quickstart_reaches_converged_and_a_streamed_answer(tmp_path: Path) -> None:
    work, home, devnet = tmp_path / "work", tmp_path / "home", tmp_path / "devnet"
    work.mkdir()
    home.mkdir()
    (work / ".venv").symlink_to(ROOT / ".venv")
    (work / "examples").symlink_to(ROOT / "examples")
    git_host = tmp_path / "git-host" / "desired-state.git"  # the git host: a bare repository on this host
    subprocess.run(["git", "init", "-q", "--bare", str(git_host)], check=True)
    info, _ = devnet_up(devnet, free_port())
    background: list[subprocess.Popen[Any]] = []
    try:
        provider, hot = info["accounts"][4], info["accounts"][5]
        port, admin, stub_port = free_port(), free_port(), free_port()
        env = {
            **os.environ,
            "HOME": str(home),
            "RECONCILE_DEVNET_DIR": str(devnet),
            "DEMO_UPSTREAM_KEY": "upstream-secret-for-the-stub",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "GIT_CEILING_DIRECTORIES": str(tmp_path),
        }
        stub = subprocess.Popen(
            [sys.executable, str(STUB), "--port", str(stub_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        background.append(stub)
        outputs: dict[str, str] = {}
        commands = quickstart_commands()
        for cmd in commands[:-1]:  # the last one is the watcher, run below
            if cmd == "make setup":
                continue
            if cmd.startswith("install -d -m 700 ~/.morpheus"):
                assert _run(cmd, work, env).returncode == 0
                secrets = home / ".morpheus"
                for name, value in (
                    ("rpc-url", info["rpcUrl"]),
                    ("hot.key", hot["privateKey"]),
                    ("provider.key", provider["privateKey"]),
                    ("upstream.key", env["DEMO_UPSTREAM_KEY"]),
                ):
                    (secrets / name).write_text(value + "\n")
                    (secrets / name).chmod(0o600)
                continue
            cmd = cmd.replace("127.0.0.1:8090", f"127.0.0.1:{port}").replace("127.0.0.1:8091", f"127.0.0.1:{admin}")
            cmd = cmd.replace(GIT_HOST_URL, str(git_host))
            if any(c in cmd for c in CONFIRMS):
                cmd += " --yes"
            if cmd.endswith("&"):
                proc = subprocess.Popen(
                    ["bash", "-c", cmd[:-1]],
                    cwd=work,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                    start_new_session=True,
                )
                background.append(proc)
                assert proc.stdout is not None and "listening" in proc.stdout.readline()
                continue
            r = _run(cmd, work, env)
            assert r.returncode == 0, f"{cmd}\n{r.stdout}\n{r.stderr}"
            outputs[cmd] = r.stdout + r.stderr
            assert provider["privateKey"][2:] not in outputs[cmd] and hot["privateKey"][2:] not in outputs[cmd]
            if cmd.startswith("cp ") and "provider.yaml" in cmd:
                _edit(
                    work / cmd.split()[-1],
                    provider["address"],
                    hot["address"],
                    f"http://127.0.0.1:{stub_port}/v1",
                    port,
                    admin,
                )
        applied = next(out for cmd, out in outputs.items() if ".venv/bin/reconcile apply " in cmd)
        assert "converged" in applied.splitlines(), applied
        assert applied.count("forwarder serves version") == 1  # said once, not by the write and the reload

        watch = subprocess.Popen(
            ["bash", "-c", commands[-1].replace("--git-pull 60", "--git-pull 1")],  # the test waits a second, not 60
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        background.append(watch)
        assert watch.stdout is not None
        runs: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [runs.put(line) for line in watch.stdout or ()], daemon=True).start()
        first = json.loads(runs.get(timeout=120))
        assert first["result"] == "no-changes" and first["mode"] == "apply", first
        assert first.get("commit")  # it follows the git checkout

        served = json.loads((home / ".morpheus" / "forwarder-models.json").read_text())
        model_id = served["models"][0]["modelId"]
        token = (home / ".morpheus" / "forwarder-client-token").read_text().strip()
        chunks = []
        with httpx.stream(
            "POST",
            f"http://127.0.0.1:{port}/v1/chat/completions",
            headers={"Authorization": f"Bearer {token}"},
            json={"model": model_id, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        ) as resp:
            assert resp.status_code == 200
            for line in resp.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
                    chunks.append(delta or "")
        assert len(chunks) > 1 and "Hello from the demo upstream" in "".join(chunks)

        # a change the way the README says: a commit pushed to the git host from a clone; the watcher pulls, applies
        clone = tmp_path / "clone"
        assert _run(f"git clone -q {git_host} {clone}", tmp_path, env).returncode == 0
        desired = clone / "desired-state" / "provider.yaml"
        text = desired.read_text().replace("concurrentSlots: 4", "concurrentSlots: 2", 1)  # the upstream's 4, shared
        desired.write_text(text.replace("\nproxy:\n", SECOND_MODEL + "\nproxy:\n", 1))
        pushed = _run("git commit -qam 'a second model' && git push -q && git rev-parse HEAD", clone, env)
        assert pushed.returncode == 0, pushed.stderr
        commit = pushed.stdout.split()[-1]
        while True:  # timer runs of the old commit may come first
            run = json.loads(runs.get(timeout=120))
            if run.get("commit") == commit:
                break
        assert run["result"] == "converged", json.dumps(run)
        assert run["txs"] >= 2 and int(run["morSpentWei"]) == 4 * 10**17, run  # model stake 0.1 + bid fee 0.3 MOR
        served = json.loads((home / ".morpheus" / "forwarder-models.json").read_text())
        assert len(served["models"]) == 2
    finally:
        for proc in reversed(background):
            _stop(proc)
        devnet_down(devnet)

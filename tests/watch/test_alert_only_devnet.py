"""`reconcile watch --alert-only --git-pull` against a devnet and a local bare repository as the remote: drift
behind its back is reported and never touched; a pushed commit is fast-forwarded and reported with its hash;
local changes block the pull with an alert. Also apply's stop hook (what watch's SIGTERM uses)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from reconciler.apply.run import ApplyOptions
from reconciler.desired.loader import load_desired
from reconciler.devnet import local as devnet
from tests.support.apply_helpers import DevnetCase, example_in
from tests.support.ports import free_port
from tests.support.watch_helpers import active_bids, delete_bid, watch_process, webhook_receiver

pytestmark = pytest.mark.devnet


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_alert_only_reports_drift_and_pulls_fast_forward_only(tmp_path: Path) -> None:
    d = tmp_path / "devnet"
    info, _ = devnet.up(d, free_port())
    try:
        bare, seed, server = tmp_path / "remote.git", tmp_path / "seed", tmp_path / "server"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        subprocess.run(["git", "clone", "-q", str(bare), str(seed)], check=True, capture_output=True)
        example_in(seed)
        (seed / "forwarder-models.json").unlink(missing_ok=True)
        text = (
            (seed / "desired.yaml").read_text().replace(str(seed / "forwarder-models.json"), str(tmp_path / "fwd.json"))
        )
        (seed / "desired.yaml").write_text(text)
        git(seed, "add", "desired.yaml")
        git(seed, "commit", "-qm", "first")
        git(seed, "push", "-q", "origin", "HEAD:main")
        subprocess.run(["git", "clone", "-q", str(bare), str(server)], check=True, capture_output=True)
        yaml = server / "desired.yaml"
        case = DevnetCase(info=info, dir=d, work=server, yaml=yaml, state=tmp_path / "state")
        env = case.env()

        desired, _ = load_desired(yaml)
        w3 = case.w3
        nonce = w3.eth.get_transaction_count(case.provider)
        stopped = case.apply_in_process(
            desired, env, ApplyOptions(state_dir=case.state, confirm=lambda _p: True, stop_requested=lambda: True)
        )
        assert not stopped.converged and not stopped.txs and any("stopped on request" in n for n in stopped.notes)
        assert w3.eth.get_transaction_count(case.provider) == nonce
        done = case.apply_in_process(desired, env, ApplyOptions(state_dir=case.state, confirm=lambda _p: True))
        assert done.converged

        with webhook_receiver() as hooks:
            env["WATCH_HOOK"] = hooks.url
            args = [str(yaml), "--alert-only", "--poll", "0.2", "--interval", "60", "--git-pull", "0.3"]
            args += ["--state-dir", str(case.state), "--webhook", "env:WATCH_HOOK"]
            port = free_port()
            args += ["--http-listen", f"127.0.0.1:{port}"]
            with watch_process(args, env, server) as w:
                first = w.wait_run(lambda r: "start" in r["trigger"])
                assert first["result"] == "no-changes" and first["mode"] == "alert-only"
                assert first["commit"] == git(server, "rev-parse", "HEAD")

                # drift behind its back: reported, not healed
                (mid, (bid, _price)) = next(iter(active_bids(w3, info, case.provider).items()))
                nonce = w3.eth.get_transaction_count(case.provider)
                m = w.mark()
                delete_bid(w3, info, bid, case.provider)
                r = w.wait_run(lambda r: r["result"] == "drift-reported", m)
                # seen on chain: by its event, or first by the signer's pending nonce when the poll falls between
                # the deletion's arrival and its block
                assert f"bid.post:{mid}" in r["actions"] and {"chain", "nonce"} & set(r["trigger"])
                assert any(e["details"]["actions"] == r["actions"] for e in hooks.named("drift"))
                assert mid not in active_bids(w3, info, case.provider)
                assert w3.eth.get_transaction_count(case.provider) == nonce + 1  # only the deletion

                # a pushed commit is fast-forwarded and reported with its hash
                m = w.mark()
                (seed / "desired.yaml").write_text(
                    (seed / "desired.yaml").read_text().replace('"0.006 MOR"', '"0.0065 MOR"')
                )
                git(seed, "commit", "-qam", "price")
                git(seed, "push", "-q", "origin", "HEAD:main")
                pushed = git(seed, "rev-parse", "HEAD")
                r = w.wait_run(lambda r: r.get("commit") == pushed and r["result"] == "drift-reported", m)
                assert git(server, "rev-parse", "HEAD") == pushed

                # local changes: the pull is refused and alerted, the checkout stays
                m = w.mark()
                yaml.write_text(yaml.read_text() + "# a local hotfix\n")
                (seed / "desired.yaml").write_text((seed / "desired.yaml").read_text() + "# upstream\n")
                git(seed, "commit", "-qam", "another")
                git(seed, "push", "-q", "origin", "HEAD:main")
                r = w.wait_run(lambda r: "git-blocked" in r["trigger"], m)
                assert r["git"]["outcome"] == "local-changes"
                # the run's result and error say so, and the status page's alerts in force give the reason
                assert r["result"] == "git-blocked" and r["error"].startswith("git pull: "), r
                status = httpx.get(f"http://127.0.0.1:{port}/api/status").json()
                assert any(a["event"] == "git-blocked" and r["git"]["message"] in a["text"] for a in status["alerts"])
                assert hooks.named("git-blocked") and git(server, "rev-parse", "HEAD") == pushed
                assert w.terminate() == 0
    finally:
        devnet.down(d)

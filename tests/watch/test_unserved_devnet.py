"""policy.unserved: withdraw, for real (issue 29): under a running watcher on a devnet, the real forwarder stopped
with SIGTERM: after the grace the models' bids are deleted on chain (reason "unserved since …") and their posts are
held (unserved); started again, the bids are posted again only once it has served for the declared time."""

from __future__ import annotations

import asyncio
import signal
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import openai
import pytest

from reconciler.watch.loop import Watcher, WatchOptions
from reconciler.watch.triggers import Trigger
from tests.support.apply_helpers import example_devnet, served_devnet
from tests.support.ports import free_port
from tests.support.watch_helpers import active_bids, forwarder_on, watch_process
from tests.watch.test_forwarder_down_devnet import ADMIN, with_admin

pytestmark = pytest.mark.devnet

GRACE, REPOST = 3, 4


def _down(r: dict[str, Any]) -> bool:
    return bool(r.get("forwarder", {}).get("state") == "down")


def test_unserved_bids_are_withdrawn_after_the_grace_and_reposted_after_the_delay(tmp_path: Path) -> None:
    with example_devnet(tmp_path) as case:
        yaml, work, config, info = case.yaml, case.work, case.forwarder_config, case.info
        port, admin = free_port(), free_port()
        with_admin(yaml, admin)
        text = yaml.read_text().replace(
            "policy:\n",
            f"policy:\n  unserved: withdraw\n  unservedGraceSeconds: {GRACE}\n  unservedRepostAfterSeconds: {REPOST}\n",
        )
        yaml.write_text(text)
        env = case.env(FWD_ADMIN_TOKEN=ADMIN)
        args = [str(yaml), "--auto-apply", "--poll", "0.2", "--interval", "1", "--state-dir", str(case.state)]
        with ExitStack() as stack:
            fwd = stack.enter_context(forwarder_on(config, ADMIN, port, admin))
            w = stack.enter_context(watch_process(args, env, work))
            first = w.wait_run(lambda r: "start" in r["trigger"], timeout=90)
            assert first["result"] == "converged" and first["forwarder"]["state"] == "up", first
            bids = active_bids(case.w3, info, case.provider)
            assert bids, "the example posts bids"
            w.wait_run(lambda r: r["result"] == "no-changes", len(w.runs))

            fwd.send_signal(signal.SIGTERM)
            assert fwd.wait(10) == 0
            m = len(w.runs)
            down = w.wait_run(_down, m)
            assert down["result"] in ("held", "no-changes") and not down.get("actions"), down  # within the grace
            withdrawn = w.wait_run(lambda r: _down(r) and r["result"] == "converged", m, timeout=60)
            assert sorted(a.split(":")[0] for a in withdrawn["actions"]) == ["bid.delete"] * len(bids), withdrawn
            assert active_bids(case.w3, info, case.provider) == {}
            held = w.wait_run(lambda r: _down(r) and r["result"] == "held", len(w.runs))
            assert all(h["reason"].startswith("held (unserved)") for h in held["held"]), held
            assert len(held["held"]) == len(bids)

            stack.enter_context(forwarder_on(config, ADMIN, port, admin))  # started again, same ports
            m = len(w.runs)
            up = w.wait_run(lambda r: r.get("forwarder", {}).get("state") == "up", m)
            assert up["result"] == "held" and all("served again since" in h["reason"] for h in up["held"]), up
            assert all(h["until"] for h in up["held"]), up
            reposted = w.wait_run(lambda r: r["result"] == "converged", m, timeout=60)
            posts = [a for a in reposted["actions"] if a.split(":")[0] != "mor.approve"]  # the fees' allowance
            assert sorted(a.split(":")[0] for a in posts) == ["bid.post"] * len(bids), reposted
            assert set(active_bids(case.w3, info, case.provider)) == set(bids)


async def test_a_refused_key_withdraws_that_models_bid_and_a_restarted_watcher_keeps_holding_it(
    tmp_path: Path,
) -> None:
    """policy.unserved fed by each model's upstream (issue 29): the forwarder stays up, but the chat model's upstream
    refuses the key (401 through the real forwarder process, asked with the openai SDK): that model's bid alone is
    deleted (grace 0); a restarted watcher reads its memory from the state folder and keeps the post held, with no
    request to judge; once a request is answered again the bid is posted again (delay 0). Runs called one by one."""
    async with served_devnet(tmp_path) as s:
        s.case.edit(
            "policy:\n", "policy:\n  unserved: withdraw\n  unservedGraceSeconds: 0\n  unservedRepostAfterSeconds: 0\n"
        )
        env = s.case.env(**s.env)
        client = openai.AsyncOpenAI(base_url=s.base_url, api_key="unused", max_retries=0)
        up = s.upstream

        def watcher() -> Watcher:
            return Watcher(WatchOptions(path=s.case.yaml, state_dir=s.case.state, auto_apply=True, environ=env))

        async def run(w: Watcher) -> dict[str, Any]:
            try:
                return await asyncio.to_thread(w.run, [Trigger("timer")])
            finally:
                w.files.stop()

        async def chat(refused: bool = False) -> None:
            try:
                await client.chat.completions.create(
                    model="llama-3.3-70b", messages=[{"role": "user", "content": "hi"}]
                )
            except openai.AuthenticationError:
                assert refused
            else:
                assert not refused

        first = watcher()
        r = await run(first)
        assert r["result"] == "converged", r
        bids = active_bids(s.case.w3, s.case.info, s.case.provider)
        assert len(bids) == 2
        await chat()
        assert (await run(first))["result"] == "no-changes"

        up.knobs.status = 401
        await chat(refused=True)
        r = await run(first)
        assert r["forwarder"]["state"] == "up" and r["upstreams"]["llama-3.3-70b"]["state"] == "down", r
        assert r["result"] == "converged" and [a.split(":")[0] for a in r["actions"]] == ["bid.delete"], r
        (chat_model,) = [h["action"].split(":")[1] for h in r["held"]]  # its post held (unserved) from now
        assert set(active_bids(s.case.w3, s.case.info, s.case.provider)) == set(bids) - {chat_model}
        assert (s.case.state / f"{s.case.info['chainId']}-{s.case.provider.lower()}" / "serving.json").is_file()

        again = watcher()  # a restart: the memory comes from the state folder
        for _ in range(2):  # the first reading has nothing to compare with; then no request to judge
            r = await run(again)
            assert r["result"] == "held" and [h["action"] for h in r["held"]] == [f"bid.post:{chat_model}"], r
            assert r["held"][0]["reason"].startswith("held (unserved): not served since"), r

        up.knobs.status = None  # the key works again: one request through the forwarder is answered
        await chat()
        r = await run(again)
        posts = [a for a in r["actions"] if a.split(":")[0] != "mor.approve"]  # the fee's allowance
        assert r["result"] == "converged" and posts == [f"bid.post:{chat_model}"], r
        assert set(active_bids(s.case.w3, s.case.info, s.case.provider)) == set(bids)
        await client.close()

"""The watcher's shell on a real forwarder (in process) whose upstream for one model answers 401: after a request
through it (the openai SDK), the next run judges that model down, posts one `upstream-down` to a loopback webhook
(not one per run), sets `reconcile_watch_upstream_up{model}` 0 and names the model in the run line's `upstreams`;
once the key works again, `upstream-up` once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai

from proxy.server import running
from reconciler.observe.forwarder_admin import ForwarderAdmin
from reconciler.watch.loop import Watcher, WatchOptions
from reconciler.watch.metrics import WatchMetrics
from reconciler.watch.notify import Webhook
from reconciler.watch.record import RunFindings
from tests.support.fwd_helpers import ADMIN_TOKEN, admin_url, base_url, model_id, one_good_one_refusing
from tests.support.watch_helpers import webhook_receiver


async def test_a_refused_key_is_one_upstream_down_webhook_then_one_up(tmp_path: Path) -> None:
    refused_up = f'reconcile_watch_upstream_up{{model="refused",model_id="{model_id("refused")}"}}'
    good_up = f'reconcile_watch_upstream_up{{model="good",model_id="{model_id("good")}"}}'
    async with one_good_one_refusing(tmp_path) as (state, _, refusing):
        with webhook_receiver() as hooks:
            metrics = WatchMetrics()
            opts = WatchOptions(tmp_path / "provider.yaml", tmp_path / "state", webhook=Webhook(hooks.url))
            opts.metrics = metrics
            watcher = Watcher(opts)
            async with running(state) as r:
                admin = ForwarderAdmin(admin_url(r), ADMIN_TOKEN)
                client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)

                async def a_run() -> RunFindings:
                    run = RunFindings(ts=0.0, trigger=("timer",))
                    await asyncio.to_thread(watcher._check_forwarder, run, admin)
                    return run

                async def ask(model: str) -> None:
                    try:
                        await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
                    except openai.AuthenticationError:
                        assert model == "refused"

                await ask("good")
                first = await a_run()  # the first reading: nothing to compare with
                assert first.upstreams == () and refused_up not in metrics.render()
                runs = []
                for _ in range(3):
                    await ask("good")
                    await ask("refused")
                    runs.append(await a_run())
                assert all([h.model for h in run.upstreams] == ["refused"] for run in runs)
                assert runs[-1].record().to_json()["upstreams"]["refused"]["state"] == "down"
                assert refused_up + " 0\n" in metrics.render()
                assert good_up + " 1\n" in metrics.render()
                assert len(hooks.named("upstream-down")) == 1, hooks.events
                assert "refused" in hooks.named("upstream-down")[0]["summary"]

                refusing.knobs.status = None  # the key works again
                for _ in range(2):
                    await ask("refused")
                    await a_run()
                await client.close()
            assert refused_up + " 1\n" in metrics.render()
            assert len(hooks.named("upstream-up")) == 1 and len(hooks.named("upstream-down")) == 1


async def test_a_refused_key_is_remembered_by_model_and_the_memory_outlives_a_restart(tmp_path: Path) -> None:
    """The watcher's memory for policy.unserved (since when each model is not served) takes each model's upstream:
    a refused key makes that model (not the other) unserved from the run that judged it down. The memory is kept in
    the provider's state folder: a restarted watcher starts from it, and its first readings (nothing to compare, no
    request) do not make the model served again; an answered request does. The forwarder's own down-since too."""
    refused, good = model_id("refused"), model_id("good")
    state_dir = tmp_path / "state"
    provider_dir = state_dir / "31337-0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
    errors: list[str] = []

    def started() -> Watcher:
        w = Watcher(WatchOptions(tmp_path / "provider.yaml", state_dir, err=errors.append))
        w._serving_memory(provider_dir)  # what a run does once it knows the provider
        return w

    async with one_good_one_refusing(tmp_path) as (state, _, refusing):
        async with running(state) as r:
            admin = ForwarderAdmin(admin_url(r), ADMIN_TOKEN)
            client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)

            async def a_run(w: Watcher) -> None:
                await asyncio.to_thread(w._check_forwarder, RunFindings(ts=0.0, trigger=("timer",)), admin)

            async def ask(model: str) -> None:
                try:
                    await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
                except openai.AuthenticationError:
                    assert model == "refused"

            first = started()
            await ask("good")
            await a_run(first)
            await ask("good")
            await ask("refused")
            await a_run(first)
            since = first.state.serving.of(refused)
            assert since is not None and since.down, first.state.serving
            assert first.state.serving.of(good) is None
            assert (provider_dir / "serving.json").is_file()

            again = started()  # a restart: the memory is read back from the state folder
            assert again.state.serving == first.state.serving
            await a_run(again)  # the first reading: every upstream unknown
            await a_run(again)  # nothing asked since: nothing to judge
            assert again.state.serving.of(refused) == since

            refusing.knobs.status = None  # the key works again, and a request through it is answered
            await ask("refused")
            await a_run(again)
            back = again.state.serving.of(refused)
            assert back is not None and not back.down and back.at >= since.at
            await client.close()
        await a_run(again)  # the forwarder stopped
        down = again.state.serving.forwarder
        assert down is not None and down.down
    assert started().state.serving == again.state.serving
    assert not [e for e in errors if "policy.unserved" in e], errors  # the file was read and written without a warning

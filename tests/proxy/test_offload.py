"""Request bodies above `offload_body_bytes` are parsed, translated and re-encoded in a worker process, never in
the event loop (issue 28 row 4): where the work ran is asserted through the pids the workers report and the
`morpheus_proxy_offloaded_bodies_total` counter, and every refusal answers exactly as it does for a small body."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import aiohttp
import openai
import pytest

from tests.support.fwd_helpers import admin_url, base_url, entry

THRESHOLD = 2048  # small, to keep the test light: the default is 1 MiB
PAD = b" " * (4 * THRESHOLD)  # JSON allows whitespace after the value: the same body, above the threshold


def claude(up: Any, **extra: Any) -> dict[str, Any]:
    return entry("claude-x", up, api_type="claudeai", **extra)


async def _raw_post(r: Any, raw: bytes) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s:
        async with s.post(
            base_url(r) + "/chat/completions", data=raw, headers={"Content-Type": "application/json"}
        ) as resp:
            return resp.status, await resp.read()


async def _offloaded(r: Any) -> dict[str, float]:
    """morpheus_proxy_offloaded_bodies_total by result, read from the admin plane's /metrics."""
    async with aiohttp.ClientSession() as s:
        async with s.get(admin_url(r) + "/metrics", headers={"Authorization": "Bearer admin-token-ABC"}) as resp:
            text = await resp.text()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("morpheus_proxy_offloaded_bodies_total{"):
            labels, value = line.rsplit(" ", 1)
            out[labels.split('result="')[1].split('"')[0]] = float(value)
    return out


def _ran_in_a_worker(r: Any) -> None:
    pids = r.state.offload.worker_pids
    assert pids, "no body was handled by a worker process"
    assert os.getpid() not in pids
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert all(os.getpriority(os.PRIO_PROCESS, pid) == min(mine + 10, 19) for pid in pids)  # the loop goes first


async def test_openai_big_body_is_encoded_in_a_worker(openai_up, make_proxy):
    body = {"model": "gpt-x", "messages": [{"role": "user", "content": "é" * THRESHOLD}], "temperature": 0.5}
    async with make_proxy([entry("gpt-x", openai_up)], offload_body_bytes=THRESHOLD) as r:
        status, answer = await _raw_post(r, json.dumps(body).encode() + PAD)
        assert status == 200, answer
        _ran_in_a_worker(r)
        assert (await _offloaded(r)).get("prepared") == 1
        sent = openai_up.requests[-1]["body"]
        assert sent == body and list(sent) == list(body)  # model set to the entry's modelName ("gpt-x")


async def test_small_bodies_never_start_a_worker(openai_up, anthropic_up, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up), claude(anthropic_up)], offload_body_bytes=THRESHOLD) as r:
        for model in ("gpt-x", "claude-x"):
            status, _ = await _raw_post(
                r, json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()
            )
            assert status == 200
        assert r.state.offload.worker_pids == set()
        assert not r.state.offload.started  # no pool, no process: the small path is today's


async def test_claudeai_big_body_is_translated_in_a_worker(anthropic_up, make_proxy):
    text = "lorem ipsum " * THRESHOLD
    async with make_proxy([claude(anthropic_up)], offload_body_bytes=THRESHOLD) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        res = await client.chat.completions.create(
            model="claude-x",
            messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": text}],
            temperature=0.3,
        )
        assert res.choices[0].message.content == "tok0 tok1 tok2 tok3 "
        chunks = [
            c
            async for c in await client.chat.completions.create(
                model="claude-x",
                messages=[{"role": "user", "content": text}],
                stream=True,
                stream_options={"include_usage": True},
            )
        ]
        assert chunks[-1].usage is not None  # include_usage came back from the worker
        await client.close()
        assert anthropic_up.invalid == []
        sent = anthropic_up.requests[0]["body"]
        assert sent["system"] == "be brief" and sent["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": text}]}
        ]
        assert sent["temperature"] == 0.3 and sent["model"] == "claude-x"
        assert anthropic_up.requests[1]["body"]["stream"] is True
        _ran_in_a_worker(r)
        assert (await _offloaded(r)).get("prepared") == 2


async def test_claudeai_big_body_retried_without_temperature(anthropic_up, make_proxy):
    anthropic_up.knobs.reject_temperature = True
    async with make_proxy([claude(anthropic_up)], offload_body_bytes=THRESHOLD) as r:
        body = {"model": "claude-x", "messages": [{"role": "user", "content": "x" * THRESHOLD}], "temperature": 0.2}
        status, answer = await _raw_post(r, json.dumps(body).encode() + PAD)
        assert status == 200, answer
        first, second = (q["body"] for q in anthropic_up.requests)
        assert "temperature" in first and "temperature" not in second
        assert {k: v for k, v in first.items() if k != "temperature"} == second
        _ran_in_a_worker(r)


@pytest.mark.parametrize(
    ("model", "raw"),
    [
        ("gpt-x", b'{"model": "gpt-x", "messages": [}'),  # invalid JSON
        ("gpt-x", b'{"model": "gpt-x", "temperature": NaN}'),  # NaN is not JSON
        ("gpt-x", b"\xff\xfe{}"),  # not UTF-8
        ("gpt-x", b'[{"model": "gpt-x"}]'),  # not an object
        ("gpt-x", b'{"model": "nobody", "messages": []}'),  # routing: unknown model
        ("gpt-x", b'{"messages": []}'),  # routing: no model
        ("claude-x", b'{"model": "claude-x", "messages": [{"role": "user", "content": "hi"}], "n": 2}'),  # refused
        ("claude-x", b'{"model": "claude-x", "messages": [{"role": "tool", "content": "hi"}]}'),  # refused
        ("claude-x", b'{"model": "claude-x", "messages": []}'),  # refused
    ],
)
async def test_big_body_refusals_answer_as_small_ones(openai_up, anthropic_up, make_proxy, model, raw):
    async with make_proxy([entry("gpt-x", openai_up), claude(anthropic_up)], offload_body_bytes=len(raw) + 1) as r:
        small = await _raw_post(r, raw)
        assert r.state.offload.worker_pids == set()
        big = await _raw_post(r, raw + PAD)
        assert small[0] >= 400 and big == small
        _ran_in_a_worker(r)
        assert (await _offloaded(r)).get("refused") == 1
    assert openai_up.requests == [] and anthropic_up.requests == []


async def test_bodies_beyond_the_queue_get_503_and_small_ones_still_pass(openai_up, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up)], offload_body_bytes=THRESHOLD, offload_queue=2) as r:
        small = json.dumps({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}).encode()
        r.state.offload.in_flight = 2  # as if two big bodies were being handled off the loop
        status, answer = await _raw_post(r, small + PAD)
        assert status == 503, answer
        assert json.loads(answer)["error"]["code"] == "bodies_busy"
        assert (await _raw_post(r, small))[0] == 200
        r.state.offload.in_flight = 0
        assert (await _raw_post(r, small + PAD))[0] == 200
        assert (await _offloaded(r)).get("busy") == 1


async def test_workers_stop_with_the_server(openai_up, make_proxy):
    body = json.dumps({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}).encode() + PAD
    async with make_proxy([entry("gpt-x", openai_up)], offload_body_bytes=THRESHOLD) as r:
        assert (await _raw_post(r, body))[0] == 200
        pids = set(r.state.offload.worker_pids)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_a_dead_worker_fails_one_body_and_the_next_gets_a_new_pool(openai_up, make_proxy):
    body = json.dumps({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}).encode() + PAD
    async with make_proxy([entry("gpt-x", openai_up)], offload_body_bytes=THRESHOLD, offload_workers=1) as r:
        assert (await _raw_post(r, body))[0] == 200
        (dead,) = r.state.offload.worker_pids
        os.kill(dead, signal.SIGKILL)  # killed, as by the OOM killer
        status, answer = await _raw_post(r, body)
        assert status == 500 and json.loads(answer)["error"]["code"] == "internal_error"
        assert (await _raw_post(r, body))[0] == 200
        assert len(r.state.offload.worker_pids) == 2


async def test_the_workers_start_with_the_server_and_take_the_first_big_body(openai_up, make_proxy):
    """The first big body does not wait for a worker process to start: the server starts the pool's workers in
    the background as it starts (small bodies are served meanwhile), and each worker reports once it is ready."""
    small = json.dumps({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}).encode()
    async with make_proxy(
        [entry("gpt-x", openai_up)], offload_body_bytes=THRESHOLD, offload_workers=2, prestart_offload=True
    ) as r:
        offload = r.state.offload
        assert (await _raw_post(r, small))[0] == 200  # served whether or not the workers are up yet
        await asyncio.wait_for(offload.prestarted.wait(), timeout=60)  # a generous bound, not a benchmark
        assert len(offload.ready_pids) == 2 and os.getpid() not in offload.ready_pids
        for pid in offload.ready_pids:
            os.kill(pid, 0)  # alive
        assert offload.worker_pids == set() and (await _offloaded(r)) == {}  # starting them prepared no body
        assert (await _raw_post(r, small + PAD))[0] == 200
        _ran_in_a_worker(r)
        assert offload.worker_pids <= offload.ready_pids  # the first big body went to a worker already started

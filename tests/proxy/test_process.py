"""The real `morpheus-proxy` process: refusals at start, SIGHUP reload, SIGTERM graceful drain."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.fwd_helpers import ADMIN_TOKEN, SteadyLoad, entry, eventually, model_id, write_config
from tests.support.fwd_stubs import UPSTREAM_KEY

EXE = str(Path(sys.executable).with_name("morpheus-proxy"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_to_exit(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        EXE, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


@contextlib.asynccontextmanager
async def proxy_process(config: Path, *extra: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str, str]]:
    port, admin = free_port(), free_port()
    env = {**os.environ, "MORPHEUS_PROXY_ADMIN_TOKEN": ADMIN_TOKEN}
    proc = await asyncio.create_subprocess_exec(
        EXE, "--config", str(config), "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}", *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"listening" in line, line
        yield proc, f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{admin}"
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_refuses_non_loopback_listen_without_client_token(tmp_path, openai_up):
    cfg = tmp_path / "c.json"
    write_config(cfg, [entry("gpt-x", openai_up)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MORPHEUS_PROXY_")}
    code, out = await run_to_exit("--config", str(cfg), "--listen", f"0.0.0.0:{free_port()}", env=env)
    assert code == 1 and "refusing to listen on 0.0.0.0 without a client token" in out


async def test_refuses_invalid_config_at_start_without_leaking_keys(tmp_path, openai_up):
    cfg = tmp_path / "c.json"
    write_config(cfg, [{**entry("dec", openai_up), "apiType": "decisions", "apiUrl": openai_up.url}])
    code, out = await run_to_exit("--config", str(cfg), "--listen", f"127.0.0.1:{free_port()}")
    assert code == 1 and "a decisions URL needs its path" in out
    assert UPSTREAM_KEY not in out


async def test_sighup_reloads_under_load_with_zero_failures(tmp_path, openai_up):
    openai_up.knobs.delta_gap = 0.01
    cfg = tmp_path / "c.json"
    models = [entry("gpt-x", openai_up)]
    write_config(cfg, models)
    async with (
        proxy_process(cfg, "--no-watch") as (proc, base, admin),
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as s,
        SteadyLoad(base, model_id("gpt-x")) as load,
    ):

        async def version() -> str:
            async with s.get(admin + "/admin/config") as resp:
                return (await resp.json())["version"]

        before = await version()
        write_config(cfg, [{**models[0], "concurrentSlots": 8}])
        await asyncio.sleep(0.3)
        assert await version() == before  # --no-watch: the file change alone does nothing
        proc.send_signal(signal.SIGHUP)
        for _ in range(200):
            if await version() != before:
                break
            await asyncio.sleep(0.02)
        assert await version() != before
        write_config(cfg, [{**models[0], "modelName": "gpt-x-2", "apiKey": "sk-rotated"}])
        proc.send_signal(signal.SIGHUP)
        await eventually(lambda: bool(openai_up.requests) and openai_up.requests[-1]["body"]["model"] == "gpt-x-2")
        done = load.ok
        await eventually(lambda: load.ok >= done + 4)
    assert load.failed == []
    assert openai_up.requests[-1]["headers"]["Authorization"] == "Bearer sk-rotated"


async def test_sigterm_drains_in_flight_streams_then_exits(tmp_path, openai_up):
    openai_up.knobs.deltas = 20
    openai_up.knobs.delta_gap = 0.05
    cfg = tmp_path / "c.json"
    write_config(cfg, [entry("gpt-x", openai_up)])
    async with proxy_process(cfg, "--drain-grace", "20") as (proc, base, _), aiohttp.ClientSession() as s:
        body = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        resp = await s.post(base + "/chat/completions", json=body)
        assert (await resp.content.readline()).startswith(b"data: ")
        proc.send_signal(signal.SIGTERM)
        text = (await resp.read()).decode()
        resp.close()
        assert "tok19" in text and text.endswith("data: [DONE]\n\n")  # the stream finished despite SIGTERM
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as s2, s2.post(base + "/chat/completions", json=body):
                pass


async def test_client_token_file_on_any_address(tmp_path, openai_up):
    cfg = tmp_path / "c.json"
    write_config(cfg, [entry("gpt-x", openai_up)])
    token = tmp_path / "token"
    token.write_text("tok-from-file\n")
    async with proxy_process(cfg, "--client-token-file", str(token)) as (_, base, _), aiohttp.ClientSession() as s:
        body = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}
        async with s.post(base + "/chat/completions", json=body) as resp:
            assert resp.status == 401
        async with s.post(
            base + "/chat/completions", json=body, headers={"Authorization": "Bearer tok-from-file"}
        ) as resp:
            assert resp.status == 200 and json.loads(await resp.read())["choices"]

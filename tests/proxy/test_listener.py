"""Client sockets are bounded: a first request head has a deadline from the accept, open client connections have a
cap below the descriptor limit, accept errors are logged rarely, and the admin plane answers throughout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import openai
import pytest

from tests.support.fwd_helpers import ADMIN_TOKEN, admin_url, base_url, entry, write_config
from tests.support.fwd_stubs import Upstream
from tests.support.ports import free_port

EXE = str(Path(sys.executable).with_name("morpheus-proxy"))
NOFILE = 512  # the forwarder's descriptor limit in the process tests (soft and hard)
IDLE = 600  # more idle sockets than that


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """The forwarder closed the connection without answering (EOF, or a reset)."""
    try:
        return await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        return True


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_a_connection_that_sends_nothing_is_closed_at_the_first_head_deadline(openai_up: Upstream, make_proxy):
    """The slow-loris guard armed only once bytes arrived: 5,000 connections that sent nothing stayed open. A
    kept-alive connection idle between requests (a router's pool) is not held to the first head's deadline."""
    models = b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n"
    async with make_proxy([entry("gpt-x", openai_up)], first_head_timeout=0.3) as r:
        silent_reader, silent = await asyncio.open_connection("127.0.0.1", r.data_port)
        pooled_reader, pooled = await asyncio.open_connection("127.0.0.1", r.data_port)
        try:
            pooled.write(models)
            assert (await asyncio.wait_for(pooled_reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200")
            assert await closed_by_peer(silent_reader)
            async with aiohttp.ClientSession() as s, s.get(admin_url(r) + "/metrics") as resp:
                text = await resp.text()
            assert metric(text, 'morpheus_proxy_client_connections_closed_total{reason="head_timeout"}') == 1
            await asyncio.sleep(0.5)  # idle past the first head's deadline, after a request: still served
            await pooled_reader.read(65536)  # the rest of the first answer
            pooled.write(models)
            assert (await asyncio.wait_for(pooled_reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200")
        finally:
            silent.close()
            pooled.close()


async def test_past_the_cap_new_connections_are_closed_at_once_and_counted(openai_up: Upstream, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up)], max_connections=3) as r, aiohttp.ClientSession() as s:
        held = [await asyncio.open_connection("127.0.0.1", r.data_port) for _ in range(3)]
        try:

            async def figures() -> str:
                async with s.get(admin_url(r) + "/metrics") as resp:
                    return await resp.text()

            for _ in range(50):  # the three are accepted (the kernel completes a handshake before that)
                if metric(await figures(), "morpheus_proxy_client_connections") == 3:
                    break
                await asyncio.sleep(0.1)
            extra_reader, extra = await asyncio.open_connection("127.0.0.1", r.data_port)
            assert await closed_by_peer(extra_reader)
            extra.close()
            text = await figures()
            assert metric(text, "morpheus_proxy_client_connections") == 3
            assert metric(text, "morpheus_proxy_client_connections_cap") == 3
            assert metric(text, "morpheus_proxy_client_connections_at_cap") == 1
            assert metric(text, 'morpheus_proxy_client_connections_closed_total{reason="cap"}') == 1
            async with s.get(admin_url(r) + "/healthz") as resp:
                assert resp.status == 200
        finally:
            for _, w in held:
                w.close()
        for _ in range(50):  # the held connections' ends reach the forwarder: new clients are served again
            text = await figures()
            if metric(text, "morpheus_proxy_client_connections_at_cap") == 0:
                break
            await asyncio.sleep(0.1)
        async with s.get(base_url(r) + "/models") as resp:
            assert resp.status == 200


# ---- the real process under a small descriptor limit ---------------------------------------------------------


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


@contextlib.asynccontextmanager
async def small_forwarder(config: Path, *extra: str) -> AsyncIterator[tuple[int, int, list[bytes]]]:
    """`morpheus-proxy` with NOFILE descriptors; yields (data port, admin port, its log lines as they come)."""
    port, admin = free_port(), free_port()
    env = {**os.environ, "MORPHEUS_PROXY_ADMIN_TOKEN": ADMIN_TOKEN}
    proc = await asyncio.create_subprocess_exec(
        EXE, "--config", str(config), "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}",
        "--no-watch", *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, preexec_fn=_limit_descriptors,
    )  # fmt: skip
    lines: list[bytes] = []

    async def drain() -> None:  # read the log as it comes: a full pipe would stall the forwarder
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            lines.append(line)

    reader = asyncio.create_task(drain())
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"listening" in line, line
        yield port, admin, lines
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


@contextlib.contextmanager
def room_for_idle_sockets() -> Iterator[None]:
    """The test process itself holds IDLE sockets and more."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = IDLE + 512
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"needs {need} descriptors, the hard limit is {hard}")
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def open_idle(port: int, count: int) -> list[asyncio.StreamWriter]:
    writers = []
    for _ in range(count):
        _, w = await asyncio.open_connection("127.0.0.1", port)
        writers.append(w)
    return writers


async def served(port: int) -> bool:
    """A model list and a chat answer from the data plane."""
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/v1/models") as resp:
        if resp.status != 200:
            return False
    async with openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0) as c:
        res = await c.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
    return bool(res.choices[0].message.content)


async def served_eventually(port: int) -> None:
    for _ in range(100):
        with contextlib.suppress(aiohttp.ClientError, openai.APIConnectionError, asyncio.TimeoutError):
            if await asyncio.wait_for(served(port), 5):
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the data plane never served again")


async def test_600_idle_sockets_under_512_descriptors(tmp_path: Path, openai_up: Upstream):
    """Started with `ulimit -n 512`, 600 idle sockets made /healthz and /v1/models time out and wrote 450,219
    tracebacks (`socket.accept() out of system resource`) in 45 s. Now the data plane stops at its cap (the
    descriptor limit less a reserve), the admin plane answers, the log says it a few times, and the data plane
    serves again once the sockets close."""
    cfg = tmp_path / "c.json"
    write_config(cfg, [entry("gpt-x", openai_up)])
    with room_for_idle_sockets():
        async with small_forwarder(cfg) as (port, admin, log_lines), aiohttp.ClientSession() as s:
            idle = await open_idle(port, IDLE)
            try:
                await asyncio.sleep(2)  # what the forwarder does with them meanwhile
                async with asyncio.timeout(1), s.get(f"http://127.0.0.1:{admin}/healthz") as resp:
                    assert resp.status == 200
                async with s.get(f"http://127.0.0.1:{admin}/metrics") as resp:
                    text = await resp.text()
                assert metric(text, "morpheus_proxy_client_connections_at_cap") == 1
                assert metric(text, 'morpheus_proxy_client_connections_closed_total{reason="cap"}') > 0
            finally:
                for w in idle:
                    w.close()
            await served_eventually(port)
            assert len(log_lines) < 50, b"".join(log_lines[:20]).decode()


async def test_out_of_descriptors_accept_errors_are_logged_rarely_and_accepting_resumes(
    tmp_path: Path, openai_up: Upstream
):
    """A cap set above the descriptor limit: the process runs out of descriptors, so accepting fails (EMFILE).
    The failures are counted into a few log lines, and both planes serve again once descriptors free up."""
    cfg = tmp_path / "c.json"
    write_config(cfg, [entry("gpt-x", openai_up)])
    with room_for_idle_sockets():
        async with small_forwarder(cfg, "--max-connections", "5000") as (port, admin, log_lines):
            idle = await open_idle(port, IDLE)
            try:
                await asyncio.sleep(3)
            finally:
                for w in idle:
                    w.close()
            await served_eventually(port)
            async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{admin}/metrics") as resp:
                text = await resp.text()
            assert metric(text, 'morpheus_proxy_accept_errors_total{plane="data",reason="EMFILE"}') > 0
            assert any(b"cannot accept" in line for line in log_lines)
            assert len(log_lines) < 50, b"".join(log_lines[:20]).decode()

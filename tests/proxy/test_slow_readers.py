"""Slow and stalled readers of buffered (non-stream) answers, against the real `morpheus-proxy` process: an
answer keeps its model's slot until its last byte is written, so answer memory is bounded by the slots; a
reader that stops reading is ended by the write deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from proxy.exceptions import SettingsError
from proxy.server import Running
from proxy.settings import Settings
from tests.support.fwd_helpers import ADMIN_TOKEN, base_url, entry, eventually, in_flight, model_id, write_config
from tests.support.fwd_stubs import Upstream
from tests.support.ports import free_port

MB = 1024 * 1024
EXE = str(Path(sys.executable).with_name("morpheus-proxy"))
ANSWER = 4 * MB  # the answer's size, just under max_response_bytes
CAP = ANSWER + 64 * 1024
NAME = "gpt-slow"


def chat_answer(size: int) -> bytes:
    """A chat completion of about `size` bytes (one long message)."""
    head = {"id": "chatcmpl-big", "object": "chat.completion", "created": 1, "model": NAME}
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    text = "x" * max(0, size - 300)
    msg = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    return json.dumps({**head, "choices": [msg], "usage": usage}).encode()


@contextlib.asynccontextmanager
async def big_upstream(sizes: dict[str, int]) -> AsyncIterator[str]:
    """A loopback OpenAI upstream whose answer's size is chosen by the prompt (`sizes[prompt]`, else ANSWER)."""
    bodies: dict[int, bytes] = {}

    async def chat(request: web.Request) -> web.Response:
        prompt = (await request.json())["messages"][0]["content"]
        if prompt == "html":  # a gateway's page sent with 200, larger than the forwarder parses whole
            return web.Response(body=b"<html>" + b"x" * 2 * MB + b"</html>", content_type="text/html")
        size = sizes.get(prompt, ANSWER)
        if size not in bodies:
            bodies[size] = chat_answer(size)
        return web.Response(body=bodies[size], content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/v1/chat/completions"
    finally:
        await runner.cleanup()


@dataclass
class Forwarder:
    pid: int
    port: int
    admin: int


@contextlib.asynccontextmanager
async def forwarder(config: Path, *flags: str) -> AsyncIterator[Forwarder]:
    """A real forwarder process on loopback (no client token); always stopped."""
    port, admin = free_port(), free_port()
    env = {**os.environ, "MORPHEUS_PROXY_ADMIN_TOKEN": ADMIN_TOKEN}
    env.pop("MORPHEUS_PROXY_CLIENT_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        EXE, "--config", str(config), "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}",
        "--no-watch", "--log-level", "WARNING", *flags,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"listening" in line, line
        yield Forwarder(proc.pid, port, admin)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def rss(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field}")


async def metric(fwd: Forwarder, name: str, match: str = "") -> float:
    """The sum of a metric's series (those whose line holds `match`) from the admin plane's /metrics."""
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{fwd.admin}/metrics") as resp:
        text = await resp.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if (line.startswith(name + "{") or line.startswith(name + " ")) and match in line
    )


@dataclass
class Reader:
    """A client on a real socket with a small receive buffer that reads its answer slowly, or stops reading."""

    port: int
    prompt: str = "hi"
    model: str = NAME
    status: int = 0
    length: int = -1
    received: int = 0
    stalled: asyncio.Event = field(default_factory=asyncio.Event)  # set once the head is read
    resume: asyncio.Event | None = None  # given: stop reading after the head until it is set, then read fast

    @property
    def cut(self) -> bool:
        """The connection ended before the whole answer arrived."""
        return self.received < self.length

    async def run(self, pause: float = 0.02) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, ("127.0.0.1", self.port))
            body = json.dumps({"model": self.model, "messages": [{"role": "user", "content": self.prompt}]}).encode()
            head = (
                f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            await loop.sock_sendall(sock, head + body)
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = await loop.sock_recv(sock, 4096)
                if not chunk:
                    return
                buf += chunk
            head_text, rest = buf.split(b"\r\n\r\n", 1)
            lines = head_text.decode("latin-1").split("\r\n")
            self.status = int(lines[0].split()[1])
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    self.length = int(value)
            self.received = len(rest)
            self.stalled.set()
            if self.resume is not None:
                await self.resume.wait()
                pause = 0
            while self.received < self.length:
                await asyncio.sleep(pause)
                try:
                    chunk = await loop.sock_recv(sock, 64 * 1024)
                except ConnectionResetError:
                    return
                if not chunk:
                    return
                self.received += len(chunk)
        finally:
            sock.close()


async def test_twelve_slow_readers_on_a_two_slot_model_hold_at_most_two_answers(tmp_path: Path):
    sizes = {"warm": 64 * 1024}
    async with big_upstream(sizes) as url:
        config = tmp_path / "models.json"
        entry = {"modelId": model_id(NAME), "modelName": NAME, "apiType": "openai", "apiUrl": url,
                 "apiKey": "sk-up", "concurrentSlots": 2}  # fmt: skip
        write_config(config, [entry])
        flags = ["--max-response-bytes", str(CAP), "--wait-queue", "16", "--wait-timeout", "60",
                 "--write-timeout", "2"]  # fmt: skip
        async with forwarder(config, *flags) as fwd:
            warm = Reader(fwd.port, "warm")
            await warm.run(pause=0)  # imports, pools and buffers exist before we measure
            assert warm.status == 200 and warm.received == warm.length
            before = rss(fwd.pid, "VmHWM")

            # A client that stops reading holds its slot (in_flight 1) until the write deadline ends it.
            staller = Reader(fwd.port, resume=asyncio.Event())
            stall_task = asyncio.create_task(staller.run())
            await asyncio.wait_for(staller.stalled.wait(), 10)
            assert staller.status == 200
            assert await metric(fwd, "morpheus_proxy_in_flight", NAME) == 1

            readers = [Reader(fwd.port) for _ in range(11)]
            tasks = [asyncio.create_task(r.run()) for r in readers]
            samples: list[float] = []
            while not all(t.done() for t in tasks):
                samples.append(await metric(fwd, "morpheus_proxy_in_flight", NAME))
                await asyncio.sleep(0.05)
            await asyncio.gather(*tasks)
            growth = rss(fwd.pid, "VmHWM") - before
            cut = await metric(fwd, "morpheus_proxy_answers_cut_total", 'reason="write_timeout"')
            assert staller.resume is not None
            staller.resume.set()  # what the forwarder's kernel had taken before the cut, then the end
            await asyncio.wait_for(stall_task, 15)
            after = await metric(fwd, "morpheus_proxy_in_flight", NAME)

    print(f"peak RSS growth {growth / MB:.1f} MB; in_flight samples {samples}")
    assert [(r.status, r.cut) for r in readers] == [(200, False)] * 11
    assert staller.cut
    assert cut == 1
    assert max(samples) == 2 and samples.count(2) >= len(samples) // 2, samples
    assert after == 0
    assert growth <= 2 * CAP + 32 * MB, f"peak RSS grew by {growth / MB:.1f} MB"


def _cut(r: Running, reason: str) -> float:
    return r.state.metrics.answers_cut.values.get((("model", NAME), ("reason", reason)), 0.0)


async def _stall(r: Running, model: str = NAME) -> tuple[Reader, asyncio.Task[None]]:
    """A client that takes its answer's head and then reads nothing more until its `resume` is set."""
    reader = Reader(r.data_port, model=model, resume=asyncio.Event())
    task = asyncio.create_task(reader.run())
    await asyncio.wait_for(reader.stalled.wait(), 10)
    return reader, task


async def _read_rest(reader: Reader, task: asyncio.Task[None]) -> None:
    assert reader.resume is not None
    reader.resume.set()
    await asyncio.wait_for(task, 15)


async def test_the_total_timeout_ends_a_stalled_reader_and_is_not_the_upstreams_failure(make_proxy):
    async with big_upstream({}) as url:
        model = {**entry(NAME, Upstream(url="")), "apiUrl": url, "concurrentSlots": 2}
        async with make_proxy([model], max_response_bytes=CAP, total_timeout=2.0, write_timeout=60.0) as r:
            reader, task = await _stall(r)
            assert reader.status == 200 and in_flight(r, NAME) == 1
            await eventually(lambda: _cut(r, "total_timeout") == 1, 15)
            await _read_rest(reader, task)
            assert reader.cut and in_flight(r, NAME) == 0
            assert not r.state.metrics.upstream_errors.values  # a slow client is not the upstream's failure


async def test_buffered_answers_of_a_model_without_slots_stay_under_the_global_cap(make_proxy):
    async with big_upstream({"small": 1024}) as url:
        model = {**entry(NAME, Upstream(url="")), "apiUrl": url}  # concurrentSlots 0: unlimited
        settings = {"max_response_bytes": CAP, "max_buffered_bytes": 2 * CAP, "write_timeout": 3.0, "wait_timeout": 0.5}
        async with make_proxy([model], **settings) as r, aiohttp.ClientSession() as s:
            held = [await _stall(r) for _ in range(2)]
            lines = r.state.metrics.render().splitlines()
            gauge = [float(x.split()[1]) for x in lines if x.startswith("morpheus_proxy_buffered_answer_bytes ")]
            assert gauge and 2 * (ANSWER - 300) <= gauge[0] <= 2 * CAP, gauge
            body = {"model": NAME, "messages": [{"role": "user", "content": "hi"}]}
            async with s.post(base_url(r) + "/chat/completions", json=body) as resp:
                refused = resp.status, (await resp.json())["error"]["code"], resp.headers.get("Retry-After")
            assert refused == (503, "answer_memory_full", "1")
            await eventually(lambda: _cut(r, "write_timeout") == 2, 15)
            for reader, task in held:
                await _read_rest(reader, task)
                assert reader.cut
            async with s.post(base_url(r) + "/chat/completions", json=body) as resp:
                assert resp.status == 200 and len(await resp.read()) >= ANSWER - 300
            assert r.state.metrics.rejections.values.get((("reason", "answer_memory_full"),)) == 1


async def test_a_claudeai_answer_keeps_its_slot_until_it_is_written(make_proxy, anthropic_up):
    anthropic_up.knobs.reply_text = "y" * ANSWER
    model = entry(NAME, anthropic_up, api_type="claudeai", slots=1)
    async with make_proxy([model], max_response_bytes=2 * CAP, write_timeout=2.0) as r:
        reader, task = await _stall(r)
        assert reader.status == 200 and in_flight(r, NAME) == 1
        await eventually(lambda: _cut(r, "write_timeout") == 1, 15)
        await _read_rest(reader, task)
        assert reader.cut and in_flight(r, NAME) == 0


def test_a_global_cap_below_one_answer_is_refused():
    assert Settings().write_timeout == 120.0
    with pytest.raises(SettingsError, match="max_buffered_bytes: must be at least max_response_bytes"):
        Settings(max_response_bytes=8 * MB, max_buffered_bytes=4 * MB)


async def test_a_large_answer_is_checked_by_its_ends_and_its_usage_still_counted(make_proxy):
    async with big_upstream({}) as url:
        model = {**entry(NAME, Upstream(url="")), "apiUrl": url}
        async with make_proxy([model], max_response_bytes=CAP) as r, aiohttp.ClientSession() as s:
            for prompt, status in (("big", 200), ("html", 502)):
                body = {"model": NAME, "messages": [{"role": "user", "content": prompt}]}
                async with s.post(base_url(r) + "/chat/completions", json=body) as resp:
                    answer = await resp.json(content_type=None)
                    assert resp.status == status
                    if status == 200:
                        assert len(answer["choices"][0]["message"]["content"]) == ANSWER - 300
                    else:
                        assert answer["error"]["code"] == "upstream_bad_response"
            tokens = r.state.metrics.tokens.values
            assert tokens[(("model", NAME), ("model_id", model_id(NAME)), ("type", "prompt"))] == 1
            assert tokens[(("model", NAME), ("model_id", model_id(NAME)), ("type", "completion"))] == 1


async def test_a_client_that_hangs_up_mid_answer_frees_its_slot_and_is_counted(make_proxy):
    async with big_upstream({}) as url:
        model = {**entry(NAME, Upstream(url="")), "apiUrl": url, "concurrentSlots": 1}
        async with make_proxy([model], max_response_bytes=CAP) as r:
            reader, task = await _stall(r)
            assert reader.status == 200
            assert in_flight(r, NAME) == 1
            task.cancel()  # the client closes its socket with the answer unread
            await asyncio.gather(task, return_exceptions=True)
            await eventually(lambda: in_flight(r, NAME) == 0, 15)
            await eventually(lambda: _cut(r, "client_gone") == 1)
            assert not r.state.metrics.upstream_errors.values

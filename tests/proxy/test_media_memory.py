"""A 5 MB image or video answer passes through the real `morpheus-proxy` process without being held whole:
the process's peak resident memory grows by less than 10 MB while it relays it (three times over)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.fwd_helpers import CLIENT_TOKEN, model_id, write_config
from tests.support.media_stubs import KEYS, PATHS, router_request, serve_media

MB = 1024 * 1024
EXE = str(Path(sys.executable).with_name("morpheus-proxy"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@contextlib.asynccontextmanager
async def forwarder(config: Path) -> AsyncIterator[tuple[int, int]]:
    """(pid, data port) of a real forwarder process; always stopped."""
    port, admin = free_port(), free_port()
    env = {**os.environ, "MORPHEUS_PROXY_CLIENT_TOKEN": CLIENT_TOKEN}
    proc = await asyncio.create_subprocess_exec(
        EXE, "--config", str(config), "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}",
        "--no-watch", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"listening" in line, line
        yield proc.pid, port
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def relay_once(url: str, api_type: str, name: str) -> tuple[int, str]:
    """Send the router's request; read the answer in pieces (the client keeps only a running hash)."""
    headers, body = router_request(api_type, name, "a lighthouse at dusk", CLIENT_TOKEN)
    digest, size = hashlib.sha256(), 0
    async with aiohttp.ClientSession(auto_decompress=False) as s, s.post(url, data=body, headers=headers) as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_chunked(256 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


@pytest.mark.parametrize(
    ("api_type", "name"), [("prodia-v2", "inference.veo.fast.txt2vid.v1"), ("hyperbolic-sd", "SDXL1.0-base")]
)
async def test_a_5_mb_answer_passes_with_forwarder_rss_growth_under_10_mb(tmp_path: Path, api_type: str, name: str):
    async with serve_media() as up:
        up.knobs.video_bytes = up.knobs.image_bytes = 5 * MB - 1024
        entry = {
            "modelId": model_id(name), "modelName": name, "apiType": api_type,
            "apiUrl": up.url + PATHS[api_type], "apiKey": KEYS[api_type],
        }  # fmt: skip
        config = tmp_path / "models.json"
        write_config(config, [entry])
        async with forwarder(config) as (pid, port):
            url = f"http://127.0.0.1:{port}/v1/relay/{model_id(name)}"
            small = up.knobs.video_bytes
            up.knobs.video_bytes = up.knobs.image_bytes = 64 * 1024
            await relay_once(url, api_type, name)  # warm up: imports, pools and buffers exist before we measure
            up.knobs.video_bytes = up.knobs.image_bytes = small
            before = peak_rss(pid)
            for _ in range(3):
                size, digest = await relay_once(url, api_type, name)
                assert size >= 5 * MB - 1024 and digest == hashlib.sha256(up.sent[PATHS[api_type]]).hexdigest()
            growth = peak_rss(pid) - before
    print(f"{api_type}: {size} bytes relayed 3 times, forwarder peak RSS growth {growth / MB:.2f} MB")
    assert growth < 10 * MB, f"peak RSS grew by {growth / MB:.1f} MB"

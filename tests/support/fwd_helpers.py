"""Helpers shared by the forwarder tests (a uniquely named module: `conftest` may exist elsewhere too)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from proxy.server import Running
from proxy.settings import Settings
from proxy.state import ProxyState
from tests.support.fwd_stubs import UPSTREAM_KEY, Upstream, serve_upstream

CLIENT_TOKEN = "client-token-XYZ"
CHAT = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}

ADMIN_TOKEN = "admin-token-ABC"


def model_id(name: str) -> str:
    return "0x" + hashlib.sha256(name.encode()).hexdigest()


def entry(
    name: str, up: Upstream, *, kind: str = "chat/completions", api_type: str = "openai", slots: int = 0, **extra: Any
) -> dict[str, Any]:
    path = "/v1/messages" if api_type == "claudeai" else f"/v1/{kind}"
    e = {
        "modelId": model_id(name),
        "modelName": name,
        "apiType": api_type,
        "apiUrl": up.url + path,
        "apiKey": UPSTREAM_KEY,
    }
    if slots:
        e["concurrentSlots"] = slots
    e.update(extra)
    return e


def write_config(path: Path, models: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"models": models}, indent=2))
    tmp.replace(path)  # atomic, as the reconciler writes it


def base_url(r: Running) -> str:
    return f"http://127.0.0.1:{r.data_port}/v1"


def admin_url(r: Running) -> str:
    return f"http://127.0.0.1:{r.admin_port}"


async def eventually(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a condition (state changes asynchronously after a disconnect); fail if it never holds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition never became true")
        await asyncio.sleep(0.01)


def in_flight(r: Running, name: str = "gpt-x") -> int:
    return r.state.slots.gates[model_id(name)[2:]].in_flight


async def post(
    session: aiohttp.ClientSession, r: Running, body: dict, path: str = "/chat/completions"
) -> tuple[int, dict, dict]:
    async with session.post(base_url(r) + path, json=body) as resp:
        raw = await resp.read()
        try:
            data = json.loads(raw)
        except ValueError:
            data = {"raw": raw.decode()}
        return resp.status, dict(resp.headers), data


class SteadyLoad:
    """A few workers sending streamed and plain requests back to back; counts every outcome."""

    def __init__(
        self, target: Running | str, model: str, workers: int = 4, headers: dict[str, str] | None = None
    ) -> None:
        self.base = base_url(target) if isinstance(target, Running) else target
        self.model, self.workers, self.headers = model, workers, headers or {}
        self.ok = 0
        self.failed: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _worker(self, i: int) -> None:
        async with aiohttp.ClientSession(headers=self.headers) as s:
            while not self._stop.is_set():
                body = {"model": self.model, "messages": [{"role": "user", "content": "hi"}], "stream": i % 2 == 0}
                try:
                    async with s.post(self.base + "/chat/completions", json=body) as resp:
                        text = await resp.text()
                    if (
                        resp.status == 200
                        and ("error" not in text)
                        and (not body["stream"] or text.endswith("data: [DONE]\n\n"))
                    ):
                        self.ok += 1
                    else:
                        self.failed.append(f"{resp.status} {text[:200]}")
                except aiohttp.ClientError as exc:
                    self.failed.append(repr(exc))

    async def __aenter__(self) -> SteadyLoad:
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(self.workers)]
        await eventually(lambda: self.ok >= 4)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


@contextlib.asynccontextmanager
async def one_good_one_refusing(folder: Path) -> AsyncIterator[tuple[ProxyState, Upstream, Upstream]]:
    """A forwarder's state, loaded but not started, serving `good` through a loopback upstream that answers and
    `refused` through one that refuses the key (401 until a test sets its `knobs.status` back); yields the state
    and the two upstreams, stopped at the end."""
    async with serve_upstream("openai") as good, serve_upstream("openai") as refusing:
        refusing.knobs.status = 401
        path = folder / "models-config.json"
        write_config(path, [entry("good", good), entry("refused", refusing)])
        state = ProxyState(path, Settings().replace(total_timeout=10.0), admin_token=ADMIN_TOKEN)
        state.load_initial()
        yield state, good, refusing

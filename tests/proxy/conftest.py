"""Fixtures: loopback upstream stubs and an in-process forwarder on free ports (always stopped)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from proxy.server import Running, running
from proxy.settings import Settings
from proxy.state import ProxyState
from tests.support.fwd_helpers import ADMIN_TOKEN, write_config
from tests.support.fwd_stubs import Upstream, serve_upstream


@pytest.fixture
async def openai_up() -> AsyncIterator[Upstream]:
    async with serve_upstream("openai") as up:
        yield up


@pytest.fixture
async def anthropic_up() -> AsyncIterator[Upstream]:
    async with serve_upstream("anthropic") as up:
        yield up


ProxyFactory = Callable[..., contextlib.AbstractAsyncContextManager[Running]]


@pytest.fixture
def make_proxy(tmp_path: Path) -> ProxyFactory:
    """`async with make_proxy(models, **settings) as r:` -> a running forwarder; r.state.config_path is the file."""

    @contextlib.asynccontextmanager
    async def factory(
        models: list[dict[str, Any]],
        *,
        client_token: str | None = None,
        admin_token: str | None = ADMIN_TOKEN,
        watch: bool = False,
        prestart_offload: bool = False,
        **settings: Any,
    ) -> AsyncIterator[Running]:
        path = tmp_path / "models-config.json"
        write_config(path, models)
        defaults: dict[str, Any] = {
            "keepalive_interval": 5.0,
            "idle_timeout": 5.0,
            "ttfb_timeout": 10.0,
            "total_timeout": 30.0,
            "watch_debounce_ms": 50,
        }
        defaults.update(settings)
        state = ProxyState(path, Settings().replace(**defaults), client_token=client_token, admin_token=admin_token)
        state.load_initial()
        async with running(state, watch=watch, prestart_offload=prestart_offload) as r:
            yield r

    return factory

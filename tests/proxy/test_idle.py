"""IdleTimeout: activity keeps it alive, silence ends it, and someone else's cancellation stays a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from proxy.idle import IdleTimeout


async def test_touching_keeps_a_long_body_alive() -> None:
    ticks = 0
    async with IdleTimeout(0.2) as idle:
        for _ in range(8):  # 8 x 0.05 s: twice the idle period in total, never idle for a whole period
            await asyncio.sleep(0.05)
            ticks += 1
            idle.touch()
    assert ticks == 8 and not idle.expired


async def test_silence_raises_timeout_error() -> None:
    with pytest.raises(TimeoutError):
        async with IdleTimeout(0.05) as idle:
            await asyncio.sleep(10)
    assert idle.expired
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_outer_cancellation_is_not_turned_into_a_timeout() -> None:
    started = asyncio.Event()

    async def body() -> None:
        async with IdleTimeout(10):
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(body())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

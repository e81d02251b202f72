"""An idle timeout that costs one float store per chunk instead of a timer reschedule.

`asyncio.timeout(...).reschedule()` per chunk cancels one timer and schedules another for every chunk of
every stream (heap churn that grows with the number of open streams). `IdleTimeout` keeps one timer per
stream: `touch()` records the time of the last activity, and the timer, when it fires, either cancels the
task (idle for the whole period: `TimeoutError` leaves the `async with`) or re-arms itself at last + idle.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class IdleTimeout:
    """`async with IdleTimeout(idle) as t:` ... `t.touch()` on activity; raises TimeoutError when idle too long."""

    __slots__ = ("_cancelling", "_handle", "_loop", "_task", "expired", "idle", "last")

    def __init__(self, idle: float) -> None:
        self.idle = idle
        self.last = 0.0
        self.expired = False
        self._handle: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> IdleTimeout:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("IdleTimeout must be used inside a task")
        self._loop, self._task = loop, task
        self._cancelling = task.cancelling()
        self.last = loop.time()
        self._handle = loop.call_at(self.last + self.idle, self._check)
        return self

    def touch(self) -> None:
        self.last = self._loop.time()

    def _check(self) -> None:
        due = self.last + self.idle
        if self._loop.time() >= due:
            self.expired = True
            self._handle = None
            self._task.cancel()
        else:
            self._handle = self._loop.call_at(due, self._check)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        # Same contract as asyncio.timeout: only our own cancellation becomes a TimeoutError.
        if self.expired and self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

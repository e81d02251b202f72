"""Worker processes that prepare big JSON request bodies (`proxy/prepare.py`) away from the event loop.

A 16 MiB chat body takes seconds of CPU to parse, translate for Anthropic and encode again; in the event loop
every other stream's frames would wait meanwhile. A thread would not help: the C `json` module holds the GIL
(a 15 MiB body stalled the loop 0.47 s from a thread). So bodies above `offload_body_bytes` go to a small pool
of processes, raw bytes in and encoded bytes out (pickled as one buffer each way), started at the first such
body (a forwarder that never sees one never starts a process) and stopped with the server.

At most `offload_queue` bodies are in a worker or waiting for one; beyond that a big body is answered 503 at
once (`bodies_busy`), so big bodies cannot pile up memory without bound while small ones keep being served.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from proxy.metrics import Metrics
from proxy.settings import Settings


class Outcome(Protocol):
    """What a worker's function gives back (`proxy.prepare.Prepared` or `Refused`): the pid of the worker that
    ran it, and its result's name for the metric."""

    @property
    def pid(self) -> int: ...
    @property
    def outcome(self) -> str: ...


Done = TypeVar("Done", bound=Outcome)


WORKER_NICENESS = 10  # added to a worker's niceness: on busy cores, the event loop's process runs first


class _NicedProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker that yields the CPU to the event loop's process from its first instruction (its imports
    take about a second of CPU): a big body may wait, the streams should not."""

    def start(self) -> None:
        super().start()
        with contextlib.suppress(OSError):
            assert self.pid is not None
            os.setpriority(os.PRIO_PROCESS, self.pid, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)


class _NicedSpawn(multiprocessing.context.SpawnContext):
    Process = _NicedProcess


def _start_worker() -> None:
    """A worker leaves Ctrl-C to the server, which stops it in order (no traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Offload:
    """The worker pool, the bound on bodies waiting for it, and what it did (the pids that prepared bodies, for
    tests; `morpheus_proxy_offloaded_bodies_total` by result, for operators)."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.threshold = settings.offload_body_bytes
        self.workers = settings.offload_workers
        self.queue = settings.offload_queue
        self.metrics = metrics
        self.in_flight = 0  # bodies in a worker or waiting for one
        self.worker_pids: set[int] = set()
        self._pool: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    def wants(self, size: int) -> bool:
        """Whether a body of `size` bytes is prepared in a worker."""
        return 0 < self.threshold < size

    async def run(self, work: Callable[..., Done], *args: Any, bounded: bool = True) -> Done | None:
        """`work(*args)` in a worker (`proxy.prepare.prepare`; it and its arguments are pickled); None when
        `offload_queue` bodies are already there (`bounded=False`: a body admitted once and prepared again, as a
        retry without temperature, is never refused)."""
        if bounded and self.in_flight >= self.queue:
            self.metrics.offloaded.inc((("result", "busy"),))
            return None
        loop = asyncio.get_running_loop()
        pool = self._pool or self._start()
        try:
            job = pool.submit(work, *args)
        except BrokenProcessPool:  # a worker died (killed, out of memory): the next body gets a new pool
            self._discard(pool)
            raise
        self.in_flight += 1

        def done(_: Future[Done]) -> None:  # in the pool's thread; counted until the worker is done
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._left)

        job.add_done_callback(done)
        try:
            result = await asyncio.wrap_future(job)
        except BrokenProcessPool:
            self._discard(pool)
            raise
        self.worker_pids.add(result.pid)
        self.metrics.offloaded.inc((("result", result.outcome),))
        return result

    def _left(self) -> None:
        self.in_flight -= 1

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: forking a running event loop's process (its threads, its locks) is unsafe.
        self._pool = ProcessPoolExecutor(self.workers, mp_context=_NicedSpawn(), initializer=_start_worker)
        return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        if self._pool is pool:
            self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        """Stop the workers (after the data plane has drained, nothing is waiting for them)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

"""Worker processes that prepare big JSON request bodies (`proxy/prepare.py`) away from the event loop.

A 16 MiB chat body takes seconds of CPU to parse, translate for Anthropic and encode again; in the event loop
every other stream's frames would wait meanwhile. A thread would not help: the C `json` module holds the GIL
(a 15 MiB body stalled the loop 0.47 s from a thread). So bodies above `offload_body_bytes` go to a small pool
of processes, raw bytes in and encoded bytes out (pickled as one buffer each way), stopped with the server.
They start at the first such body, or in the background at start with `prestart_offload=True`
(`proxy.server.start`/`running`; `morpheus-proxy` does not yet: see docs/forwarder.md).

At most `offload_queue` bodies are in a worker or waiting for one; beyond that a big body is answered 503 at
once (`bodies_busy`), so big bodies cannot pile up memory without bound while small ones keep being served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.queues
import os
import queue
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

log = logging.getLogger("morpheus_proxy")

PRESTART_WAIT = 120.0  # seconds `prestart` waits for every worker to report ready before it stops waiting


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


def _start_worker(ready: multiprocessing.queues.Queue[int]) -> None:
    """A worker leaves Ctrl-C to the server, which stops it in order (no traceback per worker), imports what it
    prepares bodies with before it takes any, and reports its pid once it is ready."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import proxy.prepare  # noqa: F401  (the import is the point: paid at start, not by the first body)

    ready.put(os.getpid())


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
        self.ready_pids: set[int] = set()  # workers `prestart` heard report ready
        self.prestarted = asyncio.Event()  # set when `prestart` is done (every worker ready, or it gave up)
        self._pool: ProcessPoolExecutor | None = None
        self._ready: multiprocessing.queues.Queue[int] | None = None  # where the pool's workers report ready
        self._prestart: asyncio.Task[None] | None = None

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

    def prestart(self) -> None:
        """Start the workers now, in the background (the server's start and its small bodies do not wait for
        them); nothing when big bodies are never offloaded or the pool is already there."""
        if self.threshold <= 0 or self._pool is not None or self._prestart is not None:
            self.prestarted.set()
            return
        self._prestart = asyncio.get_running_loop().create_task(self._start_all(self._start()))

    async def _start_all(self, pool: ProcessPoolExecutor) -> None:
        ready = self._ready
        assert ready is not None
        try:
            # a spawned pool starts a process per job while none is idle: one no-op job per worker starts them
            # all (submitted from a thread: starting a process takes the caller some milliseconds)
            await asyncio.to_thread(lambda: [pool.submit(os.getpid) for _ in range(self.workers)])
            deadline = asyncio.get_running_loop().time() + PRESTART_WAIT
            while (
                self._pool is pool  # not discarded meanwhile (a worker died under a big body)
                and len(self.ready_pids) < self.workers
                and asyncio.get_running_loop().time() < deadline
            ):
                try:
                    self.ready_pids.add(ready.get_nowait())
                except queue.Empty:
                    await asyncio.sleep(0.05)
            if self._pool is pool and len(self.ready_pids) < self.workers:
                log.warning(
                    "%d of %d offload workers ready; the rest start as they can", len(self.ready_pids), self.workers
                )
        except (BrokenProcessPool, RuntimeError, OSError, ValueError) as exc:  # a worker died, or the server stops
            log.warning("offload workers not started early (%s); the first big body starts them", type(exc).__name__)
            self._discard(pool)
        finally:
            self.prestarted.set()

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: forking a running event loop's process (its threads, its locks) is unsafe.
        context = _NicedSpawn()
        self._ready = context.Queue()
        self._pool = ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_start_worker, initargs=(self._ready,)
        )
        return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        if self._pool is pool:
            self._pool = None
            self._close_ready()
            pool.shutdown(wait=False, cancel_futures=True)

    def _close_ready(self) -> None:
        ready, self._ready = self._ready, None
        if ready is not None:
            ready.close()

    async def close(self) -> None:
        """Stop the workers (after the data plane has drained, nothing is waiting for them)."""
        task, self._prestart = self._prestart, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pool, self._pool = self._pool, None
        self._close_ready()
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

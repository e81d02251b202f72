"""Per-model concurrent slots that survive reloads, and the bytes of buffered answers held at once.

A gate is keyed by model id and outlives config versions: a reload changes its limit but never its in-flight
count, and requests release on the gate they acquired. Acquire is synchronous on the fast path.

A request holds its slot until its answer's last byte is written, so the slots bound the buffered answers
of models that have slots; `AnswerBytes` bounds them all together, models with unlimited slots included.
"""

from __future__ import annotations

import asyncio
import collections


class SlotGate:
    """Counts in-flight requests for one model; `limit` 0 means unlimited."""

    __slots__ = ("in_flight", "limit", "model_id", "waiters")

    def __init__(self, model_id: str, limit: int) -> None:
        self.model_id = model_id
        self.limit = limit
        self.in_flight = 0
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def try_acquire(self) -> bool:
        if self.limit and (self.in_flight >= self.limit or self.waiters):
            return False
        self.in_flight += 1
        return True

    async def acquire(self, queue_size: int, timeout: float) -> bool:
        """Take a slot, waiting in a bounded FIFO queue for at most `timeout` seconds."""
        if self.try_acquire():
            return True
        if queue_size <= 0 or len(self.waiters) >= queue_size or timeout <= 0:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        try:
            async with asyncio.timeout(timeout):
                await fut
        except TimeoutError:
            # The slot may have been handed over in the same loop turn as the deadline (the expiry's cancel then
            # lands on a finished wait): it is ours, and answering False would leak it for good.
            return fut.done() and not fut.cancelled()
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.release()  # we were handed a slot while being cancelled: give it back
            raise
        finally:
            if fut in self.waiters:
                self.waiters.remove(fut)
        return True

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def extend(self) -> None:
        """Count a slot already held once more, so it outlives its request (an image job still running
        upstream when its POST has been answered); one `release()` ends it. Never checks the limit: it is
        the same slot, handed on, not a new one."""
        self.in_flight += 1

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    def _wake(self) -> None:
        while self.waiters and (not self.limit or self.in_flight < self.limit):
            fut = self.waiters.popleft()
            if not fut.done():
                self.in_flight += 1  # handed over: the waiter owns this slot now
                fut.set_result(None)


class SlotRegistry:
    """All gates, keyed by model id; kept across config versions."""

    def __init__(self) -> None:
        self.gates: dict[str, SlotGate] = {}

    def apply(self, limits: dict[str, int]) -> None:
        """Set each model's limit (creating gates); gates of removed models stay until drained."""
        for model_id, limit in limits.items():
            gate = self.gates.get(model_id)
            if gate is None:
                self.gates[model_id] = SlotGate(model_id, limit)
            elif gate.limit != limit:
                gate.set_limit(limit)
        for model_id in [m for m, g in self.gates.items() if m not in limits and g.in_flight == 0 and not g.waiters]:
            del self.gates[model_id]

    def gate(self, model_id: str, limit: int) -> SlotGate:
        gate = self.gates.get(model_id)
        if gate is None:
            gate = self.gates[model_id] = SlotGate(model_id, limit)
        return gate

    def total_in_flight(self) -> int:
        return sum(g.in_flight for g in self.gates.values())


class AnswerBytes:
    """Bytes of buffered (non-stream) answers held at once, every model together, at most `limit`.

    A request takes an answer's declared length before reading it (or each piece as it arrives, when no
    length is declared) and gives it all back when its answer is written or dropped. Takers wait in FIFO
    order; the first in line is served before any later one, so a large answer is not starved by small ones.
    """

    __slots__ = ("held", "limit", "waiters")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def try_take(self, n: int) -> bool:
        if self.waiters or self.held + n > self.limit:
            return False
        self.held += n
        return True

    async def take(self, n: int, timeout: float) -> bool:
        """Take `n` bytes, waiting for at most `timeout` seconds for other answers to give theirs back."""
        if self.try_take(n):
            return True
        if timeout <= 0 or n > self.limit:
            return False
        waiter = (n, asyncio.get_running_loop().create_future())
        fut = waiter[1]
        self.waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await fut
        except TimeoutError:
            return fut.done() and not fut.cancelled()  # handed over in the deadline's own loop turn: ours
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.give(n)
            raise
        finally:
            if waiter in self.waiters:
                self.waiters.remove(waiter)
                self._wake()  # the ones behind it may fit
        return True

    def give(self, n: int) -> None:
        self.held -= n
        self._wake()

    def _wake(self) -> None:
        while self.waiters and self.held + self.waiters[0][0] <= self.limit:
            n, fut = self.waiters.popleft()
            if not fut.done():
                self.held += n  # handed over: the waiter owns these bytes now
                fut.set_result(None)

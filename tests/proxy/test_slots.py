"""Slot gates: property test that counts never leak or go negative across acquires, releases and reloads."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.slots import AnswerBytes, SlotGate, SlotRegistry

ops = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.integers(0, 2)),
        st.tuples(st.just("release"), st.integers(0, 2)),
        st.tuples(st.just("reload"), st.lists(st.integers(0, 3), min_size=3, max_size=3)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_counts_match_holders_and_limits_hold_at_acquire(sequence):
    reg = SlotRegistry()
    limits = {f"m{i}": 2 for i in range(3)}
    reg.apply(limits)
    held = {m: 0 for m in limits}
    gates = {}  # requests keep the gate they acquired, even across reloads
    for op, arg in sequence:
        if op == "acquire":
            m = f"m{arg}"
            gate = reg.gate(m, limits[m])
            if gate.try_acquire():
                assert gate.limit == 0 or gate.in_flight <= gate.limit
                held[m] += 1
                gates[m] = gate
        elif op == "release":
            m = f"m{arg}"
            if held[m]:
                gates[m].release()
                held[m] -= 1
        else:
            limits = {f"m{i}": n for i, n in enumerate(arg)}
            reg.apply(limits)
        for m, n in held.items():
            if n:
                assert gates[m].in_flight == n
                assert reg.gates[m] is gates[m]  # a gate with requests in flight survives every reload
    for m, n in held.items():
        for _ in range(n):
            gates[m].release()
    assert reg.total_in_flight() == 0


async def test_waiters_get_slots_in_order_and_a_cancelled_waiter_leaks_nothing():
    reg = SlotRegistry()
    gate = reg.gate("m", 1)
    assert gate.try_acquire()
    first = asyncio.ensure_future(gate.acquire(queue_size=3, timeout=5))
    second = asyncio.ensure_future(gate.acquire(queue_size=3, timeout=5))
    third = asyncio.ensure_future(gate.acquire(queue_size=3, timeout=5))
    await asyncio.sleep(0)
    third.cancel()
    gate.release()
    assert await first is True and not second.done()
    gate.release()
    assert await second is True
    gate.release()
    assert gate.in_flight == 0 and not gate.waiters
    raising = reg.gate("n", 1)
    assert raising.try_acquire()
    assert await raising.acquire(queue_size=0, timeout=5) is False  # no queue: refuse at once
    raising.set_limit(2)  # a reload that raises the limit frees room at once
    assert raising.try_acquire() and raising.in_flight == 2


async def test_a_slot_handed_over_as_the_wait_times_out_is_not_leaked(monkeypatch):
    """A release in the same loop turn as a waiter's deadline: the slot was handed to the waiter (in_flight
    counted for it), then the timeout's cancel turned its wait into a TimeoutError and acquire() answered
    False; nobody ever released that slot, so the model lost it for good (under load, all of them in time)."""
    made: list[asyncio.Timeout] = []
    real = asyncio.timeout

    def recording(delay: float | None) -> asyncio.Timeout:
        cm = real(delay)
        made.append(cm)
        return cm

    monkeypatch.setattr(asyncio, "timeout", recording)
    gate = SlotGate("m", 1)
    assert gate.try_acquire()
    waiter = asyncio.create_task(gate.acquire(4, 60.0))
    await asyncio.sleep(0)  # the waiter is queued
    made[-1].reschedule(asyncio.get_running_loop().time())  # its deadline: now (the expiry runs next turn) ...
    gate.release()  # ... and in the same turn the holder's release hands it the slot
    got = await waiter
    assert gate.in_flight == (1 if got else 0)
    if got:
        gate.release()
    assert gate.in_flight == 0 and not gate.waiters


async def test_answer_bytes_are_handed_out_in_order_and_never_above_the_limit():
    gate = AnswerBytes(100)
    assert gate.try_take(60) and not gate.try_take(50)
    big = asyncio.create_task(gate.take(80, 5))  # first in line
    await asyncio.sleep(0)
    assert not gate.try_take(10)  # a later small one does not overtake it
    small = asyncio.create_task(gate.take(10, 5))
    await asyncio.sleep(0)
    gate.give(60)
    assert await big and await small and gate.held == 90 and not gate.waiters
    assert not await gate.take(20, 0.01)  # no room in time: nothing held for it
    assert not await gate.take(101, 5)  # more than the limit never fits: refused at once
    gate.give(90)
    assert gate.held == 0


async def test_answer_bytes_a_waiter_that_gives_up_lets_the_next_one_in():
    gate = AnswerBytes(100)
    assert gate.try_take(50)
    big = asyncio.create_task(gate.take(90, 0.05))
    await asyncio.sleep(0)
    small = asyncio.create_task(gate.take(40, 5))  # fits now, but waits behind the big one
    assert not await big  # gave up: the one behind it is served
    assert await small and gate.held == 90
    cancelled = asyncio.create_task(gate.take(30, 5))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    assert gate.held == 90 and not gate.waiters

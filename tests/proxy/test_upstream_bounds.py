"""Issue 17: the upstream pool's own bounds: the pool_limit wake-up and the one retry on a fresh connection."""

from __future__ import annotations

import asyncio

import pytest

from proxy.exceptions import Disconnected
from proxy.upstream import UpstreamPool, UpstreamResponse
from tests.support.fwd_hostile import Conn, head, hostile_upstream

PATH = "/v1/chat/completions"


async def read_all(resp: UpstreamResponse) -> bytes:
    out = b""
    while chunk := await resp.readany():
        out += chunk
    return out


async def answer_ok(conn: Conn) -> None:
    while await conn.read_request():
        await conn.send(head("200 OK", "Content-Length: 2") + b"ok")


async def test_row8_a_waiter_cancelled_in_the_tick_it_was_woken_passes_the_wakeup_on():
    async with hostile_upstream(answer_ok) as up:
        pool = UpstreamPool(limit=1)
        try:
            first = await pool.post(up.url + PATH, {}, b"")
            second = asyncio.create_task(pool.post(up.url + PATH, {}, b""))
            third = asyncio.create_task(pool.post(up.url + PATH, {}, b""))
            while len(pool._waiters) < 2:
                await asyncio.sleep(0.01)
            assert await read_all(first) == b"ok"
            first.release()  # wakes `second` ...
            second.cancel()  # ... which is cancelled before it runs: `third` must be woken instead
            with pytest.raises(asyncio.CancelledError):
                await second
            resp = await asyncio.wait_for(third, 5)  # a hang guard, not a timing assertion
            assert await read_all(resp) == b"ok"
            resp.release()
        finally:
            await pool.close()


async def test_row9_a_request_cut_before_its_last_byte_was_written_is_retried_once_on_a_fresh_connection():
    async def mode(conn: Conn) -> None:
        if conn.index == 0:  # the first connection dies while our body is still being written
            await conn.reader.readuntil(b"\r\n\r\n")
            conn.reset()
            return
        await answer_ok(conn)

    body = b"x" * (32 << 20)  # far more than the kernel buffers of a loopback pair
    async with hostile_upstream(mode) as up:
        pool = UpstreamPool()
        try:
            resp = await pool.post(up.url + PATH, {}, body)
            assert resp.status == 200 and await read_all(resp) == b"ok"
            resp.release()
            assert up.connections == 2 and len(up.requests) == 1
        finally:
            await pool.close()


async def test_row9_a_request_cut_after_it_was_fully_written_is_never_retried():
    async def mode(conn: Conn) -> None:
        await conn.read_request()
        conn.reset()

    async with hostile_upstream(mode) as up:
        pool = UpstreamPool()
        try:
            with pytest.raises(Disconnected):
                await pool.post(up.url + PATH, {}, b"{}")
            assert up.connections == 1 and len(up.requests) == 1
        finally:
            await pool.close()
